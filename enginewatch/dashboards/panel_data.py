"""InfluxQL results shaped the way Grafana's InfluxDB datasource shapes them:
named time series (with the target's alias) and tables.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from enginewatch.core.influxql import Series

_ALIAS_PATTERN = re.compile(r"\$(\w+)|\[\[([\s\S]+?)\]\]")


@dataclass(frozen=True, slots=True)
class TimeSeries:
    """One value column of one InfluxDB series; times in epoch milliseconds."""

    name: str
    tags: Mapping[str, str]
    times: Sequence[int]
    values: Sequence[Any]


@dataclass(frozen=True, slots=True)
class Table:
    """Grafana's table shape: Time, then the series' tags, then its value columns."""

    columns: Sequence[str]
    rows: Sequence[Sequence[Any]]


def series_name(series: Series, column: int, alias: str) -> str:
    """Grafana's series naming: the alias with its patterns, else `name.column {tags}`."""
    if not alias:
        name = f"{series.name}.{series.columns[column]}"
        if series.tags:
            name += " {" + ", ".join(f"{k}: {v}" for k, v in series.tags.items()) + "}"
        return name
    segments = series.name.split(".")

    def replace(match: re.Match[str]) -> str:
        group = match.group(1) or match.group(2)
        if group in ("m", "measurement"):
            return series.name
        if group == "col":
            return str(series.columns[column])
        if group.isdigit():
            index = int(group)
            return segments[index] if index < len(segments) else match.group(0)
        if not group.startswith("tag_") or not series.tags:
            return match.group(0)
        return str(series.tags.get(group[4:], ""))

    return _ALIAS_PATTERN.sub(replace, alias)


def time_series(results: Sequence[Series], alias: str = "") -> list[TimeSeries]:
    """Every value column of every series, as Grafana's time series."""
    out = []
    for series in results:
        if not series.columns or series.columns[0] != "time":
            continue
        times = [int(row[0]) for row in series.values]
        for column in range(1, len(series.columns)):
            out.append(
                TimeSeries(
                    name=series_name(series, column, alias),
                    tags=series.tags,
                    times=times,
                    values=[row[column] for row in series.values],
                )
            )
    return out


def table(results: Sequence[Series]) -> Table:
    """All series as one table, the columns taken from the first series."""
    if not results:
        return Table([], [])
    first = results[0]
    if not first.columns:
        return Table([], [])
    lead = "Time" if first.columns[0] == "time" else first.columns[0]
    columns = [lead, *first.tags, *first.columns[1:]]
    rows: list[list[Any]] = []
    for series in results:
        for values in series.values:
            rows.append([values[0], *series.tags.values(), *values[1:]])
    return Table(columns, rows)


def last_value(series: Sequence[TimeSeries]) -> Any:
    """The last value that is not null of the first series that has one (a stat's value)."""
    for one in series:
        for value in reversed(one.values):
            if value is not None:
                return value
    return None
