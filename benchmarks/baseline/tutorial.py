"""BASELINE: the tutorial's monitoring model and archiver, as pure steps.

Deliberately as the tutorial builds them, flaws included, because that is
what is being measured:

- a chain of regular expressions tried on every report's tap (and matched a
  second time to read the slot);
- metric names that glue model, slot and metric into one measurement name;
- one dict per point, stamped with the time it is archived, not the time the
  engine reported;
- only sensor reports and engine states; everything else is dropped.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

RECORD_COUNT = re.compile("manifold.([0-9]+).records.count")
RECORD_SIZE = re.compile("manifold.([0-9]+).records.size")
REJECTED_SCHEMA = re.compile("manifold.([0-9]+).records.rejected.by.schema")
REJECTED_ENCODING = re.compile("manifold.([0-9]+).records.rejected.by.encoding")

Record = dict[str, Any]


class MonitoringModel:
    """The tutorial's `action(datum)`, with its module globals kept on an object."""

    def __init__(self, src_to_model: dict[str, str]) -> None:
        self.src_to_model = src_to_model
        self.buffer: dict[str, float] = {}

    def find_model(self, src: str) -> str:
        return self.src_to_model.get(src, src)

    def action(self, datum: dict[str, Any]) -> Iterator[Record]:
        if datum.get("type") == "engine-state":
            status = {"running": 1, "error": 2}.get(datum["state"], 0)
            yield make_record(f"{self.find_model(datum['src'])}.engine.status", status)
            return
        if datum.get("type") != "sensor-report":
            return
        model = self.find_model(datum["src"])
        tap, data = datum["tap"], datum["data"]
        if RECORD_COUNT.match(tap):
            slot = RECORD_COUNT.match(tap).group(1)  # type: ignore[union-attr]
            yield make_record(f"{model}.{slot}.record.count", data)
            yield from self.throughput(model, slot, datum)
        elif RECORD_SIZE.match(tap):
            slot = RECORD_SIZE.match(tap).group(1)  # type: ignore[union-attr]
            yield make_record(f"{model}.{slot}.record.size", data)
        elif REJECTED_SCHEMA.match(tap):
            slot = REJECTED_SCHEMA.match(tap).group(1)  # type: ignore[union-attr]
            yield make_record(f"{model}.{slot}.record.rejected.by.schema.count", data)
        elif REJECTED_ENCODING.match(tap):
            slot = REJECTED_ENCODING.match(tap).group(1)  # type: ignore[union-attr]
            yield make_record(f"{model}.{slot}.record.rejected.by.encoding.count", data)
        elif tap == "sys.cpu.utilization":
            yield make_record(f"{model}.cpu.utilization", data)
        elif tap == "sys.memory":
            yield make_record(f"{model}.memory", data)

    def throughput(self, model: str, slot: str, datum: dict[str, Any]) -> Iterator[Record]:
        """Records per second from the counts, accumulated while delta_time is 0."""
        count_key, delta_key = f"{model}.{slot}.count", f"{model}.{slot}.delta"
        if count_key not in self.buffer:
            self.buffer[count_key] = _number(datum["data"])
            return
        if datum.get("delta_time", 0) != 0:
            if delta_key in self.buffer:
                delta_n = self.buffer[count_key] - _number(datum["data"])
                yield make_record(f"{model}.{slot}.rps", abs(delta_n / self.buffer[delta_key]))
            self.buffer[delta_key] = datum["delta_time"]
        else:
            self.buffer[count_key] += _number(datum["data"])


def make_record(name: str, value: Any) -> Record:
    return {"name": name, "value": value}


def to_point(record: Record) -> dict[str, Any]:
    """The archiver's point: the record's name as measurement, stamped now."""
    value = record["value"]
    if isinstance(value, list):  # the tutorial assumed numbers; lists would not be written
        value = float(len(value))
    return {
        "measurement": record["name"],
        "time": datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ"),
        "fields": {"value": float(value)},
    }


def _number(data: Any) -> float:
    return float(sum(data)) if isinstance(data, list) else float(data)
