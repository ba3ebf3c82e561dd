"""Engine notifications: bytes -> typed, validated messages, or a precise reason why not.

The six message types of the metric contract (../shared/spec/metrics.md) and
four more an engine's bus carries (jet status, output reports, rejected-data
reports, end of input: README.md, "Metric reference"). A well-formed message
of any other type is an `OtherMessage`; ENGINEWATCH_UNKNOWN_TYPES says what
becomes of it. Unknown extra fields are ignored.

Every check that needs only the message itself is made here, a sensor
report's data included (reduced to the one number its tap means): `derive` is
left only the failures the carried amounts cause, a rate or carried amount
that overflows. So the route hop, which only parses, rejects exactly what
`derive` would reject with nothing carried.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import orjson

from agents.taps import Kind, Tap, classify
from agents.timestamps import TimestampError, to_nanoseconds
from enginewatch.core.points import tag_value_problem

Scalar = str | int | float | bool | None


class InvalidMessage(ValueError):
    """The input is not a valid engine message; str(exc) is the reason."""


@dataclass(frozen=True, slots=True)
class SensorReport:
    src: str
    time: int
    tap: str
    meaning: Tap  # what the tap name stands for
    # The data as one number: a count tap's amount, a rejection tap's count, a
    # gauge's value; None for a gauge's empty list, which yields no point.
    value: float | None
    delta_time: float | None
    id: int | None


@dataclass(frozen=True, slots=True)
class EngineState:
    src: str
    time: int
    state: str


@dataclass(frozen=True, slots=True)
class EngineConfig:
    src: str
    time: int
    item: str
    op: str
    ref: Scalar


@dataclass(frozen=True, slots=True)
class Health:
    src: str
    time: int
    instance: str
    health: str


@dataclass(frozen=True, slots=True)
class Log:
    src: str
    time: int
    level: int
    text: str


@dataclass(frozen=True, slots=True)
class ModelConsole:
    src: str
    time: int
    text: str


@dataclass(frozen=True, slots=True)
class Jet:
    """One model runner of a jet-status report; a field the report lacks is None."""

    name: str  # the `jet` tag: its pid, else its index in the report
    memory: float | None
    total_consumed: float | None
    total_produced: float | None
    run_time: float | None
    busy: bool | None


@dataclass(frozen=True, slots=True)
class JetStatusReport:
    src: str
    time: int
    jets: tuple[Jet, ...]


@dataclass(frozen=True, slots=True)
class OutputReport:
    src: str
    time: int
    model: str | None  # the model that produced them, as the engine names it
    outputs: int
    skipped: float


@dataclass(frozen=True, slots=True)
class RejectedDataReport:
    src: str
    time: int
    reason: str
    slot: str | None
    direction: str | None
    count: float


@dataclass(frozen=True, slots=True)
class OutputEof:
    src: str
    time: int
    last: bool | None


@dataclass(frozen=True, slots=True)
class OtherMessage:
    """A well-formed message (`type`, `src`, `timestamp`) of a type the contract does
    not name; `counted` says whether ENGINEWATCH_UNKNOWN_TYPES counts it."""

    src: str
    time: int
    type: str
    counted: bool = True


Message = (
    SensorReport
    | EngineState
    | EngineConfig
    | Health
    | Log
    | ModelConsole
    | JetStatusReport
    | OutputReport
    | RejectedDataReport
    | OutputEof
    | OtherMessage
)


def parse(raw: bytes | None) -> Message:
    """Decode and validate one message value."""
    if raw is None:
        raise InvalidMessage("empty message value (null)")
    try:
        obj = orjson.loads(raw)
    except orjson.JSONDecodeError as exc:
        if _is_utf8(raw):
            raise InvalidMessage(f"not JSON: {exc}") from None
        raise InvalidMessage("not UTF-8 text") from None
    return parse_object(obj)


def parse_object(obj: Any) -> Message:
    """Validate a decoded JSON value as an engine message."""
    if not isinstance(obj, dict):
        raise InvalidMessage(f"not a JSON object but {json_type(obj)}")
    kind = obj.get("type")
    if kind is None:
        raise InvalidMessage("missing field 'type'")
    if not isinstance(kind, str):
        raise InvalidMessage(f"unknown message type {kind!r}")
    builder = _BUILDERS.get(kind)
    src = _tag_string(obj, "src")
    time = _timestamp(obj)
    if builder is None:
        problem = tag_value_problem(kind)
        if problem is not None:
            raise InvalidMessage(f"unknown message type {kind!r} {problem}")
        return OtherMessage(src, time, kind)
    return builder(obj, src, time)


def _sensor_report(obj: dict[str, Any], src: str, time: int) -> SensorReport:
    tap = _tag_string(obj, "tap")
    if "data" not in obj:
        raise InvalidMessage("missing field 'data'")
    delta_time = _optional_number(obj, "delta_time")
    if delta_time is not None and delta_time < 0:
        raise InvalidMessage(f"field 'delta_time' must be >= 0, got {delta_time!r}")
    report_id = obj.get("id")
    if report_id is not None and (not isinstance(report_id, int) or isinstance(report_id, bool)):
        raise InvalidMessage(f"field 'id' must be an integer, got {json_type(report_id)}")
    meaning = classify(tap)
    value = _reading(meaning, obj["data"], tap, delta_time)
    return SensorReport(src, time, tap, meaning, value, delta_time, report_id)


def _reading(meaning: Tap, data: Any, tap: str, delta_time: float | None) -> float | None:
    """A sensor report's data as the one number its tap's kind means."""
    if meaning.kind is Kind.GAUGE:
        return _gauge_value(data, tap)
    if meaning.kind is Kind.REJECTION:
        return _rejection_count(data, tap)
    amount = _amount(data, tap)
    # The report's own rate: when it overflows, so does any rate with carried amounts added.
    if delta_time and not math.isfinite(amount / delta_time):
        raise InvalidMessage(f"tap {tap!r} rate is not a finite number")
    return amount


def _number(value: Any, tap: str) -> float:
    if not isinstance(value, int | float) or isinstance(value, bool):
        raise InvalidMessage(f"tap {tap!r} needs numeric data, got {json_type(value)}")
    number = float(value)
    if not math.isfinite(number):
        raise InvalidMessage(f"tap {tap!r} data is not a finite number")
    return number


def _amount(data: Any, tap: str) -> float:
    """A count tap's amount: a number, or the sum of a list of numbers; never negative."""
    items = data if isinstance(data, list) else [data]
    total = 0.0
    for item in items:
        number = _number(item, tap)
        if number < 0:
            raise InvalidMessage(f"tap {tap!r} amount is negative: {number!r}")
        total += number
    if not math.isfinite(total):
        raise InvalidMessage(f"tap {tap!r} amount is not a finite number")
    return total


def _rejection_count(data: Any, tap: str) -> float:
    """A rejection tap's count: a number, or the length of the list of rejected records."""
    if isinstance(data, list):
        return float(len(data))
    number = _number(data, tap)
    if number < 0:
        raise InvalidMessage(f"tap {tap!r} count is negative: {number!r}")
    return number


def _gauge_value(data: Any, tap: str) -> float | None:
    """A gauge's value: a number, or the mean of a list of numbers (None when empty)."""
    if not isinstance(data, list):
        return _number(data, tap)
    if not data:
        return None
    count = len(data)
    values = [_number(item, tap) for item in data]
    # Divide first: the sum of large values can overflow where their mean does not.
    try:
        mean = math.fsum(value / count for value in values)
    except OverflowError:
        # fsum's partial sums passed the largest float; scaled by a power of two
        # (exact) they do not, and the mean itself may still be finite.
        mean = math.fsum(value / count / 1024 for value in values) * 1024
    if not math.isfinite(mean):
        raise InvalidMessage(f"tap {tap!r} mean is not a finite number")
    return mean


def _engine_state(obj: dict[str, Any], src: str, time: int) -> EngineState:
    return EngineState(src, time, _string(obj, "state"))


def _engine_config(obj: dict[str, Any], src: str, time: int) -> EngineConfig:
    ref = obj.get("ref")
    if isinstance(ref, list | dict):
        raise InvalidMessage(f"field 'ref' must be a scalar, got {json_type(ref)}")
    if isinstance(ref, float) and not math.isfinite(ref):
        raise InvalidMessage("field 'ref' is not a finite number")
    return EngineConfig(src, time, _tag_string(obj, "item"), _tag_string(obj, "op"), ref)


def _health(obj: dict[str, Any], src: str, time: int) -> Health:
    return Health(src, time, _tag_string(obj, "instance"), _string(obj, "health"))


def _log(obj: dict[str, Any], src: str, time: int) -> Log:
    level = obj.get("level")
    if "level" not in obj:
        raise InvalidMessage("missing field 'level'")
    if not isinstance(level, int) or isinstance(level, bool):
        raise InvalidMessage(f"field 'level' must be an integer, got {json_type(level)}")
    return Log(src, time, level, _string(obj, "text"))


def _model_console(obj: dict[str, Any], src: str, time: int) -> ModelConsole:
    return ModelConsole(src, time, _string(obj, "text"))


def _jet_status_report(obj: dict[str, Any], src: str, time: int) -> JetStatusReport:
    jets = _list(obj, "jets")
    return JetStatusReport(src, time, tuple(_jet(item, index) for index, item in enumerate(jets)))


def _jet(item: Any, index: int) -> Jet:
    where = f"jets[{index}]"
    if not isinstance(item, dict):
        raise InvalidMessage(f"field {where!r} must be an object, got {json_type(item)}")
    pid = item.get("pid")
    if pid is not None and (not isinstance(pid, int) or isinstance(pid, bool) or pid < 0):
        raise InvalidMessage(f"field '{where}.pid' must be a non-negative integer, got {pid!r}")
    busy = item.get("busy")
    if busy is not None and not isinstance(busy, bool):
        raise InvalidMessage(f"field '{where}.busy' must be a boolean, got {json_type(busy)}")
    memory, consumed, produced, run_time = (_amount_field(item, n, where) for n in JET_AMOUNTS)
    name = str(index) if pid is None else str(pid)
    return Jet(name, memory, consumed, produced, run_time, busy)


# What a jet reports, in bytes, records, records and seconds (sources: the
# engine API's job status, `jets[]`); `sandbox` names its container, ignored.
JET_AMOUNTS = ("memory", "total_consumed", "total_produced", "run_time")


def _output_report(obj: dict[str, Any], src: str, time: int) -> OutputReport:
    model = obj.get("model")
    if model is not None and not isinstance(model, str):
        raise InvalidMessage(f"field 'model' must be a string, got {json_type(model)}")
    outputs = _list(obj, "outputs") if "outputs" in obj else []
    skipped = _amount_field(obj, "skipped", None)
    return OutputReport(src, time, model or None, len(outputs), skipped or 0.0)


def _rejected_data_report(obj: dict[str, Any], src: str, time: int) -> RejectedDataReport:
    reason = _tag_string(obj, "reason") if obj.get("reason") is not None else "reported"
    slot = obj.get("slot")
    if slot is not None and (not isinstance(slot, int) or isinstance(slot, bool) or slot < 0):
        raise InvalidMessage(f"field 'slot' must be a non-negative integer, got {slot!r}")
    direction = obj.get("direction")
    if direction is not None and direction not in ("input", "output"):
        raise InvalidMessage(f"field 'direction' must be 'input' or 'output', got {direction!r}")
    if direction is None and slot is not None:
        direction = "input" if slot % 2 == 0 else "output"  # as the manifold's slots
    count = _amount_field(obj, "count", None)
    if count is None:
        records = next((obj[name] for name in ("records", "data") if name in obj), None)
        count = float(len(records)) if isinstance(records, list) else 1.0
    slot_tag = None if slot is None else str(slot)
    return RejectedDataReport(src, time, reason, slot_tag, direction, count)


def _output_eof(obj: dict[str, Any], src: str, time: int) -> OutputEof:
    last = obj.get("last")
    if last is not None and not isinstance(last, bool):
        raise InvalidMessage(f"field 'last' must be a boolean, got {json_type(last)}")
    return OutputEof(src, time, last)


def _list(obj: dict[str, Any], name: str) -> list[Any]:
    if name not in obj:
        raise InvalidMessage(f"missing field {name!r}")
    value = obj[name]
    if not isinstance(value, list):
        raise InvalidMessage(f"field {name!r} must be an array, got {json_type(value)}")
    return value


def _amount_field(obj: dict[str, Any], name: str, within: str | None) -> float | None:
    """An optional non-negative, finite number (None when absent or null)."""
    where = name if within is None else f"{within}.{name}"
    value = obj.get(name)
    if value is None:
        return None
    if not isinstance(value, int | float) or isinstance(value, bool):
        raise InvalidMessage(f"field {where!r} must be a number, got {json_type(value)}")
    number = float(value)
    if not math.isfinite(number):
        raise InvalidMessage(f"field {where!r} is not a finite number")
    if number < 0:
        raise InvalidMessage(f"field {where!r} must be >= 0, got {number!r}")
    return number


_BUILDERS: dict[str, Callable[[dict[str, Any], str, int], Message]] = {
    "sensor-report": _sensor_report,
    "engine-state": _engine_state,
    "engine-config": _engine_config,
    "health": _health,
    "log": _log,
    "model-console": _model_console,
    "jet-status-report": _jet_status_report,
    "output-report": _output_report,
    "rejected-data-report": _rejected_data_report,
    "output-eof": _output_eof,
}


def _string(obj: dict[str, Any], name: str) -> str:
    if name not in obj:
        raise InvalidMessage(f"missing field {name!r}")
    value = obj[name]
    if not isinstance(value, str):
        raise InvalidMessage(f"field {name!r} must be a string, got {json_type(value)}")
    return value


def _tag_string(obj: dict[str, Any], name: str) -> str:
    """A string that becomes a tag value, so one line protocol can carry."""
    value = _string(obj, name)
    problem = tag_value_problem(value)
    if problem is not None:
        raise InvalidMessage(f"field {name!r} {problem}: it becomes an InfluxDB tag value")
    return value


def _timestamp(obj: dict[str, Any]) -> int:
    try:
        return to_nanoseconds(_string(obj, "timestamp"))
    except TimestampError as exc:
        raise InvalidMessage(f"field 'timestamp': {exc}") from None


def _optional_number(obj: dict[str, Any], name: str) -> float | None:
    value = obj.get(name)
    if value is None:
        return None
    if not isinstance(value, int | float) or isinstance(value, bool):
        raise InvalidMessage(f"field {name!r} must be a number, got {json_type(value)}")
    if not math.isfinite(value):
        raise InvalidMessage(f"field {name!r} is not a finite number")
    return float(value)


def _is_utf8(raw: bytes) -> bool:
    try:
        raw.decode("utf-8")
    except UnicodeDecodeError:
        return False
    return True


def json_type(value: Any) -> str:
    """How an error message names a JSON value's type."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, int | float):
        return "a number"
    if isinstance(value, str):
        return "a string"
    if isinstance(value, list):
        return "an array"
    return "an object"
