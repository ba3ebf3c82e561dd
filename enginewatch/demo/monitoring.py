"""The demo's model monitoring: the monitors file it runs, the windows it waits
for, and the drift and quality figures read back from InfluxDB, as plain
functions over the queries' answers.

One model of the simulated fleet (the one whose engine falls into error, so
both its dashboards tell one story) also has its own streams
(enginewatch.tools.model_streams): its inputs, which shift halfway through
the run, its predictions and the truth. The monitor profiles the inputs,
checks them for drift against a training sample (`reference.jsonl`, written
beside the monitors file) and joins the predictions with the truth by id.

Drift is decided by PSI over ten buckets cut at the reference's deciles for
every field, with a threshold of 0.2 instead of Evidently's 0.1: a window of
the demo holds about 250 records, whose PSI against an unchanged input is
about 0.04 give or take 0.02, so 0.1 would now and then call noise drift; the
shifted fields' PSI is above 1. Windows are a sixth of the run (10 s for a
minute, at least 2 s), with about 250 input records each.
"""

from __future__ import annotations

import re
import statistics
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime

from enginewatch.core.influxql import Series
from enginewatch.tools.model_streams import (
    ID_FIELD,
    PREDICTION_FIELD,
    TIME_FIELD,
    TRUTH_FIELD,
    StreamRecord,
)

RECORDS_PER_WINDOW = 250
LATENESS_S = 1
LABEL_DELAY_S = 5  # the streams' truths come at most 3.05 s after their input
THRESHOLD = 5.0  # thousands: a credit limit off by more is counted
PSI_THRESHOLD = 0.2
REFERENCE_RECORDS = 2000
REFERENCE_FILE = "reference.jsonl"
INCOME_BUCKETS = (20, 30, 40, 50, 60, 70, 80, 100, 120, 150)

MONITORS_TEMPLATE = """\
# The monitor `enginewatch demo` runs (enginewatch/demo/monitoring.py): the input
# stream of {model} profiled and checked for drift against its training sample,
# its predictions joined with the truth by record id.
monitors:
  - name: {name}
    model: {model_yaml}
    window: {window}s
    lateness: {lateness}s
    time: {time}
    streams:
      - topic: {prefix}-inputs
        name: input
        fields:
          income: {{type: numeric, buckets: [{buckets}]}}
          debt_ratio: numeric
          age: numeric
          region: categorical
    drift:
      reference: {{file: {reference}}}
      numeric: psi          # PSI for every field, so one threshold reads them all
      categorical: psi
      thresholds: {{psi: {psi}}}  # above the demo's noise, far below its shift
    quality:
      prediction: {{topic: {prefix}-predictions, field: {prediction}, id: {id}}}
      truth: {{topic: {prefix}-truths, field: {truth}, id: {id}}}
      task: regression
      label_delay: {label_delay}s
      threshold: {threshold:g}
"""


def window_seconds(duration: float) -> int:
    """A sixth of the run, whole seconds, at least 2."""
    return max(2, int(duration // 6))


def streams_rate(window: int) -> float:
    """Input records per second for about RECORDS_PER_WINDOW a window."""
    return RECORDS_PER_WINDOW / window


def monitor_name(model: str) -> str:
    """A monitor's name from a model's: letters, digits, . _ - only."""
    return re.sub(r"[^A-Za-z0-9._-]+", "-", model).strip("-") + "-monitor"


def monitors_file(model: str, prefix: str, window: int) -> str:
    """The monitors file's text for the model's streams on PREFIX-inputs, ..."""
    return MONITORS_TEMPLATE.format(
        model=model,
        # JSON strings are YAML strings: any model name, quoted.
        model_yaml='"' + model.replace("\\", "\\\\").replace('"', '\\"') + '"',
        name=monitor_name(model),
        window=window,
        lateness=LATENESS_S,
        time=TIME_FIELD,
        prefix=prefix,
        buckets=", ".join(str(edge) for edge in INCOME_BUCKETS),
        reference=REFERENCE_FILE,
        psi=PSI_THRESHOLD,
        prediction=PREDICTION_FIELD,
        truth=TRUTH_FIELD,
        id=ID_FIELD,
        label_delay=LABEL_DELAY_S,
        threshold=THRESHOLD,
    )


@dataclass(frozen=True)
class Expected:
    """The windows (start, epoch ms) whose points the monitor must have written
    once every record is in: those its clocks passed by their grace."""

    profiles: frozenset[int]
    quality: frozenset[int]


def expected_windows(records: Iterable[StreamRecord], window: int) -> Expected:
    """A window closes when its clock (the latest record time of its stream, or of
    the predictions for the join: a lower bound of the join's clock) passed its end
    by the lateness (and the label delay)."""
    step = window * 1000
    last: dict[str, int] = {}
    starts: dict[str, set[int]] = {"inputs": set(), "predictions": set()}
    for record in records:
        ms = record.time_us // 1000
        last[record.role] = max(last.get(record.role, ms), ms)
        if record.role in starts:
            starts[record.role].add(ms - ms % step)

    def closed(role: str, grace_s: int) -> frozenset[int]:
        clock = last.get(role)
        if clock is None:
            return frozenset()
        return frozenset(s for s in starts[role] if s + step + grace_s * 1000 <= clock)

    return Expected(closed("inputs", LATENESS_S), closed("predictions", LATENESS_S + LABEL_DELAY_S))


# name -> InfluxQL (`{model}` is the monitored model, quoted by `queries`).
_QUERIES = {
    "records": 'SELECT "records" FROM "data_profile" WHERE "model" = {model} AND "field" = \'*\'',
    "stream": (
        'SELECT "drift_share", "drifted" FROM "data_drift" '
        'WHERE "model" = {model} AND "field" = \'*\''
    ),
    "fields": (
        'SELECT "drifted", "statistic" FROM "data_drift" '
        'WHERE "model" = {model} AND "field" != \'*\' GROUP BY "field"'
    ),
    "quality": (
        'SELECT "mae", "rmse", "coverage", "above_threshold", "matched", "unmatched" '
        'FROM "model_quality" WHERE "model" = {model}'
    ),
}


def queries(model: str) -> dict[str, str]:
    quoted = "'" + model.replace("\\", "\\\\").replace("'", "\\'") + "'"
    return {name: text.format(model=quoted) for name, text in _QUERIES.items()}


@dataclass
class Window:
    """One window's figures (None: not in InfluxDB)."""

    start_ms: int
    records: int | None = None
    drift_share: float | None = None
    drifted: bool | None = None
    drifted_fields: list[str] = field(default_factory=list)
    mae: float | None = None
    rmse: float | None = None
    coverage: float | None = None
    above_threshold: int | None = None


def _columns(series: Series) -> list[dict[str, object]]:
    return [dict(zip(series.columns, row, strict=True)) for row in series.values]


def windows(results: Mapping[str, Sequence[Series]]) -> list[Window]:
    """The answers to `queries` as windows, in time order."""
    found: dict[int, Window] = {}

    def at(row: Mapping[str, object]) -> Window:
        start = int(str(row["time"]))
        return found.setdefault(start, Window(start))

    for series in results.get("records", ()):
        for row in _columns(series):
            at(row).records = _int(row.get("records"))
    for series in results.get("stream", ()):
        for row in _columns(series):
            one = at(row)
            one.drift_share = _float(row.get("drift_share"))
            drifted = _int(row.get("drifted"))
            one.drifted = None if drifted is None else drifted == 1
    for series in results.get("fields", ()):
        name = series.tags.get("field", "")
        for row in _columns(series):
            if _int(row.get("drifted")) == 1:
                at(row).drifted_fields.append(name)
    for series in results.get("quality", ()):
        for row in _columns(series):
            one = at(row)
            one.mae, one.rmse = _float(row.get("mae")), _float(row.get("rmse"))
            one.coverage = _float(row.get("coverage"))
            one.above_threshold = _int(row.get("above_threshold"))
    for one in found.values():
        one.drifted_fields.sort()
    return [found[start] for start in sorted(found)]


def _float(value: object) -> float | None:
    return None if value is None else float(str(value))


def _int(value: object) -> int | None:
    return None if value is None else int(float(str(value)))


def format_windows(found: Sequence[Window], start_ms: int) -> str:
    """A fixed-width table, one line per window."""
    header = ("window", "records", "drift share", "drifted fields", "MAE", "RMSE", "coverage",
              f"|error| > {THRESHOLD:g}")  # fmt: skip
    lines = [header]
    for one in found:
        moment = datetime.fromtimestamp(one.start_ms / 1000, UTC)
        lines.append(
            (
                f"{moment:%H:%M:%S} (+{(one.start_ms - start_ms) / 1000:.0f} s)",
                _text(one.records, "{:,}"),
                _text(one.drift_share, "{:.2f}") + (" DRIFT" if one.drifted else ""),
                ", ".join(one.drifted_fields) or "-",
                _text(one.mae, "{:.2f}"),
                _text(one.rmse, "{:.2f}"),
                _text(None if one.coverage is None else one.coverage * 100, "{:.1f} %"),
                _text(one.above_threshold, "{:,}"),
            )
        )
    widths = [max(len(line[i]) for line in lines) for i in range(len(header))]
    left = {0, 3}  # the window and the fields' names read left to right
    out = []
    for line in lines:
        cells = [
            cell.ljust(width) if i in left else cell.rjust(width)
            for i, (cell, width) in enumerate(zip(line, widths, strict=True))
        ]
        out.append("  ".join(cells).rstrip())
    out.insert(1, "  ".join("-" * w for w in widths))
    return "\n".join(out)


def _text(value: float | int | None, pattern: str) -> str:
    return "-" if value is None else pattern.format(value)


@dataclass(frozen=True)
class Verdict:
    lines: list[str]
    ok: bool


def verdict(
    found: Sequence[Window], expected: Expected, start_ms: int, shift_ms: int, window: int
) -> Verdict:
    """What the figures say about the shift, and whether they say what they must:
    every expected window there, no drift before the shift, drift after it, and
    predictions that err more after it than before."""
    step = window * 1000
    by_start = {w.start_ms: w for w in found}
    problems = []
    missing_profiles = sorted(
        s for s in expected.profiles if by_start.get(s, Window(s)).records is None
    )
    missing_quality = sorted(s for s in expected.quality if by_start.get(s, Window(s)).mae is None)
    if missing_profiles or missing_quality:
        problems.append(
            f"windows not in InfluxDB: {len(missing_profiles)} profile(s), "
            f"{len(missing_quality)} quality figure(s)"
        )
    before = [w for w in found if w.start_ms + step <= shift_ms]
    after = [w for w in found if w.start_ms >= shift_ms]
    noisy = [w for w in before if w.drifted]
    if noisy:
        problems.append(f"drift in {len(noisy)} window(s) before the shift")
    drifted = [w for w in after if w.drifted]
    if not drifted:
        problems.append("no drift after the shift")
    mae_before = [w.mae for w in before if w.mae is not None]
    mae_after = [w.mae for w in after if w.mae is not None]
    lines = []
    if drifted:
        fields = sorted({f for w in drifted for f in w.drifted_fields})
        shares = [w.drift_share for w in drifted if w.drift_share is not None]
        lines.append(
            f"drift: the input shifted at +{(shift_ms - start_ms) / 1000:.1f} s; "
            f"{len(drifted)} of the {len(after)} windows after it drifted "
            f"({', '.join(fields)}; drift share up to {max(shares, default=0):.2f}), "
            f"{len(noisy)} of the {len(before)} before it"
        )
    if mae_before and mae_after:
        worse = statistics.fmean(mae_after) > statistics.fmean(mae_before)
        lines.append(
            f"prediction quality: MAE {statistics.fmean(mae_before):.2f} before the shift, "
            f"{statistics.fmean(mae_after):.2f} after"
        )
        if not worse:
            problems.append("the predictions did not err more after the shift")
    else:
        problems.append("no MAE on both sides of the shift")
    coverage = [w.coverage for w in found if w.coverage is not None]
    if coverage:
        lines.append(
            f"label coverage {statistics.fmean(coverage) * 100:.1f} % (some truths never come)"
        )
    lines += [f"NOT AS EXPECTED: {p}" for p in problems]
    return Verdict(lines, not problems)
