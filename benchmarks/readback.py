"""What a database holds after a run, read back from InfluxDB for the correctness table.

Two readings: every stored point (a point overwritten by a later one of the
same series and time is stored once, so this is what a query sees), and the
shards' write statistics, which count what was accepted and what InfluxDB
refused (`writePointsDropped`: points whose field had another type already).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from enginewatch.harness import influx


@dataclass(frozen=True)
class WriteStats:
    written: int  # points InfluxDB accepted (writePointsOk)
    refused: int  # points it dropped from partly accepted writes (writePointsDropped)


def write_stats(database: str) -> WriteStats:
    """The database's shards' write statistics since InfluxDB started."""
    written = refused = 0
    for series in influx.query("", "SHOW STATS FOR 'shard'"):
        if series.tags.get("database") != database:
            continue
        stats = dict(zip(series.columns, series.values[0], strict=True))
        written += int(stats.get("writePointsOk") or 0)
        refused += int(stats.get("writePointsDropped") or 0)
    return WriteStats(written, refused)


def stored_points(database: str) -> list[dict[str, Any]]:
    """Every point of every measurement: its tags, fields, `time` (ns) and `_measurement`."""
    rows: list[dict[str, Any]] = []
    for series in influx.query(database, "SHOW MEASUREMENTS"):
        for (name,) in series.values:
            quoted = name.replace("\\", "\\\\").replace('"', '\\"')
            rows.extend(influx.rows(database, f'SELECT * FROM "{quoted}"'))
    return rows
