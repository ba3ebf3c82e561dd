"""From line protocol bodies to MLflow metrics: which values, under which keys, in which requests.

Pure functions, no I/O: the MLflow sink (archiver/mlflowsink.py) gets the
same bodies as every sink and turns them into metrics here.

- **Parsing** reads the lines archiver/lineprotocol.py writes, and keeps
  names as InfluxDB keeps them: `\\,`, `\\ ` and `\\=` are unescaped, any
  other backslash stays (so a line break in a name, written as `\\n`, is
  those two characters in InfluxDB and in MLflow alike). String values may
  hold raw line breaks, so lines are found by parsing, never by splitting.
- **Choosing**: a field becomes a metric when its measurement, or
  `measurement.field`, is chosen (ENGINEWATCH_MLFLOW_METRICS) and its value is
  a number (MLflow's metrics are doubles; strings are skipped). Points of
  other measurements, and points without a `model` tag, are skipped: they
  are not errors, only not wanted here.
- **Keys**: `{measurement}.{field}`, then `/{tag} {value}` for each other tag
  sorted by tag key, e.g. `records.rps/direction input/engine 0d6f.../slot 0`
  or `data_drift.psi/field age/monitor credit/stream inputs/window 1m`. The
  `model` tag picks the run, so it is not in the key; neither is a tag whose
  value is `*` (the monitors' stream-wide figures). A character MLflow does
  not take in a key becomes `_`, as do `/` (which separates the tags here)
  and `:` (which MLflow refuses on Windows).
- **Time**: a metric's timestamp is the point's time in milliseconds, and its
  step the point's time in whole seconds, so MLflow's default x-axis (the
  step) plots the series in time order and its "latest value" is the latest
  point's. Both come from the point alone, so writing a point again logs
  the identical metric (key, value, timestamp, step).
- **Requests**: at most 1000 metrics and 1 MB of JSON each, MLflow's limits
  for `runs/log-batch`.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from functools import lru_cache

from enginewatch.core.points import FieldValue, Point

MODEL_TAG = "model"
# A tag with this value stands for every field of a stream (the monitors').
ALL_FIELDS = "*"

# MLflow's limits for one runs/log-batch request (mlflow/utils/validation.py:
# MAX_METRICS_PER_BATCH, MAX_BATCH_LOG_REQUEST_SIZE).
MAX_METRICS_PER_REQUEST = 1000
MAX_REQUEST_BYTES = 1_000_000
# The JSON of a metric beside its key: field names, punctuation, a double and two int64.
_METRIC_OVERHEAD = 100
# The request's envelope: `{"run_id": "...", "metrics": [...]}` with a 32-character id.
_REQUEST_OVERHEAD = 100

NS_PER_MS = 1_000_000
NS_PER_S = 1_000_000_000

# What MLflow allows in a key is `[/\w.\- :]`; `/` and `:` are left out here (above).
_UNSAFE = re.compile(r"[^\w.\- ]")

# Line protocol: a separator is one not preceded by a backslash (InfluxDB's rule).
_SERIES_END = re.compile(r"(?<!\\) ")
_COMMA = re.compile(r"(?<!\\),")
_EQUALS = re.compile(r"(?<!\\)=")
_UNESCAPE = re.compile(r"\\([, =])")
_STRING = re.compile(r'"((?:[^"\\]|\\.)*)"', re.DOTALL)
_STRING_ESCAPE = re.compile(r'\\(["\\])')
_BARE = re.compile(r"[^,\s]+")
_TIME = re.compile(r" (-?\d+)\n")

_CACHE_SIZE = 65536


class LineParseError(ValueError):
    """A body that is not line protocol as the archiver writes it."""


@dataclass(frozen=True, slots=True)
class Metric:
    """One value of one MLflow metric, as runs/log-batch takes it."""

    key: str
    value: float
    timestamp: int  # ms since the epoch
    step: int

    def json(self) -> dict[str, str | float | int]:
        return {
            "key": self.key,
            "value": self.value,
            "timestamp": self.timestamp,
            "step": self.step,
        }


def metrics_by_model(body: bytes, chosen: frozenset[str]) -> dict[str, list[Metric]]:
    """The chosen values of a body as metrics, by model, in the body's order."""
    measurements = chosen_measurements(chosen)
    found: dict[str, list[Metric]] = {}
    for point in parse_points(body.decode("utf-8"), measurements.__contains__):
        model = point.tags.get(MODEL_TAG)
        if not model:
            continue
        metrics = [metric(point, field, value) for field, value in chosen_fields(point, chosen)]
        if metrics:
            found.setdefault(model, []).extend(metrics)
    return found


def chosen_measurements(chosen: frozenset[str]) -> frozenset[str]:
    """Every measurement a chosen name may mean: `a.b.c` is a measurement, or
    field `b.c` of `a`, or field `c` of `a.b`."""
    names = set(chosen)
    for name in chosen:
        names.update(name[:index] for index, char in enumerate(name) if char == ".")
    return frozenset(names)


def chosen_fields(point: Point, chosen: frozenset[str]) -> Iterator[tuple[str, float | int]]:
    """The point's numeric fields that are chosen, whole measurement or by name."""
    whole = point.measurement in chosen
    for field, value in point.fields.items():
        if isinstance(value, str):
            continue  # MLflow's metrics are numbers
        if whole or f"{point.measurement}.{field}" in chosen:
            yield field, value


def metric(point: Point, field: str, value: float | int) -> Metric:
    return Metric(
        metric_key(point.measurement, field, point.tags),
        float(value),
        point.time // NS_PER_MS,
        point.time // NS_PER_S,
    )


def metric_key(measurement: str, field: str, tags: Mapping[str, str]) -> str:
    """`{measurement}.{field}` and the distinguishing tags (the module's docstring)."""
    return f"{_safe(measurement)}.{_safe(field)}{_tags_part(tuple(sorted(tags.items())))}"


@lru_cache(maxsize=_CACHE_SIZE)
def _tags_part(tags: tuple[tuple[str, str], ...]) -> str:
    # Every metric of a series shares this part: made once per series.
    return "".join(
        f"/{_safe(name)} {_safe(value)}"
        for name, value in tags
        if name != MODEL_TAG and value and value != ALL_FIELDS
    )


@lru_cache(maxsize=_CACHE_SIZE)
def _safe(name: str) -> str:
    return _UNSAFE.sub("_", name)


def batches(
    metrics: Sequence[Metric],
    max_count: int = MAX_METRICS_PER_REQUEST,
    max_bytes: int = MAX_REQUEST_BYTES,
) -> list[Sequence[Metric]]:
    """The metrics in order, cut into requests within MLflow's limits (an
    upper bound of each metric's JSON size, so a request never exceeds them)."""
    requests: list[Sequence[Metric]] = []
    start, size = 0, _REQUEST_OVERHEAD
    for index, item in enumerate(metrics):
        item_size = len(item.key.encode("utf-8")) + _METRIC_OVERHEAD
        if index > start and (index - start >= max_count or size + item_size > max_bytes):
            requests.append(metrics[start:index])
            start, size = index, _REQUEST_OVERHEAD
        size += item_size
    if start < len(metrics):
        requests.append(metrics[start:])
    return requests


def parse_points(text: str, wanted: Callable[[str], bool] = lambda _: True) -> Iterator[Point]:
    """The points of newline-terminated line protocol whose measurement is wanted.

    Lines of other measurements are passed over without reading their tags,
    and without reading their fields unless a string value may hold a line break.
    """
    position, end = 0, len(text)
    while position < end:
        space = _SERIES_END.search(text, position)
        series = text[position : space.start()] if space is not None else ""
        if space is None or not series or "\n" in series:
            raise LineParseError(f"not a line of line protocol: {_excerpt(text, position)}")
        parts = _COMMA.split(series)
        measurement = _unescape(parts[0])
        position = space.end()
        if not wanted(measurement):
            line_end = text.find("\n", position)
            if line_end >= 0 and '"' not in text[position:line_end]:
                position = line_end + 1
                continue
        fields, position = _fields(text, position)
        time, position = _time(text, position)
        if wanted(measurement):
            yield Point(measurement, _tags(parts[1:]), fields, time)


def _tags(pairs: list[str]) -> dict[str, str]:
    tags = {}
    for pair in pairs:
        key_value = _EQUALS.split(pair, maxsplit=1)
        if len(key_value) != 2:
            raise LineParseError(f"a tag without a value: {pair[:80]!r}")
        tags[_unescape(key_value[0])] = _unescape(key_value[1])
    return tags


def _fields(text: str, position: int) -> tuple[dict[str, FieldValue], int]:
    fields: dict[str, FieldValue] = {}
    while True:
        equals = _EQUALS.search(text, position)
        key = text[position : equals.start()] if equals is not None else ""
        if equals is None or not key or "\n" in key:
            raise LineParseError(f"a field without a key: {_excerpt(text, position)}")
        position = equals.end()
        value: FieldValue
        if text.startswith('"', position):
            match = _STRING.match(text, position)
            if match is None:
                raise LineParseError(f"an unterminated string: {_excerpt(text, position)}")
            value = _STRING_ESCAPE.sub(r"\1", match[1])
        else:
            match = _BARE.match(text, position)
            if match is None:
                raise LineParseError(f"a field without a value: {_excerpt(text, position)}")
            value = _number(match[0])
        fields[_unescape(key)] = value
        position = match.end()
        if not text.startswith(",", position):
            return fields, position
        position += 1


def _time(text: str, position: int) -> tuple[int, int]:
    match = _TIME.match(text, position)
    if match is None:
        raise LineParseError(f"a line without its timestamp: {_excerpt(text, position)}")
    return int(match[1]), match.end()


def _number(token: str) -> float | int:
    try:
        if token.endswith(("i", "u")):
            return int(token[:-1])
        number = float(token)
    except ValueError:
        number = math.nan
    if not math.isfinite(number):  # the archiver writes neither NaN nor infinities
        raise LineParseError(f"not a number the archiver writes: {token[:40]!r}")
    return number


def _unescape(name: str) -> str:
    return _UNESCAPE.sub(r"\1", name) if "\\" in name else name


def _excerpt(text: str, position: int) -> str:
    return repr(text[position : position + 80])
