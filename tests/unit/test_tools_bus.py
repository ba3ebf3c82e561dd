"""A simulated minute of the demo's fleet through the agents' derive stage: every message
valid, one point each, and every measurement of the engines' bus among them."""

from __future__ import annotations

from collections import Counter
from datetime import UTC, datetime
from typing import Any

import orjson
import pytest

from agents.records import Input, Reject
from agents.resolve.resolver import UNKNOWN
from agents.stages import derive_archive
from enginewatch.core.points import Origin, Point, decode_archive
from enginewatch.tools.fleet import FleetConfig, build_fleet, engine_map, notifications

# The demo's fleet (seed 1 is compose/engine-map.json), for one simulated minute.
MINUTE = FleetConfig(engines=5, rate=100, start=datetime(2024, 5, 1, 12, tzinfo=UTC), duration=60)
BATCH = 500  # inputs per derive batch; each engine's state goes from one batch to the next
NAMES = engine_map(build_fleet(MINUTE.engines, MINUTE.seed))


def model_for(src: str) -> str:
    return NAMES.get(src, UNKNOWN)


@pytest.fixture(scope="module")
def minute() -> tuple[list[dict[str, Any]], list[Point], list[Reject]]:
    """The minute's messages, and the points and rejects the derive stage gives for them."""
    values = [item.value for item in notifications(MINUTE)]
    inputs = [
        Input(Origin("notify", 0, offset), orjson.loads(value)["src"].encode(), value, None)
        for offset, value in enumerate(values)
    ]
    states: dict[str, Any] = {}
    points: list[Point] = []
    rejects: list[Reject] = []
    for start in range(0, len(inputs), BATCH):
        output = derive_archive(inputs[start : start + BATCH], model_for, states)
        rejects += output.rejects
        points += [p for _, value, _ in output.messages for p in decode_archive(value)]
        states.update({e: state.to_table(0, 0.0) for e, (_, state) in output.states.items()})
    return [orjson.loads(value) for value in values], points, rejects


def test_every_message_is_valid_and_gives_one_point_of_its_model(
    minute: tuple[list[dict[str, Any]], list[Point], list[Reject]],
) -> None:
    messages, points, rejects = minute
    assert [(r.reason, r.value) for r in rejects] == []
    assert len(points) == len(messages)
    assert {(p.tags["engine"], p.tags["model"]) for p in points} == set(NAMES.items())
    assert set(Counter(p.measurement for p in points)) == {
        "records", "record_bytes", "rejections", "jet_records", "system",
        "engine_status", "engine_events", "health", "engine_logs", "model_console",
        "jet_status", "model_outputs",
    }  # fmt: skip


def test_every_message_type_of_the_bus_is_in_the_minute(
    minute: tuple[list[dict[str, Any]], list[Point], list[Reject]],
) -> None:
    messages, points, _ = minute
    kinds = Counter(m["type"] for m in messages)
    assert set(kinds) == {
        "sensor-report", "engine-state", "engine-config", "health", "log", "model-console",
        "jet-status-report", "output-report", "rejected-data-report", "output-eof",
    }  # fmt: skip
    bus = Counter(
        "jet_status" if p.measurement == "jet_status"
        else "model_outputs" if p.measurement == "model_outputs"
        else "reported rejections" if p.tags.get("source") == "report"
        else "end of input" if p.measurement == "engine_events" and p.tags["op"] == "eof"
        else "other"
        for p in points
    )  # fmt: skip
    assert bus - Counter(other=bus["other"]) == Counter(
        {
            "jet_status": kinds["jet-status-report"],
            "model_outputs": kinds["output-report"],
            "reported rejections": kinds["rejected-data-report"],
            "end of input": kinds["output-eof"],
        }
    )


def test_the_bus_points_hold_what_the_messages_say(
    minute: tuple[list[dict[str, Any]], list[Point], list[Reject]],
) -> None:
    """Messages and points correspond one to one, in order per engine."""
    messages, points, _ = minute
    rates = 0
    for src in NAMES:
        pairs = zip(
            [m for m in messages if m["src"] == src],
            [p for p in points if p.tags["engine"] == src],
            strict=True,
        )
        before: dict[str, tuple[float, float, float]] = {}  # jet: (consumed, produced, seconds)
        for message, point in pairs:
            seconds = datetime.fromisoformat(message["timestamp"]).timestamp()
            if message["type"] == "jet-status-report":
                (jet,) = message["jets"]
                assert point.measurement == "jet_status"
                assert point.tags["jet"] == str(jet["pid"])
                expected: dict[str, Any] = {
                    "memory": float(jet["memory"]),
                    "total_consumed": float(jet["total_consumed"]),
                    "total_produced": float(jet["total_produced"]),
                    "run_time": float(jet["run_time"]),
                    "busy": int(jet["busy"]),
                }
                if (previous := before.get(point.tags["jet"])) is not None:
                    elapsed = seconds - previous[2]
                    expected["consumed_rps"] = (jet["total_consumed"] - previous[0]) / elapsed
                    expected["produced_rps"] = (jet["total_produced"] - previous[1]) / elapsed
                    rates += 1
                assert point.fields == pytest.approx(expected, rel=1e-6)
                before = {
                    point.tags["jet"]: (jet["total_consumed"], jet["total_produced"], seconds)
                }
            elif message["type"] == "output-report":
                assert (point.measurement, point.fields) == (
                    "model_outputs",
                    {
                        "outputs": float(len(message["outputs"])),
                        "skipped": float(message["skipped"]),
                    },
                )
            elif message["type"] == "rejected-data-report":
                slot = message["slot"]
                assert point.measurement == "rejections"
                assert {k: v for k, v in point.tags.items() if k not in ("engine", "model")} == {
                    "reason": message["reason"],
                    "source": "report",
                    "slot": str(slot),
                    "direction": "input" if slot % 2 == 0 else "output",
                }
                count = message.get("count", len(message.get("records", [])))
                assert point.fields == {"count": float(count)}
            elif message["type"] == "output-eof":
                assert point.measurement == "engine_events"
                assert (point.tags["item"], point.tags["op"]) == ("stream", "eof")
                assert point.fields == {"ref": "", "last": 1}
    assert rates > 0
