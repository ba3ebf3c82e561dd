"""Dead letters keep the rejected input, and always fit in one Kafka message."""

from __future__ import annotations

import hashlib

import orjson
import pytest

from enginewatch.core.deadletters import (
    MAX_KIND_CHARS,
    MAX_WHOLE_VALUE_BYTES,
    TRUNCATED_PREFIX_BYTES,
    dead_letter,
    original_value,
    reason_kind,
)
from enginewatch.core.points import Origin

ORIGIN = Origin("notify", 3, 1234)
# The producer's default max.request.size is 1 MiB; the broker's message.max.bytes about as much.
PRODUCER_LIMIT = 1_000_000


@pytest.mark.parametrize(
    ("value", "encoding"),
    [(b'{"type": "nope"}', "utf-8"), (b"\xff\xfe not utf-8", "base64"), (None, "none")],
)
def test_a_value_is_kept_whole_and_comes_back(value: bytes | None, encoding: str) -> None:
    letter = orjson.loads(dead_letter("unknown message type 'nope'", ORIGIN, value, "agents"))
    assert letter["value_encoding"] == encoding
    assert original_value(letter) == value
    assert "truncated" not in letter
    assert (letter["topic"], letter["partition"], letter["offset"]) == ("notify", 3, 1234)


@pytest.mark.parametrize(
    "value",
    [
        b"\xff" * 800_000,  # base64 grows it by a third
        b"\x01" * 900_000,  # valid UTF-8; JSON escapes each byte to six
        ("\u00e9" * 500_000).encode(),  # two-byte characters, cut between their bytes
        b"x" * (MAX_WHOLE_VALUE_BYTES + 1),
    ],
)
def test_a_large_value_keeps_a_prefix_its_length_and_its_hash(value: bytes) -> None:
    encoded = dead_letter("not JSON", ORIGIN, value, "agents")
    assert len(encoded) < PRODUCER_LIMIT
    letter = orjson.loads(encoded)
    assert letter["truncated"] is True
    assert letter["value_length"] == len(value)
    assert letter["value_sha256"] == hashlib.sha256(value).hexdigest()
    kept = original_value(letter)
    assert kept is not None
    assert value.startswith(kept)
    assert TRUNCATED_PREFIX_BYTES - 1 <= len(kept) <= TRUNCATED_PREFIX_BYTES


def test_the_largest_whole_value_fits_even_when_json_escapes_every_byte() -> None:
    value = b"\x01" * MAX_WHOLE_VALUE_BYTES
    encoded = dead_letter("not JSON", ORIGIN, value, "agents")
    assert len(encoded) < PRODUCER_LIMIT
    assert original_value(orjson.loads(encoded)) == value


def test_a_long_reason_is_bounded() -> None:
    letter = orjson.loads(dead_letter("x" * 100_000, ORIGIN, b"{}", "agents"))
    assert 100 < len(letter["error"]) < 3000


@pytest.mark.parametrize(
    ("error", "kind"),
    [
        (
            "not JSON: unexpected character: line 1 column 1 (char 0)",
            "not JSON: unexpected character",
        ),
        ("tap 'sys: cpu' amount is negative: -3", "tap '*' amount is negative"),
        ("field 'timestamp': no such date: '2024-13-01'", "field '*': no such date"),
        ('header "origin": entry 12 passes the end', "header '*': entry N passes the end"),
        ("empty archive message", "empty archive message"),
        ("", "unknown"),
        ("path C:\\ is bad\\", "path C:\\ is bad"),  # a valid tag value: no trailing backslash
    ],
)
def test_a_reason_counts_by_its_kind_without_the_input_it_quotes(error: str, kind: str) -> None:
    assert reason_kind(error) == kind


def test_every_input_of_a_template_has_one_kind_and_a_kind_is_bounded() -> None:
    names = ("a", "b'c", 'd"e', "f: g")
    kinds = {reason_kind(f"unknown type {name!r}: engine {n}") for n in range(50) for name in names}
    assert kinds == {"unknown type '*'"}
    assert len(reason_kind("word " * 1000)) == MAX_KIND_CHARS
