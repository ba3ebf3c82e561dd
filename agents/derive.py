"""Valid messages -> metric points, exactly as the metric contract says.

Pure functions: the only state, the amounts carried forward by reports without
a usable delta_time, comes in as a mapping and goes out as a new one. `parse`
has checked all a message holds, so the only failures left are those the
carried amounts cause: a rate or carried amount that overflows.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import orjson

from agents.messages import (
    EngineConfig,
    EngineState,
    Health,
    InvalidMessage,
    JetStatusReport,
    Log,
    Message,
    ModelConsole,
    OtherMessage,
    OutputEof,
    OutputReport,
    RejectedDataReport,
    SensorReport,
)
from agents.taps import Kind, Tap
from enginewatch.core.points import FieldValue, Point

STATE_CODES = {
    "init": 0,
    "running": 1,
    "error": 2,
    "paused": 3,
    "pigging": 4,
    "finishing": 5,
    "finished": 6,
}
LOG_LEVELS = {
    128: "debug",
    64: "info",
    32: "notice",
    16: "warning",
    8: "error",
    4: "critical",
    2: "alert",
    1: "emergency",
}
HEALTH_OK = {"ok": 1, "fail": 0}

# Amounts carried forward per tap name, for one engine.
Carried = Mapping[str, float]
# An engine's state is one table value, one Kafka message in the changelog: an
# engine with endless distinct count taps must not grow it past the broker's limit.
MAX_CARRIED_TAPS = 1000
# Carried jet totals are kept under this prefix, which no count tap's key has.
JET_KEY = "jet-status/"


@dataclass(frozen=True, slots=True)
class Derived:
    """The points of one message and, when it changed, the engine's new carried amounts."""

    points: list[Point]
    carried: dict[str, float] | None = None


def derive(message: Message, model: str, carried: Carried) -> Derived:
    """The points one valid message yields; raises InvalidMessage only when the
    carried amounts make a rate or carried amount overflow."""
    tags = {"engine": message.src, "model": model}
    if isinstance(message, SensorReport):
        return _sensor_report(message, tags, carried)
    if isinstance(message, JetStatusReport):
        return _jet_status(message, tags, carried)
    if isinstance(message, OtherMessage):
        if not message.counted:
            return Derived([])
        type_tags = {**tags, "type": message.type}
        return Derived([Point("engine_messages", type_tags, {"count": 1.0}, message.time)])
    return Derived([_event_point(message, tags)])


def _jet_status(report: JetStatusReport, tags: dict[str, str], carried: Carried) -> Derived:
    """A point per jet; the cumulative totals give consumed and produced rates.

    A total is carried (with its time) from one report to the next: the rate is
    its growth over the seconds between them. The first report of a jet, a
    total that fell (the jet restarted) or no time passed gives no rate. Jets a
    report no longer lists are forgotten, so restarts do not grow the state.
    """
    points: list[Point] = []
    kept = {name: value for name, value in carried.items() if not name.startswith(JET_KEY)}
    now = report.time / 1e9
    for jet in report.jets:
        fields: dict[str, FieldValue] = {
            name: value
            for name, value in (
                ("memory", jet.memory),
                ("total_consumed", jet.total_consumed),
                ("total_produced", jet.total_produced),
                ("run_time", jet.run_time),
            )
            if value is not None
        }
        if jet.busy is not None:
            fields["busy"] = int(jet.busy)
        for total, rate_field in (("consumed", "consumed_rps"), ("produced", "produced_rps")):
            value = jet.total_consumed if total == "consumed" else jet.total_produced
            if value is None:
                continue
            key = f"{JET_KEY}{jet.name}/{total}"
            before, then = carried.get(key), carried.get(key + "@")
            if before is not None and then is not None and value >= before and now > then:
                fields[rate_field] = (value - before) / (now - then)
            kept[key], kept[key + "@"] = value, now
        if fields:
            points.append(Point("jet_status", {**tags, "jet": jet.name}, fields, report.time))
    return Derived(points, kept if kept != carried else None)


def reported_state(message: EngineState) -> tuple[str, int]:
    """The state an engine-state message reports, and its code (-1: one not listed)."""
    state = message.state.lower()
    return state, STATE_CODES.get(state, -1)


def _event_point(message: Message, tags: dict[str, str]) -> Point:
    fields: dict[str, FieldValue]
    if isinstance(message, EngineState):
        state, code = reported_state(message)
        measurement, fields = "engine_status", {"code": code, "state": state}
    elif isinstance(message, EngineConfig):
        measurement, fields = "engine_events", {"ref": _ref_text(message.ref)}
        tags = {**tags, "item": message.item, "op": message.op}
    elif isinstance(message, Health):
        measurement = "health"
        fields = {"ok": HEALTH_OK.get(message.health, -1), "health": message.health}
        tags = {**tags, "instance": message.instance}
    elif isinstance(message, Log):
        measurement, fields = "engine_logs", {"text": message.text}
        tags = {**tags, "level": LOG_LEVELS.get(message.level, str(message.level))}
    elif isinstance(message, ModelConsole):
        measurement, fields = "model_console", {"text": message.text}
    elif isinstance(message, OutputReport):
        measurement = "model_outputs"
        fields = {"outputs": float(message.outputs), "skipped": message.skipped}
    elif isinstance(message, RejectedDataReport):
        measurement, fields = "rejections", {"count": message.count}
        tags = {**tags, "reason": message.reason, "source": "report"}
        if message.slot is not None:
            tags["slot"] = message.slot
        if message.direction is not None:
            tags["direction"] = message.direction
    elif isinstance(message, OutputEof):
        measurement, fields = "engine_events", {"ref": ""}
        tags = {**tags, "item": "stream", "op": "eof"}
        if message.last is not None:
            fields["last"] = int(message.last)
    else:  # pragma: no cover - the union is exhaustive
        raise TypeError(f"not a message: {message!r}")
    return Point(measurement, tags, fields, message.time)


def _ref_text(ref: Any) -> str:
    if ref is None:
        return ""
    if isinstance(ref, str):
        return ref
    # Numbers and booleans as JSON spells them: 3, 2.5, true.
    return orjson.dumps(ref).decode()


def _sensor_report(report: SensorReport, tags: dict[str, str], carried: Carried) -> Derived:
    tap = report.meaning
    if report.value is None:  # a gauge's empty list
        return Derived([])
    point_tags = {**tags, **dict(tap.tags)} if tap.tags else tags
    if tap.kind is not Kind.COUNT:
        return Derived([Point(tap.measurement, point_tags, {tap.field: report.value}, report.time)])
    fields, new_carried = _with_rate(tap, report, report.value, carried)
    return Derived([Point(tap.measurement, point_tags, fields, report.time)], new_carried)


def _with_rate(
    tap: Tap, report: SensorReport, amount: float, carried: Carried
) -> tuple[dict[str, FieldValue], dict[str, float] | None]:
    """The count's fields, with a rate when delta_time allows one, and the new carry."""
    fields: dict[str, FieldValue] = {tap.field: amount}
    before = carried.get(tap.key, 0.0)
    if not report.delta_time:  # missing or 0: no rate yet, carry the amount forward
        if amount == 0.0:
            return fields, None
        if not math.isfinite(before + amount):
            raise InvalidMessage(f"tap {report.tap!r} carried amount is not a finite number")
        if tap.key not in carried and len(carried) >= MAX_CARRIED_TAPS:
            raise InvalidMessage(
                f"tap {report.tap!r} cannot be carried: its engine carries amounts "
                f"for {MAX_CARRIED_TAPS} taps already"
            )
        return fields, {**carried, tap.key: before + amount}
    assert tap.rate_field is not None
    rate = (amount + before) / report.delta_time
    if not math.isfinite(rate):
        raise InvalidMessage(f"tap {report.tap!r} rate is not a finite number")
    fields[tap.rate_field] = rate
    if tap.key not in carried:
        return fields, None
    rest = {name: value for name, value in carried.items() if name != tap.key}
    return fields, rest
