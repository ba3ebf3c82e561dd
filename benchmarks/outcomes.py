"""What became of the input, counted in the points a pipeline stored: pure.

Each pipeline's points are read back from InfluxDB (benchmarks/readback.py)
and judged by the same rules: how many carry a rate, how many a model name,
whether a sensor report's list ended up as the amount the metric contract
gives it (README.md: a count tap's list summed, a rejection tap's counted, a
gauge's averaged) or as its last element only, and how many points came from
the invalid lines. Where a pipeline writes a report's amount differs
(enginewatch's contract against Telegraf's copy of the input), a `Layout`
says where to look.
"""

from __future__ import annotations

import math
import re
from collections import defaultdict
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from typing import Any

import orjson

from agents.messages import InvalidMessage, SensorReport, parse
from agents.taps import Kind, Tap
from benchmarks.invalid import INVALID_ENGINE

# enginewatch's rate fields: `rps`, `consumed_rps`, `bytes_per_second`, ...
RATE_FIELD = re.compile(r"(^|_)rps$|_per_second$")
NOT_A_MODEL = {"", "unknown"}

Row = dict[str, Any]


@dataclass(frozen=True)
class ListReport:
    """A valid sensor report whose data is a list, and the amount the contract makes of it."""

    src: str
    tap: str
    meaning: Tap  # the tap's measurement, tags and field in the contract
    time: int  # ns
    amount: float
    last: float | int | None  # its last element, when that is a number


@dataclass(frozen=True)
class Layout:
    """Where a pipeline stores a sensor report's amount: the tag that names the engine,
    and for a given report the measurement, its other tags and the field."""

    engine_tag: str
    locate: Callable[[ListReport], tuple[str, dict[str, str], str]]


# enginewatch: the contract's measurement, tags and field for the tap.
ENGINEWATCH = Layout(
    "engine", lambda r: (r.meaning.measurement, dict(r.meaning.tags), r.meaning.field)
)
# Telegraf (benchmarks/telegraf.conf): the input's own names; a rejection list's
# count is its length, which that configuration stores as `data_length`.
TELEGRAF = Layout(
    "src",
    lambda r: (
        "sensor-report",
        {"tap": r.tap},
        "data_length" if r.meaning.kind is Kind.REJECTION else "data",
    ),
)


@dataclass(frozen=True)
class ListOutcomes:
    amount: int  # stored as the contract's amount
    last_element: int  # stored as the list's last element, which is not the amount
    other: int  # not stored, or as something else


def sensor_lists(values: Iterable[bytes]) -> list[ListReport]:
    """The valid sensor reports with list data that have an amount (a gauge's empty list has
    none: the agents write no point for it), as the agents' own parser reads them."""
    found = []
    for value in values:
        try:
            message = parse(value)
        except InvalidMessage:
            continue
        if not isinstance(message, SensorReport) or message.value is None:
            continue
        data = orjson.loads(value)["data"]
        if not isinstance(data, list):
            continue
        last = data[-1] if data else None
        if not isinstance(last, int | float) or isinstance(last, bool):
            last = None
        found.append(
            ListReport(message.src, message.tap, message.meaning, message.time, message.value, last)
        )
    return found


def list_outcomes(
    reports: Sequence[ListReport], rows: Sequence[Row], layout: Layout
) -> ListOutcomes:
    """For each list report, what the pipeline stored where its amount belongs."""
    by_key: dict[tuple[str, str, int], list[Row]] = defaultdict(list)
    for row in rows:
        key = (row["_measurement"], str(row.get(layout.engine_tag)), int(row["time"]))
        by_key[key].append(row)
    amount = last = other = 0
    for report in reports:
        measurement, tags, field = layout.locate(report)
        value = _stored(by_key[(measurement, report.src, report.time)], tags, field)
        if value is not None and _same(value, report.amount):
            amount += 1
        elif value is not None and report.last is not None and _same(value, report.last):
            last += 1
        else:
            other += 1
    return ListOutcomes(amount, last, other)


def rate_points(rows: Iterable[Row]) -> int:
    """Points with a rate field that has a value."""
    return sum(
        1 for row in rows if any(RATE_FIELD.search(k) and v is not None for k, v in row.items())
    )


def model_points(rows: Iterable[Row]) -> int:
    """Points that name a model (a `model` tag or field other than `unknown`)."""
    return sum(1 for row in rows if str(row.get("model") or "") not in NOT_A_MODEL)


def invalid_points(rows: Iterable[Row], engine_tag: str) -> int:
    """Points stored from the invalid lines (their engine is benchmarks.invalid's own)."""
    return sum(1 for row in rows if row.get(engine_tag) == INVALID_ENGINE)


def _stored(candidates: list[Row], tags: dict[str, str], field: str) -> float | None:
    for row in candidates:
        if all(str(row.get(k)) == v for k, v in tags.items()):
            value = row.get(field)
            if isinstance(value, int | float) and not isinstance(value, bool):
                return float(value)
            return None
    return None


def _same(stored: float, expected: float) -> bool:
    return math.isclose(stored, expected, rel_tol=1e-9, abs_tol=1e-9)
