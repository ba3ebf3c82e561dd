"""Recording lines: byte-exact values, what a line cannot hold, keys and times."""

from __future__ import annotations

import io

import pytest

from enginewatch.tools.recording import (
    message_time,
    parse_object,
    read_values,
    src_key,
    unrecordable,
)


def values(data: bytes) -> list[bytes]:
    return list(read_values(io.BytesIO(data)))


def test_each_line_is_one_value_without_its_line_feed() -> None:
    assert values(b'{"a":1}\nnot json\n\xff\xfe\n') == [b'{"a":1}', b"not json", b"\xff\xfe"]


def test_a_last_line_without_line_feed_is_a_value() -> None:
    assert values(b"one\ntwo") == [b"one", b"two"]


def test_empty_lines_and_carriage_returns_are_kept() -> None:
    assert values(b"\n\r\nx\r\n") == [b"", b"\r", b"x\r"]


def test_an_empty_file_holds_no_values() -> None:
    assert values(b"") == []


@pytest.mark.parametrize(
    ("value", "holdable"),
    [(b"", True), (b"\xff", True), (b'{"x": "a\\nb"}', True), (b"a\nb", False), (None, False)],
)
def test_unrecordable(value: bytes | None, holdable: bool) -> None:
    assert (unrecordable(value) is None) is holdable


@pytest.mark.parametrize(
    ("value", "key"),
    [
        (b'{"src": "e1", "type": "log"}', b"e1"),
        ('{"src": "模型-é"}'.encode(), "模型-é".encode()),
        (b'{"src": 5}', None),
        (b'{"type": "log"}', None),
        (b'["src", "e1"]', None),
        (b"not json", None),
        (b"\xff\xfe", None),
        (b"", None),
    ],
)
def test_src_key(value: bytes, key: bytes | None) -> None:
    assert src_key(parse_object(value)) == key


@pytest.mark.parametrize(
    ("value", "seconds"),
    [
        (b'{"timestamp": "1970-01-01T00:00:01.5Z"}', 1.5),
        (b'{"timestamp": "1970-01-01T02:00:00+02:00"}', 0.0),
        (b'{"timestamp": "1970-01-01T00:00:01"}', None),  # no offset: when was that?
        (b'{"timestamp": "yesterday"}', None),
        (b'{"timestamp": 12}', None),
        (b"{}", None),
        (b"garbage", None),
    ],
)
def test_message_time(value: bytes, seconds: float | None) -> None:
    assert message_time(parse_object(value)) == seconds
