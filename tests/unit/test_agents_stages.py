"""The agents' stages over plain values, without Faust: grouping, order, rejects,
the by-engine framing, and the two hops agreeing with each other."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from pathlib import Path
from types import MappingProxyType
from typing import Any

import orjson
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from agents import by_engine
from agents.by_engine import ORIGIN_HEADER, ByEngineFormatError
from agents.grouping import EngineGroups
from agents.records import Input, Message, Reject
from agents.resolve.resolver import UNKNOWN
from agents.stages import (
    ARCHIVE_GROUP_INPUTS,
    BY_ENGINE_GROUP_INPUTS,
    GROUP_INPUT_BYTES,
    MAX_ARCHIVE_BYTES,
    DeriveOutput,
    StageOutput,
    derive_archive,
    route_by_engine,
)
from agents.state import CarryState, Expiry, expired
from enginewatch.core.points import Origin, Point, decode_archive

GOLDEN = Path(__file__).resolve().parents[1] / "golden" / "agents"
CASES = sorted(path.name for path in GOLDEN.iterdir() if path.is_dir())
T0 = 1_714_564_800_000_000_000  # 2024-05-01T12:00:00Z, the first _report's time
SECOND = 1_000_000_000


def _report(src: str, second: int = 0, **fields: Any) -> bytes:
    message = {
        "type": "sensor-report",
        "src": src,
        "timestamp": f"2024-05-01T12:{second // 60 % 60:02d}:{second % 60:02d}Z",
        "tap": "manifold.0.records.count",
        "data": 1,
        "delta_time": 1.0,
    }
    message.update(fields)
    return orjson.dumps(message)


def _inputs(values: Sequence[bytes | None], topic: str = "notify") -> list[Input]:
    return [Input(Origin(topic, 0, offset), None, value, {}) for offset, value in enumerate(values)]


def _carriers(messages: Sequence[Message]) -> list[Input]:
    """The by-engine messages as derive's hop receives them."""
    return [
        Input(Origin("agents-by-engine", 0, offset), key, value, headers)
        for offset, (key, value, headers) in enumerate(messages)
    ]


def _model(src: str) -> str:
    return UNKNOWN


def _golden_lines(case: str) -> list[bytes]:
    return (GOLDEN / case / "input.jsonl").read_bytes().split(b"\n")[:-1]


# --- route_by_engine -----------------------------------------------------------------


def test_route_groups_an_engines_inputs_up_to_the_input_limit() -> None:
    values = [_report("e1", second) for second in range(2 * BY_ENGINE_GROUP_INPUTS + 20)]
    output = route_by_engine(_inputs(values))
    assert output.rejects == []
    sizes = [len(by_engine.decode(record)) for record in _carriers(output.messages)]
    assert sizes == [BY_ENGINE_GROUP_INPUTS, BY_ENGINE_GROUP_INPUTS, 20]
    assert {key for key, _, _ in output.messages} == {b"e1"}


def test_route_closes_a_group_before_it_passes_the_byte_limit() -> None:
    padding = "x" * (GROUP_INPUT_BYTES // 3)  # unknown fields are ignored, but weigh
    values = [_report("e1", second, padding=padding) for second in range(5)]
    output = route_by_engine(_inputs(values))
    assert all(len(value) <= GROUP_INPUT_BYTES for _, value, _ in output.messages)
    assert [len(by_engine.decode(r)) for r in _carriers(output.messages)] == [2, 2, 1]


def test_one_input_above_the_byte_limit_is_a_group_of_its_own() -> None:
    groups: EngineGroups[str] = EngineGroups(max_inputs=10, max_input_bytes=100)
    for offset, size in enumerate([500, 10, 10]):
        groups.add("e1", Origin("notify", 0, offset), f"item{offset}", size)
    # Each message's value: as many bytes as its group has items.
    messages = groups.messages(lambda engine, entries: (engine.encode(), bytes(len(entries)), None))
    assert [len(value) for _, value, _ in messages] == [1, 2]


def test_route_keeps_each_engines_order_and_keys_by_engine() -> None:
    values = [_report(f"e{offset % 3}", offset) for offset in range(30)]
    output = route_by_engine(_inputs(values))
    per_engine: dict[bytes, list[tuple[Origin, bytes | None]]] = defaultdict(list)
    for record in _carriers(output.messages):
        assert record.key is not None
        per_engine[record.key].extend(by_engine.decode(record))
    for engine in (b"e0", b"e1", b"e2"):
        offsets = [origin.offset for origin, _ in per_engine[engine]]
        assert offsets == [o for o in range(30) if f"e{o % 3}".encode() == engine]
        for origin, value in per_engine[engine]:
            assert value == values[origin.offset], "routed byte for byte"


def test_route_rejects_invalid_input_with_its_origin_in_order() -> None:
    values: list[bytes | None] = [
        _report("e1"),
        b"not json",
        None,
        _report("e1", data=-1),
        _report("", 1),
        _report("e2", 2),
    ]
    output = route_by_engine(_inputs(values))
    assert [(r.origin.offset, r.value) for r in output.rejects] == [
        (1, b"not json"),
        (2, None),
        (3, values[3]),
        (4, values[4]),
    ]
    reasons = [r.reason for r in output.rejects]
    assert reasons[0].startswith("not JSON")
    assert reasons[1] == "empty message value (null)"
    assert reasons[2] == "tap 'manifold.0.records.count' amount is negative: -1.0"
    assert reasons[3] == "field 'src' is empty: it becomes an InfluxDB tag value"
    assert sorted(key for key, _, _ in output.messages) == [b"e1", b"e2"]


# --- derive_archive ------------------------------------------------------------------


def test_derive_sends_an_engines_points_in_order_up_to_the_archive_limit() -> None:
    count = ARCHIVE_GROUP_INPUTS + 30
    values = [_report("e1", second, data=second) for second in range(count)]
    output = derive_archive(_inputs(values), _model, {})
    assert output.rejects == []
    assert [len(decode_archive(value)) for _, value, _ in output.messages] == [
        ARCHIVE_GROUP_INPUTS,
        30,
    ]
    counts = [p.fields["count"] for _, v, _ in output.messages for p in decode_archive(v)]
    assert counts == [float(second) for second in range(count)]
    second_origin = orjson.loads(output.messages[1][1])["origin"]
    assert second_origin == {"topic": "notify", "partition": 0, "offset": ARCHIVE_GROUP_INPUTS}


def test_derive_rejects_with_the_origin_of_each_input_message() -> None:
    good, bad = _report("e1"), _report("e1", data="x")
    # A by-engine message holding a message the route would not pass (a producer's, say).
    header = orjson.dumps([["notify", 0, 7, len(good)], ["notify", 2, 9, len(bad)]])
    record = Input(Origin("by-engine", 1, 0), b"e1", good + bad, {ORIGIN_HEADER: header})
    output = derive_archive([record], _model, {})
    assert output.rejects == [
        Reject(
            Origin("notify", 2, 9),
            "tap 'manifold.0.records.count' needs numeric data, got a string",
            bad,
        )
    ]
    assert len(output.messages) == 1


def test_derive_keeps_only_the_failures_the_carried_amounts_cause() -> None:
    tap = "jet.0.input.records.count"
    carrying = _report("e1", 0, tap=tap, data=1e308, delta_time=0)
    overflowing = _report("e1", 1, tap=tap, data=1e308, delta_time=0)
    assert route_by_engine(_inputs([carrying, overflowing])).rejects == []
    output = derive_archive(_inputs([carrying, overflowing]), _model, {})
    assert [(r.origin.offset, r.reason) for r in output.rejects] == [
        (1, f"tap {tap!r} carried amount is not a finite number")
    ]


def test_derive_reads_the_states_never_writes_them() -> None:
    tap = "manifold.0.records.count"
    # The earlier table value shape: the carried amounts alone.
    seeded = {tap: 4.0, "other": 1.0}
    states = MappingProxyType({"e1": seeded})
    values = [
        _report("e1", 0, data=2, delta_time=0),
        _report("e1", 1, data=3, delta_time=0),
        _report("e1", 2, data=1, delta_time=2.0),
    ]
    output = derive_archive(_inputs(values), _model, states)
    assert seeded == {tap: 4.0, "other": 1.0}, "the seeded value is untouched"
    (index, state) = output.states["e1"]
    assert index == 2
    assert state == CarryState({"other": 1.0}, {"notify/0": 2})
    (point,) = decode_archive(output.messages[0][1])[2:]
    assert point.fields["rps"] == (4.0 + 2 + 3 + 1) / 2.0


def test_only_engines_whose_carried_amounts_changed_have_a_state_to_keep() -> None:
    values = [_report("e1", 0, delta_time=0), _report("e2", 1), _report("e1", 2)]
    output = derive_archive(_inputs(values), _model, {})
    assert output.states == {"e1": (2, CarryState({}, {"notify/0": 2}))}


# --- redelivery: exact, whatever was kept ------------------------------------------


def _kept(output: DeriveOutput) -> dict[str, Any]:
    return {engine: state.to_table(0, 0.0) for engine, (_, state) in output.states.items()}


def _points(output: StageOutput) -> list[Point]:
    return [p for _, value, _ in output.messages for p in decode_archive(value)]


def test_an_input_applied_before_is_skipped_and_a_duplicate_within_a_batch_too() -> None:
    values = [_report("e1", 0, data=5, delta_time=0), _report("e1", 1, data=1, delta_time=1.0)]
    first = derive_archive(_inputs(values), _model, {})
    again = derive_archive(_inputs(values), _model, _kept(first))
    assert again.messages == []
    assert again.states == {}
    doubled = [*_inputs(values), *_inputs(values)]
    assert _points(derive_archive(doubled, _model, {})) == _points(first)


def test_a_batch_whose_states_were_not_kept_gives_the_same_points_again() -> None:
    values = [_report("e1", 0, data=5, delta_time=0), _report("e1", 1, data=1, delta_time=1.0)]
    first = derive_archive(_inputs(values), _model, {})
    assert _points(derive_archive(_inputs(values), _model, {})) == _points(first)
    assert _points(first)[1].fields["rps"] == 6.0


def test_offsets_are_kept_per_input_partition() -> None:
    early = Input(Origin("notify", 1, 3), None, _report("e1", 0, delta_time=0), {})
    late = Input(Origin("notify", 0, 9), None, _report("e1", 1, delta_time=0), {})
    kept = _kept(derive_archive([late], _model, {}))
    output = derive_archive([early], _model, kept)
    assert len(_points(output)) == 1, "offset 3 of partition 1 is not offset 9 of partition 0"
    assert output.states["e1"][1].applied == {"notify/0": 9, "notify/1": 3}


carrying_reports = st.lists(
    st.tuples(st.sampled_from(["e1", "e2"]), st.integers(0, 3), st.sampled_from([0, 0.5, None])),
    min_size=1,
    max_size=30,
)


@settings(max_examples=200, deadline=None)
@given(
    reports=carrying_reports,
    cuts=st.lists(st.integers(1, 30), max_size=4),
    crash=st.data(),
)
def test_any_redelivery_gives_exactly_the_points_of_one_clean_run(
    reports: list[tuple[str, int, float | None]], cuts: list[int], crash: st.DataObject
) -> None:
    """Batches run one after the other; after each, a crash may lose the states it
    would keep, or the commit; the next batch starts at the last commit. Every
    point given, in any run, is the point of the clean run for its input."""
    values = [
        _report(engine, second, data=data, **({} if dt is None else {"delta_time": dt}))
        for second, (engine, data, dt) in enumerate(reports)
    ]
    inputs = _inputs(values)
    clean = {p.time: p for p in _points(derive_archive(inputs, _model, {}))}
    states: dict[str, Any] = {}
    committed = 0
    given_points: list[Point] = []
    bounds = sorted({min(c, len(inputs)) for c in cuts} | {len(inputs)})
    crashes_left = 3
    while committed < len(inputs):
        end = next(b for b in bounds if b > committed)
        output = derive_archive(inputs[committed:end], _model, states)
        given_points += _points(output)  # delivered before anything is kept
        if crashes_left and crash.draw(st.booleans(), label="crash"):
            crashes_left -= 1
            # A crash after delivery: before the states were kept, or after.
            if crash.draw(st.booleans(), label="states kept before the crash"):
                states.update(_kept(output))
            continue
        states.update(_kept(output))
        committed = end
    assert {p.time for p in given_points} == set(clean)
    for point in given_points:
        assert point == clean[point.time], "a point given again with another value"


def test_an_input_read_directly_is_derived_as_itself() -> None:
    """Input keyed by engine: no by-engine header, one input message per record."""
    values = [_report("e1", 0), _report("e2", 1), _report("e1", 2)]
    output = derive_archive(_inputs(values), _model, {})
    assert [key for key, _, _ in output.messages] == [b"e1", b"e2"]
    assert [len(decode_archive(value)) for _, value, _ in output.messages] == [2, 1]


# --- the by-engine framing -----------------------------------------------------------

origins = st.builds(
    Origin,
    st.text(min_size=1, max_size=12),
    st.integers(min_value=0, max_value=2**31 - 1),
    st.integers(min_value=0, max_value=2**63 - 1),
)


@given(entries=st.lists(st.tuples(origins, st.binary(max_size=40)), min_size=1, max_size=20))
def test_by_engine_round_trip(entries: list[tuple[Origin, bytes]]) -> None:
    key, value, headers = by_engine.encode("engine-1", entries)
    assert key == b"engine-1"
    record = Input(Origin("agents-by-engine", 3, 17), key, value, headers)
    assert by_engine.decode(record) == entries


def test_a_record_without_the_header_is_one_input_message() -> None:
    origin = Origin("notify", 1, 5)
    assert by_engine.decode(Input(origin, None, b"{}", {})) == [(origin, b"{}")]
    assert by_engine.decode(Input(origin, None, b"{}", None)) == [(origin, b"{}")]
    header = {ORIGIN_HEADER: b"[]"}
    assert by_engine.decode(Input(origin, None, None, header)) == [(origin, None)]


@pytest.mark.parametrize(
    ("header", "value", "error"),
    [
        (b"[[", b"abc", "is not JSON"),
        (b"{}", b"abc", "is not a non-empty list"),
        (b"[]", b"abc", "is not a non-empty list"),
        (b"[5]", b"abc", "entry 0 is not [topic, partition, offset, length]"),
        (b'[["n", 0, 1]]', b"abc", "entry 0 is not"),
        (b'[["n", 0, 1, 3, 4]]', b"abc", "entry 0 is not"),
        (b'[["n", 0, 1, 1], ["n", true, 1, 2]]', b"abc", "entry 1 is not"),
        (b'[["n", 0, -1, 3]]', b"abc", "entry 0 is not"),
        (b"[[1, 0, 1, 3]]", b"abc", "entry 0 is not"),
        (b'[["n", 0, 1, 1.5]]', b"abc", "entry 0 is not"),
        (b'[["n", 0, 1, 99999999999999999999999]]', b"abc", "entry 0 is not"),
        (b'[["n", 0, 1, 4]]', b"abc", "entry 0 passes the end of the 3-byte value"),
        (b'[["n", 0, 1, 2]]', b"abc", "accounts for 2 of the value's 3 bytes"),
    ],
)
def test_a_malformed_header_is_a_by_engine_format_error(
    header: bytes, value: bytes, error: str
) -> None:
    record = Input(Origin("notify", 0, 0), b"e1", value, {ORIGIN_HEADER: header})
    with pytest.raises(ByEngineFormatError, match=f"^header '{ORIGIN_HEADER}'") as caught:
        by_engine.decode(record)
    assert error in str(caught.value)


def test_derive_rejects_a_message_whose_framing_cannot_be_decoded_whole() -> None:
    good = _report("e1")
    malformed = Input(Origin("notify", 2, 41), b"e1", good + good, {ORIGIN_HEADER: b"[[1]]"})
    batch = [*_inputs([good]), malformed, Input(Origin("notify", 0, 42), None, good, {})]
    output = derive_archive(batch, _model, {})
    (reject,) = output.rejects
    assert reject.origin == Origin("notify", 2, 41)
    assert reject.value == good + good
    assert reject.reason.startswith(f"malformed by-engine framing: header '{ORIGIN_HEADER}'")
    assert sum(len(decode_archive(value)) for _, value, _ in output.messages) == 2


# --- the two hops agree --------------------------------------------------------------


def _per_engine(output: StageOutput) -> dict[bytes, list[bytes]]:
    messages: dict[bytes, list[bytes]] = defaultdict(list)
    for key, value, headers in output.messages:
        assert headers is None
        messages[key].append(value)
    return dict(messages)


def _through_both_hops(batch: list[Input]) -> tuple[StageOutput, dict[str, Any]]:
    routed = route_by_engine(batch)
    derived = derive_archive(_carriers(routed.messages), _model, {})
    rejects = sorted([*routed.rejects, *derived.rejects], key=lambda r: r.origin.offset)
    return StageOutput(derived.messages, rejects), _kept(derived)


def _assert_round_trip(batch: list[Input]) -> None:
    direct = derive_archive(batch, _model, {})
    hopped, hopped_kept = _through_both_hops(batch)
    assert _per_engine(hopped) == _per_engine(direct)
    assert hopped.rejects == direct.rejects
    assert hopped_kept == _kept(direct)


@pytest.mark.parametrize("case", CASES)
def test_route_then_derive_gives_what_derive_gives_golden(case: str) -> None:
    _assert_round_trip(_inputs(_golden_lines(case)))


def test_route_then_derive_gives_what_derive_gives_over_many_batches_worth() -> None:
    """Every golden line, twenty times over: groups close on both hops."""
    lines = [line for case in CASES for line in _golden_lines(case)] * 20
    _assert_round_trip(_inputs(lines))


def _assert_hops_agree(value: bytes | None) -> None:
    """Route accepts exactly what derive accepts with nothing carried, for the same reason."""
    (record,) = _inputs([value])
    assert route_by_engine([record]).rejects == derive_archive([record], _model, {}).rejects


@pytest.mark.parametrize("case", CASES)
def test_the_hops_agree_on_every_golden_line(case: str) -> None:
    for value in _golden_lines(case):
        _assert_hops_agree(value)


numbers = st.sampled_from([0, 1, -1, 2.5, 1e308, 1.7e308, 5e-324, -0.0, 10**20, True, None, "1"])
json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=8),
    lambda children: (
        st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=6), children, max_size=3)
    ),
    max_leaves=8,
)
sensor_reports = st.fixed_dictionaries(
    {
        "type": st.just("sensor-report"),
        "src": st.sampled_from(["e1", "", "e\\"]),
        "timestamp": st.sampled_from(["2024-05-01T12:00:00Z", "2024-02-30T00:00:00Z"]),
        "tap": st.sampled_from(
            [
                "manifold.0.records.count",
                "manifold.1.records.size",
                "jet.2.output.records.count",
                "manifold.3.records.rejected.by.schema",
                "sys.memory",
                "any.other",
                "",
            ]
        ),
        "data": numbers | st.lists(numbers, max_size=4) | json_values,
    },
    optional={
        "delta_time": numbers | st.sampled_from([1e-300, 5e-324, 1e-10]) | json_values,
        "id": st.just(1) | json_values,
    },
)
other_messages = st.fixed_dictionaries(
    {
        "type": st.sampled_from(["engine-state", "engine-config", "health", "log", "model-console"])
        | json_values,
        "src": st.just("e1") | json_values,
        "timestamp": st.just("2024-05-01T12:00:00Z") | json_values,
    },
    optional={
        name: json_values for name in ("state", "item", "op", "ref", "instance", "health", "level")
    }
    | {"text": st.just("x") | json_values},
)


def _dumps(message: dict[str, Any]) -> bytes:
    try:
        return orjson.dumps(message)
    except orjson.JSONEncodeError:  # an integer beyond 64 bits: bytes that are not JSON
        return b"{"


@settings(max_examples=400, deadline=None)
@given(
    value=st.one_of(
        sensor_reports.map(_dumps), other_messages.map(_dumps), st.binary(max_size=20), st.none()
    )
)
def test_the_hops_agree_on_generated_input(value: bytes | None) -> None:
    _assert_hops_agree(value)


@settings(max_examples=100, deadline=None)
@given(values=st.lists(sensor_reports.map(_dumps), min_size=1, max_size=40))
def test_route_then_derive_gives_what_derive_gives_generated(values: list[bytes]) -> None:
    _assert_round_trip(_inputs(values))


def test_a_slot_written_with_leading_zeros_carries_with_its_series() -> None:
    values = [
        _report("e1", 0, tap="manifold.007.records.count", data=4, delta_time=0),
        _report("e1", 1, tap="manifold.7.records.count", data=2, delta_time=2.0),
    ]
    points = _points(derive_archive(_inputs(values), _model, {}))
    assert [p.tags["slot"] for p in points] == ["7", "7"]
    assert points[1].fields["rps"] == 3.0


def test_the_states_not_written_for_the_ttl_are_named_per_partition() -> None:
    def value(written: float, partition: int) -> dict[str, Any]:
        return CarryState().to_table(partition, written)

    values = {
        "old": value(1000.0, 1),
        "recent": value(1010.0, 1),
        "old-elsewhere": value(1000.0, 2),
        "earlier-shape": {"manifold.0.records.count": 1.0},
    }
    assert expired(values.items(), 1, 1005.0) == ["old"]
    assert expired(values.items(), 2, 1005.0) == ["old-elsewhere"]
    assert expired(values.items(), 1, 1000.0) == [], "not older than the TTL"


def test_a_state_read_back_is_the_state_written() -> None:
    state = CarryState({"manifold.0.records.count": 2.0}, {"notify/3": 41}, "churn")
    assert CarryState.from_table(state.to_table(3, 1000.0)) == state


def test_each_partition_is_swept_at_most_every_so_often() -> None:
    now = [1000.0]
    expiry = Expiry(ttl_seconds=5, every=60, clock=lambda: now[0])
    values = {"old": CarryState().to_table(1, 998.0)}
    assert expiry.sweep([1], values.items) == {}, "not old enough yet"
    now[0] += 10
    assert expiry.sweep([1], values.items) == {}, "swept 10 s ago"
    assert expiry.sweep([2], values.items) == {}, "nothing of partition 2"
    now[0] += 60
    assert expiry.sweep([1], values.items) == {1: ["old"]}


def _console(second: int, text: str) -> bytes:
    return orjson.dumps(
        {"type": "model-console", "src": "e1", "timestamp": f"2024-05-01T12:00:{second:02d}Z"}
        | {"text": text}
    )


def test_an_input_whose_points_cannot_travel_in_one_message_is_rejected() -> None:
    values = [_console(0, "x" * (MAX_ARCHIVE_BYTES + 1)), _console(1, "fine")]
    output = derive_archive(_inputs(values), _model, {})
    (reject,) = output.rejects
    assert reject.origin.offset == 0
    assert reject.reason.startswith("its points take ")
    assert reject.reason.endswith(f"more than the {MAX_ARCHIVE_BYTES} of an archive message")
    assert [p.fields["text"] for p in _points(output)] == ["fine"]


def test_archive_messages_split_until_each_fits(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr("agents.stages.MAX_ARCHIVE_BYTES", 3000)
    values = [_console(second, "y" * 500) for second in range(20)]
    output = derive_archive(_inputs(values), _model, {})
    assert output.rejects == []
    assert len(output.messages) > 1
    assert all(len(value) <= 3000 for _, value, _ in output.messages)
    assert [p.time for p in _points(output)] == [T0 + n * SECOND for n in range(20)]
