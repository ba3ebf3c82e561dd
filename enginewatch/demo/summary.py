"""A per-model summary of what InfluxDB holds, as the demo prints it.

The queries read the measurements of the metric contract; turning their
series into rows and rows into a table are plain functions.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from enginewatch.core.influxql import Series

MIB = 1024 * 1024

# name -> InfluxQL; every query is grouped by model (and maybe more tags).
_INPUT = "\"direction\" = 'input'"
_OUTPUT = "\"direction\" = 'output'"
QUERIES = {
    "rps_in": f'SELECT mean("rps") FROM "records" WHERE {_INPUT} GROUP BY "model"',
    "rps_out": f'SELECT mean("rps") FROM "records" WHERE {_OUTPUT} GROUP BY "model"',
    "records_in": f'SELECT sum("count") FROM "records" WHERE {_INPUT} GROUP BY "model"',
    "rejected": 'SELECT sum("count") FROM "rejections" GROUP BY "model", "reason"',
    "state": 'SELECT last("state") FROM "engine_status" GROUP BY "model"',
    "cpu": 'SELECT mean("cpu_utilization") FROM "system" GROUP BY "model"',
    "memory": 'SELECT last("memory") FROM "system" GROUP BY "model"',
}


@dataclass
class ModelSummary:
    model: str
    rps_in: float | None = None
    rps_out: float | None = None
    records_in: float | None = None
    rejected: dict[str, float] = field(default_factory=dict)  # by reason
    state: str | None = None
    cpu: float | None = None
    memory: float | None = None  # bytes


def _value(series: Series) -> Any:
    """The single value of an aggregate series (column 0 is the time)."""
    return series.values[0][1] if series.values and len(series.values[0]) > 1 else None


def summarize(results: Mapping[str, Sequence[Series]]) -> dict[str, ModelSummary]:
    """Rows by model name, from the answers to QUERIES."""
    rows: dict[str, ModelSummary] = {}

    def row(series: Series) -> ModelSummary:
        model = series.tags.get("model", "")
        return rows.setdefault(model, ModelSummary(model))

    for name, answer in results.items():
        for series in answer:
            value = _value(series)
            if value is None:
                continue
            summary = row(series)
            if name == "rejected":
                reason = series.tags.get("reason", "")
                summary.rejected[reason] = summary.rejected.get(reason, 0.0) + float(value)
            elif name == "state":
                summary.state = str(value)
            else:
                setattr(summary, name, float(value))
    return rows


def missing_models(rows: dict[str, ModelSummary], models: Iterable[str]) -> list[str]:
    """The models that have no records, system or state points: data did not flow for them."""
    return sorted(
        model
        for model in set(models)
        if model not in rows
        or rows[model].records_in is None
        or rows[model].cpu is None
        or rows[model].state is None
    )


def format_table(rows: Iterable[ModelSummary]) -> str:
    """A fixed-width table, one line per model, sorted by name."""
    header = (
        "model",
        "in rec/s",
        "out rec/s",
        "records in",
        "rejected schema/encoding",
        "last state",
        "CPU %",
        "memory MiB",
    )
    lines = [header]
    for row in sorted(rows, key=lambda r: r.model):
        lines.append(
            (
                row.model,
                _number(row.rps_in, "{:,.1f}"),
                _number(row.rps_out, "{:,.1f}"),
                _number(row.records_in, "{:,.0f}"),
                f"{row.rejected.get('schema', 0):,.0f} / {row.rejected.get('encoding', 0):,.0f}",
                row.state or "-",
                _number(row.cpu, "{:.1f}"),
                _number(row.memory, "{:,.0f}", lambda v: v / MIB),
            )
        )
    widths = [max(len(line[i]) for line in lines) for i in range(len(header))]
    out = []
    for line in lines:
        cells = [line[0].ljust(widths[0])]
        cells += [cell.rjust(width) for cell, width in zip(line[1:], widths[1:], strict=True)]
        out.append("  ".join(cells).rstrip())
    out.insert(1, "  ".join("-" * width for width in widths))
    return "\n".join(out)


def _number(value: float | None, pattern: str, scale: Callable[[float], float] = float) -> str:
    return "-" if value is None else pattern.format(scale(value))


# A field every point of the measurement has (the `system` measurement has two
# kinds of point, CPU and memory), so counting it counts the points.
ALWAYS_PRESENT = {
    "records": ("count",),
    "record_bytes": ("bytes",),
    "rejections": ("count",),
    "jet_records": ("count",),
    "system": ("cpu_utilization", "memory"),
    "sensor": ("value",),
    "engine_status": ("code",),
    "engine_events": ("ref",),
    "health": ("ok",),
    "engine_logs": ("text",),
    "model_console": ("text",),
    # The simulator's jets always report their memory; a real jet may not.
    "jet_status": ("memory",),
    "model_outputs": ("outputs",),
    "engine_messages": ("count",),
}
COUNT_ALL = "SELECT count(*) FROM /.*/"


def count_points(answer: Sequence[Series]) -> int:
    """Points in the database, from the answer to COUNT_ALL."""
    total = 0
    for series in answer:
        if not series.values:
            continue
        counts = dict(zip(series.columns, series.values[0], strict=False))
        for name in ALWAYS_PRESENT.get(series.name, ()):
            total += int(counts.get(f"count_{name}") or 0)
    return total
