"""Tap names -> what a sensor report means, compiled once and cached per name.

Engines report on a small, fixed set of tapping points, so each distinct tap
name is classified once by the compiled patterns and then found in a dict.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from enum import Enum
from functools import lru_cache


class Kind(Enum):
    COUNT = "count"  # an amount per delta_time: the sum of a list
    REJECTION = "rejection"  # a count, or a list of the rejected records
    GAUGE = "gauge"  # a value: the mean of a list


@dataclass(frozen=True, slots=True)
class Tap:
    """What a tap name maps to: its measurement, extra tags and field names.

    `key` names the tap's series among an engine's taps: `manifold.007...` and
    `manifold.7...` write one series, so they carry their amounts together.
    """

    kind: Kind
    measurement: str
    tags: tuple[tuple[str, str], ...]
    field: str
    key: str
    rate_field: str | None = None


_MANIFOLD = re.compile(
    r"manifold\.(\d+)\.records\.(count|size|rejected\.by\.schema|rejected\.by\.encoding)",
    re.ASCII,
)
_JET = re.compile(r"jet\.(\d+)\.(input|output)\.records\.count", re.ASCII)

_SYSTEM = {
    "sys.cpu.utilization": Tap(Kind.GAUGE, "system", (), "cpu_utilization", "sys.cpu.utilization"),
    "sys.memory": Tap(Kind.GAUGE, "system", (), "memory", "sys.memory"),
}


def _number_tag(digits: str) -> str:
    """A slot or jet number without leading zeros: `007` and `7` are one series.

    Done on the digits, not through int(), which refuses very long numbers.
    """
    return digits.lstrip("0") or "0"


def _slot_tags(slot: str) -> tuple[tuple[str, str], ...]:
    # Even slots are a model's inputs, odd slots its outputs.
    direction = "input" if int(slot[-1]) % 2 == 0 else "output"
    return (("slot", _number_tag(slot)), ("direction", direction))


@lru_cache(maxsize=4096)
def classify(name: str) -> Tap:
    """The meaning of a tap name; any name not in the contract is a generic gauge."""
    if name in _SYSTEM:
        return _SYSTEM[name]
    if match := _MANIFOLD.fullmatch(name):
        slot, what = match.groups()
        tags = _slot_tags(slot)
        key = f"manifold.{_number_tag(slot)}.records.{what}"
        if what == "count":
            return Tap(Kind.COUNT, "records", tags, "count", key, "rps")
        if what == "size":
            return Tap(Kind.COUNT, "record_bytes", tags, "bytes", key, "bytes_per_second")
        reason = what.rsplit(".", 1)[1]
        return Tap(Kind.REJECTION, "rejections", (*tags, ("reason", reason)), "count", key)
    if match := _JET.fullmatch(name):
        jet, direction = match.groups()
        tags = (("jet", _number_tag(jet)), ("direction", direction))
        key = f"jet.{_number_tag(jet)}.{direction}.records.count"
        return Tap(Kind.COUNT, "jet_records", tags, "count", key, "rps")
    return Tap(Kind.GAUGE, "sensor", (("tap", name),), "value", name)
