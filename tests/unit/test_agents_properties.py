"""Properties of the agents' logic over generated inputs (hypothesis)."""

from __future__ import annotations

import math
from typing import Any

import orjson
from hypothesis import given, settings
from hypothesis import strategies as st

from agents.pipeline import Accepted, CarryStore, Rejected, handle
from agents.resolve.resolver import UNKNOWN

COUNT_TAPS = ["manifold.0.records.count", "manifold.1.records.size", "jet.2.output.records.count"]
RATE_FIELD = {"records": "rps", "record_bytes": "bytes_per_second", "jet_records": "rps"}

amounts = st.one_of(
    st.integers(min_value=0, max_value=10**6),
    st.floats(min_value=0, max_value=1e6, allow_nan=False),
    st.lists(st.integers(min_value=0, max_value=1000), max_size=5),
)
delta_times = st.one_of(
    st.none(), st.just(0), st.floats(min_value=0.001, max_value=100, allow_nan=False)
)


def _report(tap: str, data: Any, delta_time: Any, second: int) -> bytes:
    message = {
        "type": "sensor-report",
        "src": "engine-1",
        "timestamp": f"2024-05-01T12:{second // 60 % 60:02d}:{second % 60:02d}Z",
        "tap": tap,
        "data": data,
    }
    if delta_time is not None:
        message["delta_time"] = delta_time
    return orjson.dumps(message)


def _amount(data: Any) -> float:
    return float(sum(data)) if isinstance(data, list) else float(data)


@settings(max_examples=300, deadline=None)
@given(
    tap=st.sampled_from(COUNT_TAPS),
    reports=st.lists(st.tuples(amounts, delta_times), min_size=1, max_size=30),
    last=st.tuples(amounts, st.floats(min_value=0.001, max_value=100, allow_nan=False)),
)
def test_rates_conserve_the_amounts(
    tap: str, reports: list[tuple[Any, Any]], last: tuple[Any, float]
) -> None:
    """Over a run that ends on a report with delta_time > 0, rate x delta_time sums
    to the amounts."""
    carry: CarryStore = {}
    conserved = 0.0
    total = 0.0
    for second, (data, delta_time) in enumerate([*reports, last]):
        outcome = handle(_report(tap, data, delta_time, second), lambda _: UNKNOWN, carry)
        assert isinstance(outcome, Accepted)
        (point,) = outcome.points
        rate = point.fields.get(RATE_FIELD[point.measurement])
        total += _amount(data)
        if delta_time:
            assert isinstance(rate, float)
            conserved += rate * delta_time
        else:
            assert rate is None, "a report without delta_time carries, it has no rate"
    assert math.isclose(conserved, total, rel_tol=1e-9, abs_tol=1e-6)
    assert carry.get("engine-1", {}).get(tap, 0.0) == 0.0, "the run ends with nothing carried"


json_values = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(min_value=-(2**63), max_value=2**63 - 1)
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(max_size=20),
    lambda children: (
        st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=10), children, max_size=4)
    ),
    max_leaves=12,
)
message_like = st.fixed_dictionaries(
    {},
    optional={
        "type": st.sampled_from(
            ["sensor-report", "engine-state", "engine-config", "health", "log", "model-console"]
        )
        | json_values,
        "src": st.text(max_size=8) | json_values,
        "timestamp": st.sampled_from(["2024-05-01T12:00:00Z", "2024-13-01T00:00:00Z", "x"])
        | json_values,
        "tap": st.sampled_from([*COUNT_TAPS, "sys.memory", "manifold.1.records.rejected.by.schema"])
        | json_values,
        "data": json_values,
        "delta_time": json_values,
        "id": json_values,
        "state": json_values,
        "item": json_values,
        "op": json_values,
        "ref": json_values,
        "instance": json_values,
        "health": json_values,
        "level": json_values,
        "text": json_values,
    },
)


@settings(max_examples=500, deadline=None)
@given(value=st.one_of(message_like.map(orjson.dumps), json_values.map(orjson.dumps), st.binary()))
def test_no_input_crashes_the_parser(value: bytes) -> None:
    """Any bytes are either points or a dead letter with a reason; nothing raises."""
    outcome = handle(value, lambda _: UNKNOWN, {})
    if isinstance(outcome, Rejected):
        assert outcome.reason
    else:
        for point in outcome.points:
            assert point.tags["engine"]
            assert point.tags["model"]
            assert all(v != "" for v in point.tags.values()), "InfluxDB drops empty tag values"
            for value_ in point.fields.values():
                assert not isinstance(value_, bool)
                assert not isinstance(value_, float) or math.isfinite(value_)


def test_an_unexpected_error_becomes_a_dead_letter_not_a_crash() -> None:
    def broken_resolver(engine: str) -> str:
        raise KeyError(engine)

    raw = b'{"type":"model-console","src":"e1","timestamp":"2024-05-01T12:00:00Z","text":"x"}'
    outcome = handle(raw, broken_resolver, {})
    assert isinstance(outcome, Rejected)
    assert outcome.reason == "unexpected error: KeyError: 'e1'"
