"""The line protocol encoder: escaping, field types, and what it refuses."""

from __future__ import annotations

import math
import re

import pytest
from hypothesis import given
from hypothesis import strategies as st

from archiver.lineprotocol import LineProtocolError, encode_point
from enginewatch.core.points import Point

T = 1700000000000000000


def point(
    measurement: str = "m",
    tags: dict[str, str] | None = None,
    fields: dict[str, float | int | str] | None = None,
    time: int = T,
) -> Point:
    return Point(measurement, tags or {}, fields if fields is not None else {"f": 1.0}, time)


@pytest.mark.parametrize(
    ("given_point", "line"),
    [
        (point(), f"m f=1.0 {T}"),
        (
            point("records", {"model": "a", "engine": "e"}, {"count": 10.0, "rps": 2.5}),
            f"records,engine=e,model=a count=10.0,rps=2.5 {T}",
        ),
        # Floats always look like floats, ints carry the i suffix.
        (point(fields={"f": 0.0, "g": 1e16, "h": 1e-05}), f"m f=0.0,g=1e+16,h=1e-05 {T}"),
        (point(fields={"code": 1, "ok": -1}), f"m code=1i,ok=-1i {T}"),
        (point(fields={"big": 2**63 - 1}), f"m big=9223372036854775807i {T}"),
        # Measurement: commas and spaces escaped, '=' left alone.
        (point("a b,c=d"), f"a\\ b\\,c=d f=1.0 {T}"),
        # Tag keys and values: commas, equals signs, spaces.
        (
            point(tags={"model": "fraud model, v=2", "k y": "x"}),
            f"m,k\\ y=x,model=fraud\\ model\\,\\ v\\=2 f=1.0 {T}",
        ),
        (
            point(tags={"model": "Modèle ünïcode 模型"}),
            f"m,model=Modèle\\ ünïcode\\ 模型 f=1.0 {T}",
        ),
        # A backslash that does not precede an escaped character stays as it is.
        (point(tags={"path": "C:\\models\\x"}), f"m,path=C:\\models\\x f=1.0 {T}"),
        # In tags, even a backslash before an escaped character reads back intact.
        (point(tags={"t": "a\\,b\\=c\\ d"}), f"m,t=a\\\\,b\\\\=c\\\\ d f=1.0 {T}"),
        (point(tags={"q": 'say "hi"'}), f'm,q=say\\ "hi" f=1.0 {T}'),
        # Line breaks and tabs in names are written as two characters.
        (point("a\nb", {"t": "x\ty\rz"}), f"a\\nb,t=x\\ty\\rz f=1.0 {T}"),
        # Empty tag values are left out: InfluxDB treats them as absent.
        (point(tags={"a": "", "b": "1"}), f"m,b=1 f=1.0 {T}"),
        # Field keys escape like tag keys; string values escape quotes and backslashes only.
        (point(fields={"a=b c,d": 1.0}), f"m a\\=b\\ c\\,d=1.0 {T}"),
        (
            point(fields={"text": 'say "hi"\\ \nnext line, ü'}),
            f'm text="say \\"hi\\"\\\\ \nnext line, ü" {T}',
        ),
        (point(fields={"ref": ""}), f'm ref="" {T}'),
        # Field order is kept; tags are sorted by key.
        (
            point(tags={"z": "1", "a": "2"}, fields={"z": 1.0, "a": 2.0}),
            f"m,a=2,z=1 z=1.0,a=2.0 {T}",
        ),
        (point(time=-5), "m f=1.0 -5"),
    ],
)
def test_encodes(given_point: Point, line: str) -> None:
    assert encode_point(given_point) == line


@pytest.mark.parametrize(
    ("bad", "message"),
    [
        (point("#comment"), "starts with '#'"),
        (point(tags={"": "x"}), "tag key is empty"),
        (point(fields={"": 1.0}), "field key is empty"),
        (point(fields={}), "at least one field"),
        (point(fields={"f": math.inf}), "cannot store"),
        (point(fields={"f": math.nan}), "cannot store"),
        (point(fields={"f": 2**63}), "outside int64"),
        (point(fields={"f": True}), "unsupported type bool"),
        (point(time=2**63), "int64 range"),
        (point(tags={"t": "ends with\\"}), "ends with a backslash"),
        # Names over 256 bytes: the series caches stay bounded in bytes.
        (point("m" * 257), "measurement 'mmmm"),
        (point(tags={"k" * 257: "v"}), "is longer than 256 bytes"),
        (point(tags={"t": "\u00e9" * 129}), "tag value"),
        (point(fields={"f" * 257: 1.0}), "field key"),
        (point(tags={"t\\": "a"}), "ends with a backslash"),
        (point("m\\=x"), "backslash before '='"),
        (point("m\\ x"), "backslash before ' '"),
        (point('m\\"x'), "backslash before '\"'"),
        (point(fields={"f\\,": 1.0}), "backslash before ','"),
        (point(fields={'f\\"': 1.0}), "backslash before '\"'"),
    ],
)
def test_refuses_what_line_protocol_cannot_carry(bad: Point, message: str) -> None:
    with pytest.raises(LineProtocolError, match=re.escape(message)):
        encode_point(bad)


names = st.text(st.characters(blacklist_categories=["Cs"]), min_size=1, max_size=12)


@given(
    measurement=names.filter(lambda s: not s.startswith("#")),
    tags=st.dictionaries(names, names, max_size=4),
    value=st.floats(allow_nan=False, allow_infinity=False),
)
def test_one_line_per_point(measurement: str, tags: dict[str, str], value: float) -> None:
    """Whatever the names, a point is one line, and its float stays a float."""
    try:
        line = encode_point(point(measurement, tags, {"f": value}))
    except LineProtocolError as exc:
        refusal = str(exc)
        line = ""
    else:
        refusal = ""
    if refusal:
        assert "backslash" in refusal
        return
    assert "\n" not in line
    assert line.endswith(f" f={value!r} {T}")
    assert "." in repr(value) or "e" in repr(value)
