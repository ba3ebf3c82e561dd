"""What a snapshot draws: the dashboard, the chosen time range and variables, and
each panel's query results."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

from enginewatch.dashboards.dashboards import Dashboard, Panel
from enginewatch.dashboards.interpolation import TimeRange, VariableValue
from enginewatch.dashboards.panel_data import Table, TimeSeries


@dataclass(frozen=True, slots=True)
class PanelResult:
    """What a panel's queries returned, or why they failed."""

    panel: Panel
    series: Sequence[TimeSeries] = ()
    tables: Sequence[Table] = ()
    interval_ms: int = 1000
    error: str | None = None


@dataclass(frozen=True, slots=True)
class AnnotationEvent:
    """One event of an annotation query; `colour` is its annotation's `iconColor`
    (a Grafana name or `#hex`; empty: the theme's annotation colour)."""

    time_ms: int
    text: str
    tags: tuple[str, ...] = ()
    colour: str = ""


@dataclass(frozen=True, slots=True)
class SnapshotData:
    dashboard: Dashboard
    time_range: TimeRange
    variables: Mapping[str, VariableValue]
    panels: Sequence[PanelResult]
    annotations: Sequence[AnnotationEvent] = field(default_factory=tuple)


def first_table(result: PanelResult) -> Table | None:
    """The first table with rows: tables and logs show one result, as Grafana's do."""
    tables = [t for t in result.tables if t.rows]
    return tables[0] if tables else None
