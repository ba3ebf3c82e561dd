"""A dashboard's queries as Grafana sends them to InfluxDB, for one time range.

Template variables are resolved as Grafana resolves them on load: each
variable's own query runs (with the variables before it already set), its
values are sorted as the variable says, and the selection is the one asked
for, else the dashboard's saved one when still an option, else the first
option ("All" for variables that include it). A variable without values is empty, as
Grafana's "None" is.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from enginewatch.core.influxql import InfluxQLClient, Series
from enginewatch.dashboards.dashboards import (
    Annotation,
    Dashboard,
    Datasource,
    Panel,
    Target,
    Variable,
)
from enginewatch.dashboards.interpolation import (
    ALL_VALUE,
    TimeRange,
    VariableValue,
    calculate_interval_ms,
    interpolate,
    replace_macros,
    replace_variables,
)

GRID_COLUMNS = 24
# Grafana sizes a panel's max data points by its width in pixels; this is the
# width of a dashboard on a common 1920-pixel screen, less Grafana's menu.
DASHBOARD_WIDTH_PX = 1600
# The interval Grafana assumes when a datasource has no `timeInterval`.
VARIABLE_QUERY_INTERVAL_MS = 1000
_FIRST_NUMBER = re.compile(r".*?(\d+)", re.DOTALL)


class VariableError(ValueError):
    """A variable cannot take the value asked for, or has no value at all."""


@dataclass(frozen=True, slots=True)
class PanelQuery:
    """One target of a panel, interpolated: the text InfluxDB receives."""

    panel: Panel
    target: Target
    influxql: str
    interval_ms: int


@dataclass(frozen=True, slots=True)
class AnnotationQuery:
    annotation: Annotation
    influxql: str


def variable_values(variable: Variable, series: Sequence[Series]) -> list[str]:
    """Grafana's InfluxDB response parser for variable queries, then the variable's sort."""
    value_first = any(
        word in variable.query.lower() for word in ("show field keys", "show retention policies")
    )
    found: dict[str, None] = {}
    for one in series:
        for row in one.values:
            value = row[0] if value_first or len(row) < 2 else row[1]
            found[str(value)] = None
    return sort_values(list(found), variable.sort)


def sort_values(values: list[str], sort: int) -> list[str]:
    """Grafana's variable sort orders (0 keeps the query's order)."""
    if sort in (1, 2):
        ordered = sorted(values)
    elif sort in (3, 4):
        ordered = sorted(values, key=_leading_number)
    elif sort in (5, 6):
        ordered = sorted(values, key=str.lower)
    else:
        return values
    return ordered[::-1] if sort in (2, 4, 6) else ordered


def _leading_number(value: str) -> int:
    # Grafana sorts by the first run of digits; values without one come first.
    match = _FIRST_NUMBER.match(value)
    return int(match.group(1)) if match else -1


def select(variable: Variable, options: list[str], asked: Sequence[str] | None) -> VariableValue:
    """The variable's selection among its options."""
    if asked:
        if list(asked) == ["All"] or list(asked) == [ALL_VALUE]:
            if not variable.include_all:
                raise VariableError(f"${variable.name} has no All option")
            return _all(variable, options)
        missing = [value for value in asked if value not in options]
        if missing:
            raise VariableError(
                f"${variable.name}: {', '.join(missing)} not among its values "
                f"({', '.join(options) or 'none'})"
            )
        if len(asked) > 1 and not variable.multi:
            raise VariableError(f"${variable.name} takes one value, not {len(asked)}")
        chosen: str | tuple[str, ...] = tuple(asked) if variable.multi else asked[0]
        return VariableValue(variable.name, chosen, tuple(options), variable.custom_all_value)
    saved = list(variable.current)
    if saved and saved[0] == ALL_VALUE and variable.include_all:
        return _all(variable, options)
    if saved and all(value in options for value in saved):
        return select(variable, options, saved)
    if variable.include_all:
        return _all(variable, options)
    if not options:
        # Grafana's "None": the variable stands for an empty value.
        return VariableValue(variable.name, "", (), variable.custom_all_value)
    return select(variable, options, [options[0]])


def _all(variable: Variable, options: list[str]) -> VariableValue:
    return VariableValue(variable.name, (ALL_VALUE,), tuple(options), variable.custom_all_value)


def resolve_variables(
    dashboard: Dashboard,
    client: InfluxQLClient,
    time_range: TimeRange,
    asked: Mapping[str, Sequence[str]] | None = None,
) -> dict[str, VariableValue]:
    """Every template variable of the dashboard with its selection, in order."""
    asked = asked or {}
    unknown = set(asked) - {v.name for v in dashboard.variables}
    if unknown:
        raise VariableError(f"{dashboard.title} has no variable {', '.join(sorted(unknown))}")
    resolved: dict[str, VariableValue] = {}
    for variable in dashboard.variables:
        query = variable_query(variable, resolved, time_range)
        options = variable_values(variable, client.query(query))
        resolved[variable.name] = select(variable, options, asked.get(variable.name))
    return resolved


def variable_query(
    variable: Variable, resolved: Mapping[str, VariableValue], time_range: TimeRange
) -> str:
    return interpolate(variable.query, resolved, time_range, VARIABLE_QUERY_INTERVAL_MS)


def max_data_points(panel: Panel) -> int:
    if panel.max_data_points:
        return panel.max_data_points
    return max(1, panel.grid.w * DASHBOARD_WIDTH_PX // GRID_COLUMNS)


def panel_interval_ms(
    panel: Panel, time_range: TimeRange, datasources: Mapping[str, Datasource]
) -> int:
    """The query interval Grafana computes for the panel's request."""
    source = datasources.get(panel.datasource_uid or "")
    low_limit = panel.min_interval or (source.time_interval if source else None)
    return calculate_interval_ms(time_range, max_data_points(panel), low_limit)


def panel_queries(
    dashboard: Dashboard,
    variables: Mapping[str, VariableValue],
    time_range: TimeRange,
    datasources: Mapping[str, Datasource],
) -> list[PanelQuery]:
    """Every target of every panel, interpolated as Grafana would."""
    out = []
    for panel, target in dashboard.queries():
        interval = panel_interval_ms(panel, time_range, datasources)
        text = interpolate(target.query, variables, time_range, interval)
        out.append(PanelQuery(panel, target, text, interval))
    return out


def annotation_queries(
    dashboard: Dashboard, variables: Mapping[str, VariableValue], time_range: TimeRange
) -> list[AnnotationQuery]:
    """The enabled annotation queries, interpolated (they use no interval)."""
    return [
        AnnotationQuery(
            annotation,
            replace_macros(
                replace_variables(annotation.query, variables, time_range),
                time_range,
                VARIABLE_QUERY_INTERVAL_MS,
            ),
        )
        for annotation in dashboard.annotations
        if annotation.enabled
    ]
