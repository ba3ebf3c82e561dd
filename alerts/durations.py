"""Durations in the rules file: `500ms`, `30s`, `5m`, `1h`, `1d`, or several
(`1h30m`), as integer nanoseconds, event time's unit. A bare number is an
error: seconds or minutes?"""

from __future__ import annotations

import re
from typing import Annotated, Any

from pydantic import BeforeValidator

NS = 1_000_000_000
_UNITS = {"ms": 1_000_000, "s": NS, "m": 60 * NS, "h": 3600 * NS, "d": 86400 * NS}
_DURATION = re.compile(r"(\d+)(ms|s|m|h|d)")


def parse_duration(value: Any) -> int:
    """`30s`, `5m`, `1h30m`, `1d`, `500ms` -> integer nanoseconds."""
    if isinstance(value, str):
        text = value.strip()
        if text and _DURATION.sub("", text) == "":
            return sum(int(n) * _UNITS[unit] for n, unit in _DURATION.findall(text))
    raise ValueError(f"must be a duration like 30s, 5m or 1h (got {value!r})")


def format_duration(ns: int) -> str:
    """The shortest spelling of a duration `parse_duration` reads back."""
    if ns == 0:
        return "0s"
    parts = []
    for unit in ("d", "h", "m", "s", "ms"):
        size = _UNITS[unit]
        if ns >= size:
            parts.append(f"{ns // size}{unit}")
            ns %= size
    return "".join(parts) if ns == 0 else f"{''.join(parts)}+{ns}ns"


# A field of the rules file that holds a duration.
Duration = Annotated[int, BeforeValidator(parse_duration)]
