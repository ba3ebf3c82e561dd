"""The archiver's fast path agrees with the reference path, message for message.

The reference is decode_archive followed by encode_point for every point. For
any message, the Transcoder either gives exactly the reference's lines, or
answers None (and the archiver then takes the reference path). It must never
accept what the reference refuses, and must not answer None for ordinary
messages, or it would be no faster.
"""

from __future__ import annotations

import json
from typing import Any

import orjson
import pytest
from hypothesis import event, example, given, settings
from hypothesis import strategies as st

import archiver.transcode
from archiver.lineprotocol import INT64_MAX, INT64_MIN, LineProtocolError, encode_point
from archiver.transcode import Transcoder
from enginewatch.core.points import (
    ArchiveFormatError,
    Origin,
    Point,
    decode_archive,
    encode_archive,
)

T = 1_700_000_000_000_000_000


def reference(raw: bytes) -> list[str] | None:
    """The lines the reference path writes, or None if it refuses anything in the message."""
    try:
        return [f"{encode_point(point)}\n" for point in decode_archive(raw)]
    except (ArchiveFormatError, LineProtocolError):
        return None


def message(*points: Any, version: Any = 1) -> bytes:
    return orjson.dumps({"version": version, "points": list(points)})


def point(**changes: Any) -> dict[str, Any]:
    base: dict[str, Any] = {
        "measurement": "records",
        "tags": {"engine": "e-1", "model": "fraud", "slot": "0", "direction": "input"},
        "fields": {"count": 10.0, "rps": 2.5},
        "time": T,
    }
    base.update(changes)
    return base


def test_ordinary_messages_take_the_fast_path_and_match_the_reference() -> None:
    transcoder = Transcoder()
    points = [
        Point("records", {"engine": "e", "model": "m"}, {"count": 1.0, "rps": 0.5}, T),
        Point("health", {"engine": "e", "model": "m"}, {"ok": 1}, T + 1),
        Point("logs", {"engine": "e", "level": "info"}, {"message": 'say "hi" \\o/'}, T + 2),
    ]
    raw = encode_archive(points, Origin("notify", 0, 7))
    for _ in range(2):  # the second time from the caches
        assert transcoder.lines(raw) == reference(raw)
        assert transcoder.lines(raw) is not None


@pytest.mark.parametrize(
    "unusual",
    [
        b"not json",
        b"[]",
        message(point(), version=2),
        orjson.dumps({"version": 1, "points": {}}),
        message("a point that is not an object"),
        message(point(measurement="")),
        message(point(measurement=7)),
        message(point(tags=["engine", "e"])),
        message(point(tags={"engine": 1})),
        message(point(tags={"engine": ["e"]})),
        message(point(tags={"engine": "ends with \\"})),
        message(point(measurement="#comment")),
        message(point(fields={})),
        message(point(fields={"": 1.0})),
        message(point(fields={"ok": True})),
        message(point(fields={"x": None})),
        message(point(fields=[1.0])),
        message(point(fields={"big": 2**63})),
        message(point(time=2**63)),
        message(point(time=True)),
        message(point(time=1.5)),
        message({"tags": {}, "fields": {"f": 1.0}, "time": T}),
    ],
)
def test_what_the_reference_refuses_is_left_to_it(unusual: bytes) -> None:
    transcoder = Transcoder()
    transcoder.lines(message(point()))  # a cached series must not let anything through
    assert reference(unusual) is None
    assert transcoder.lines(unusual) is None


def test_non_finite_floats_are_left_to_the_reference() -> None:
    # orjson writes inf and nan as null, so build the message by hand.
    for value in (b"Infinity", b"NaN", b"1e999"):
        raw = b'{"version":1,"points":[{"measurement":"m","tags":{},"fields":{"f":%s},"time":1}]}'
        raw %= value
        assert Transcoder().lines(raw) is None


def test_the_caches_start_over_when_full(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(archiver.transcode, "CACHE_SIZE", 3)
    transcoder = Transcoder()
    for number in range(10):
        raw = message(point(tags={"engine": f"e-{number}"}, fields={f"f{number}": 1.0}))
        assert transcoder.lines(raw) == reference(raw)
    assert len(transcoder._known) <= 3


def test_the_caches_start_over_past_their_bytes(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(archiver.transcode, "CACHE_BYTES", 1000)
    transcoder = Transcoder()
    for number in range(50):
        raw = message(point(tags={"engine": f"e-{number}-" + "x" * 200}))
        assert transcoder.lines(raw) == reference(raw)
        assert transcoder._known_bytes <= 1000
    assert 0 < len(transcoder._known) <= 2


# Strings with every character line protocol and JSON treat specially.
any_names = st.text(alphabet=st.sampled_from('ab ,="\\#\n\t\rüé模'), max_size=5)
fine_names = st.text(alphabet=st.sampled_from('ab ,="\n\t\rüé模'), min_size=1, max_size=5)
names = st.one_of(fine_names, fine_names, fine_names, any_names)
# Integers around the edges of int64, where line protocol stops.
integers = st.one_of(
    st.integers(min_value=-(2**64), max_value=2**64),
    st.sampled_from([2**63 - 1, 2**63, -(2**63), -(2**63) - 1, -(2**63) + 1]),
)
field_values = st.one_of(
    *[st.floats(allow_nan=False, allow_infinity=False), integers, names] * 3,
    st.booleans(),
    st.none(),
)
# Mostly well-formed points, with every way of being wrong mixed in.
json_points = st.one_of(
    st.fixed_dictionaries(
        {
            "measurement": st.one_of(*[names] * 6, st.integers()),
            "tags": st.one_of(
                *[st.dictionaries(names, names, max_size=3)] * 6,
                st.dictionaries(names, st.one_of(names, st.integers()), max_size=3),
                st.lists(names, max_size=2),
            ),
            "fields": st.dictionaries(names, field_values, min_size=1, max_size=3),
            "time": st.one_of(*[integers] * 6, st.booleans(), st.floats()),
        }
    ),
    st.fixed_dictionaries({"measurement": names, "fields": st.just({})}),
    names,
)

# Points the reference always writes, over few series so the caches are hit,
# with each field's type free to change from one point to the next.
ordinary_values = st.one_of(
    st.floats(allow_nan=False, allow_infinity=False),
    st.integers(min_value=INT64_MIN, max_value=INT64_MAX),
    fine_names,
)
ordinary_points = st.fixed_dictionaries(
    {
        "measurement": st.one_of(st.sampled_from(["records", 'a "b" c']), fine_names),
        "tags": st.one_of(
            st.sampled_from([{}, {"engine": "e-1"}, {"engine": "e 1", "model": "m,=1"}]),
            st.dictionaries(
                fine_names, any_names.filter(lambda v: not v.endswith("\\")), max_size=3
            ),
        ),
        "fields": st.one_of(
            st.dictionaries(st.sampled_from(["count", "a=b"]), ordinary_values, min_size=1),
            st.dictionaries(fine_names, ordinary_values, min_size=1, max_size=3),
        ),
        "time": st.integers(min_value=INT64_MIN + 1, max_value=INT64_MAX - 1),
    }
)
# Messages of ordinary points only, and messages with anything in them.
json_messages = st.one_of(
    st.lists(ordinary_points, min_size=1, max_size=4),
    st.lists(st.one_of(ordinary_points, json_points), max_size=4),
)


@settings(max_examples=400)
@given(st.lists(json_messages, min_size=1, max_size=4))
@example([[point()], [point(tags={"engine": "e-2"})], [point(), point(time=T + 1)]])
def test_the_fast_path_writes_what_the_reference_writes(batches: list[list[Any]]) -> None:
    transcoder = Transcoder()  # one for all messages: the caches carry over
    for points in batches:
        # json, not orjson: it writes integers beyond 64 bits, as a producer might.
        raw = json.dumps({"version": 1, "points": points}).encode()
        expected = reference(raw)
        lines = transcoder.lines(raw)
        if expected is None:
            event("refused by the reference")
            assert lines is None, "the fast path accepted what the reference refuses"
        else:
            event("written by the fast path")
            # What the reference writes is ordinary: declining it (None) fails here.
            assert lines is not None, "the fast path declined a message the reference writes"
            assert lines == expected
