"""Properties of the agents' logic over generated inputs (hypothesis)."""

from __future__ import annotations

import math
import re
from typing import Any

import orjson
import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st

from agents.derive import MAX_CARRIED_TAPS
from agents.messages import InvalidMessage, parse_object
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
            [
                "sensor-report",
                "engine-state",
                "engine-config",
                "health",
                "log",
                "model-console",
                "jet-status-report",
                "output-report",
                "rejected-data-report",
                "output-eof",
                "x-other",
            ]
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
        "jets": st.lists(
            st.fixed_dictionaries(
                {},
                optional={
                    name: json_values
                    for name in ("pid", "memory", "total_consumed", "total_produced", "busy")
                },
            )
            | json_values,
            max_size=3,
        )
        | json_values,
        "model": json_values,
        "outputs": json_values,
        "skipped": json_values,
        "reason": json_values,
        "slot": json_values,
        "direction": st.sampled_from(["input", "output"]) | json_values,
        "count": json_values,
        "last": json_values,
    },
)


# The reasons the agents give for a dead letter (README.md, "Dead letters"), one
# pattern per family, with the values they quote as Python writes them.
_STRING = r"""(?:'(?:[^'\\]|\\.)*'|"(?:[^"\\]|\\.)*")"""
_FLOAT = r"-?\d+(?:\.\d+)?(?:e[+-]\d+)?"
_TYPE = r"(?:null|a boolean|a number|a string|an array|an object)"
_STRING_FIELD = r"'(?:src|timestamp|tap|state|item|op|instance|health|text|model|reason)'"
_TAG_FIELD = r"'(?:src|tap|item|op|instance|reason)'"
_JET = r"jets\[\d+\]"
_AMOUNT_FIELD = (
    rf"'(?:(?:{_JET}\.)?(?:memory|total_consumed|total_produced|run_time)|skipped|count)'"
)
REASONS = [
    re.compile(pattern)
    for pattern in [
        # Bytes that are not UTF-8 JSON, or a JSON value that is not an object.
        r"empty message value \(null\)",
        r"not UTF-8 text",
        r"not JSON: [^\n]+: line \d+ column \d+ \(char \d+\)",
        rf"not a JSON object but {_TYPE}",
        # An unknown type, a missing or mistyped required field.
        r"unknown message type [^\n]+",
        r"missing field '(?:type|src|timestamp|tap|data|state|item|op|instance|health|level|text"
        r"|jets)'",
        rf"field {_STRING_FIELD} must be a string, got {_TYPE}",
        rf"field '(?:id|level)' must be an integer, got {_TYPE}",
        rf"field 'delta_time' must be a number, got {_TYPE}",
        r"field 'ref' must be a scalar, got (?:an array|an object)",
        # The fields of jet status, output and rejected-data reports, and end of input.
        rf"field '(?:jets|outputs)' must be an array, got {_TYPE}",
        rf"field '{_JET}' must be an object, got {_TYPE}",
        rf"field '(?:{_JET}\.pid|slot)' must be a non-negative integer, got [^\n]+",
        rf"field '(?:{_JET}\.busy|last)' must be a boolean, got {_TYPE}",
        rf"field {_AMOUNT_FIELD} must be a number, got {_TYPE}",
        rf"field {_AMOUNT_FIELD} is not a finite number",
        rf"field {_AMOUNT_FIELD} must be >= 0, got {_FLOAT}",
        r"field 'direction' must be 'input' or 'output', got [^\n]+",
        # A tag value line protocol cannot carry.
        rf"field {_TAG_FIELD} (?:is empty|ends with a backslash|is longer than 256 bytes \(\d+\)):"
        " it becomes an InfluxDB tag value",
        # An unparseable timestamp, or one InfluxDB cannot store.
        r"field 'timestamp': (?:not an RFC 3339 timestamp|no such date|no such time"
        rf"|no such UTC offset|outside the years 1677 to 2262 that InfluxDB can store): {_STRING}",
        # A number that is not finite, a negative one where amounts are counted.
        r"field '(?:delta_time|ref)' is not a finite number",
        rf"field 'delta_time' must be >= 0, got {_FLOAT}",
        rf"tap {_STRING} needs numeric data, got {_TYPE}",
        rf"tap {_STRING} (?:data|amount|mean) is not a finite number",
        rf"tap {_STRING} (?:amount|count) is negative: {_FLOAT}",
        # A rate or a carried amount that overflows.
        rf"tap {_STRING} (?:rate|carried amount) is not a finite number",
        # An engine that would carry amounts for more taps than its state may hold.
        rf"tap {_STRING} cannot be carried: its engine carries amounts for \d+ taps already",
    ]
]
# What a caught exception looks like as a reason: the pipeline's catch-all
# ("unexpected error: KeyError: 'e1'"), an exception's name, a traceback.
CAUGHT = re.compile(r"unexpected error|Traceback|\b[A-Z]\w*(?:Error|Exception)\b")


def assert_a_contract_reason(reason: str) -> None:
    assert reason
    assert any(pattern.fullmatch(reason) for pattern in REASONS), f"not a reason: {reason!r}"
    # Quoted input may say anything; the rest of the reason is the agents' own words.
    assert not CAUGHT.search(re.sub(_STRING, "", reason)), f"a caught exception: {reason!r}"


def _one_report(tap: str, data: object) -> bytes:
    return orjson.dumps(
        {"type": "sensor-report", "src": "e", "timestamp": "2024-05-01T12:00:00Z", "tap": tap}
        | {"data": data, "delta_time": 1}
    )


@settings(max_examples=500, deadline=None)
@given(value=st.one_of(message_like.map(orjson.dumps), json_values.map(orjson.dumps), st.binary()))
# Inputs that once raised inside the parser: fsum's partial sums overflowing, and
# int() refusing a number of more than 4 300 digits.
@example(value=_one_report("sys.memory", [1.7976931348623157e308] * 3))
@example(value=_one_report("manifold." + "7" * 4400 + ".records.count", 3))
@example(value=_one_report("jet." + "0" * 4400 + "1.input.records.count", 3))
def test_no_input_crashes_the_parser(value: bytes) -> None:
    """Any bytes are either points or a dead letter with a reason the contract names."""
    outcome = handle(value, lambda _: UNKNOWN, {})
    if isinstance(outcome, Rejected):
        assert_a_contract_reason(outcome.reason)
    else:
        for point in outcome.points:
            assert point.tags["engine"]
            assert point.tags["model"]
            assert all(v != "" for v in point.tags.values()), "InfluxDB drops empty tag values"
            for value_ in point.fields.values():
                assert not isinstance(value_, bool)
                assert not isinstance(value_, float) or math.isfinite(value_)


def _reason(raw: bytes | None, carry: CarryStore | None = None) -> str:
    outcome = handle(raw, lambda _: UNKNOWN, {} if carry is None else carry)
    assert isinstance(outcome, Rejected), raw
    return outcome.reason


def _count_message(**changes: Any) -> dict[str, Any]:
    message = {
        "type": "sensor-report",
        "src": "engine-1",
        "timestamp": "2024-05-01T12:00:00Z",
        "tap": COUNT_TAPS[0],
        "data": 1,
    }
    return {**message, **changes}


def _count_report(**changes: Any) -> bytes:
    return orjson.dumps(_count_message(**changes))


def test_every_reason_pattern_matches_what_the_agents_say() -> None:
    """Each pattern of REASONS matches a reason the agents give: none is stale or mistyped."""
    reasons = [_reason(raw) for raw in [None, b"\xff", b"{", b"[]", b"{}", b'{"type":"x"}']]
    broken: list[dict[str, Any]] = [
        {"src": 1},
        {"id": "1"},
        {"delta_time": "1"},
        {"delta_time": -1},
        {"type": "engine-config", "item": "i", "op": "set", "ref": []},
        {"type": "log", "level": None, "text": "x"},
        {"tap": "a\\"},
        {"timestamp": "2024-02-30T00:00:00Z"},
        {"data": "x"},
        {"data": -1},
        {"tap": "manifold.0.records.rejected.by.schema", "data": -1},
        {"data": [1e308, 1e308]},
        {"data": 1e308, "delta_time": 1e-300},
    ]
    reasons += [_reason(_count_report(**changes)) for changes in broken]
    report = {"src": "e", "timestamp": "2024-05-01T12:00:00Z"}
    reasons += [
        _reason(orjson.dumps(report | changes))
        for changes in [
            {"type": "jet-status-report", "jets": "x"},
            {"type": "jet-status-report", "jets": [1]},
            {"type": "jet-status-report", "jets": [{"pid": -1}]},
            {"type": "jet-status-report", "jets": [{"busy": 1}]},
            {"type": "jet-status-report", "jets": [{"memory": "1"}]},
            {"type": "jet-status-report", "jets": [{"run_time": -1}]},
            {"type": "jet-status-report"},
            {"type": "output-report", "model": 1},
            {"type": "rejected-data-report", "direction": "up"},
        ]
    ]
    unknown = handle(_count_report(type="x"), lambda _: UNKNOWN, {}, unknown="dead-letter")
    assert isinstance(unknown, Rejected)
    reasons.append(unknown.reason)
    reasons.append(_reason(_count_report(data=1e308), {"engine-1": {COUNT_TAPS[0]: 1e308}}))
    reasons.append(_reason(_count_report(src="e" * 300)))
    full = {f"manifold.{n}.records.count": 1.0 for n in range(1, MAX_CARRIED_TAPS + 1)}
    reasons.append(_reason(_count_report(delta_time=0), {"engine-1": full}))
    # JSON has no infinity: only an already decoded value can bring one.
    with pytest.raises(InvalidMessage) as not_finite:
        parse_object(_count_message(delta_time=math.inf))
    reasons.append(str(not_finite.value))
    jets = {"type": "jet-status-report", "src": "e", "timestamp": "2024-05-01T12:00:00Z"}
    with pytest.raises(InvalidMessage) as not_finite:
        parse_object(jets | {"jets": [{"memory": math.inf}]})
    reasons.append(str(not_finite.value))
    for reason in reasons:
        assert_a_contract_reason(reason)
    matched = {pattern for pattern in REASONS for reason in reasons if pattern.fullmatch(reason)}
    assert matched == set(REASONS)


def test_an_unexpected_error_becomes_a_dead_letter_not_a_crash() -> None:
    def broken_resolver(engine: str) -> str:
        raise KeyError(engine)

    raw = b'{"type":"model-console","src":"e1","timestamp":"2024-05-01T12:00:00Z","text":"x"}'
    outcome = handle(raw, broken_resolver, {})
    assert isinstance(outcome, Rejected)
    assert outcome.reason == "unexpected error: KeyError: 'e1'"
    with pytest.raises(AssertionError, match="not a reason"):
        assert_a_contract_reason(outcome.reason)
