"""Provisioned Grafana dashboards as data: their panels, queries, variables and
annotations, and the structure checks a dashboard must pass to be shipped.

Everything here is pure: it reads dashboard JSON and returns plain values, so
the tests, the snapshot renderer and anyone else see the dashboards the same way.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from enginewatch.dashboards.interpolation import SERVER_MACROS, referenced_names
from enginewatch.dashboards.query_columns import select_columns, table_columns

GRID_COLUMNS = 24
# Grafana's own variables, always defined.
BUILTIN_NAMES = frozenset(
    {"__from", "__to", "__range", "__range_s", "__range_ms", "__rate_interval", "__dashboard"}
) | frozenset(SERVER_MACROS)
# Alias patterns of the InfluxDB datasource ($tag_x, $col, $m, $measurement, $1),
# not template variables.
ALIAS_NAMES = frozenset({"col", "m", "measurement"})


class DashboardError(ValueError):
    """A dashboard file cannot be read as a Grafana dashboard."""


@dataclass(frozen=True, slots=True)
class GridPos:
    x: int
    y: int
    w: int
    h: int

    def overlaps(self, other: GridPos) -> bool:
        return (
            self.x < other.x + other.w
            and other.x < self.x + self.w
            and self.y < other.y + other.h
            and other.y < self.y + self.h
        )


@dataclass(frozen=True, slots=True)
class Target:
    """One InfluxQL query of a panel."""

    ref_id: str
    query: str
    result_format: str
    alias: str
    datasource_uid: str | None


@dataclass(frozen=True, slots=True)
class Panel:
    id: int
    type: str
    title: str
    grid: GridPos
    targets: tuple[Target, ...]
    datasource_uid: str | None
    raw: Mapping[str, Any] = field(repr=False, compare=False)

    @property
    def max_data_points(self) -> int | None:
        value = self.raw.get("maxDataPoints")
        return int(value) if isinstance(value, int | float) else None

    @property
    def min_interval(self) -> str | None:
        value = self.raw.get("interval")
        return value if isinstance(value, str) and value else None


@dataclass(frozen=True, slots=True)
class Variable:
    """A template variable of type `query` (the only kind these dashboards use)."""

    name: str
    query: str
    multi: bool
    include_all: bool
    custom_all_value: str | None
    sort: int
    datasource_uid: str | None
    current: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class Annotation:
    name: str
    query: str
    datasource_uid: str | None
    text_column: str
    tags_column: str
    enabled: bool
    icon_color: str = ""


@dataclass(frozen=True, slots=True)
class Dashboard:
    uid: str
    title: str
    path: Path | None
    panels: tuple[Panel, ...]
    variables: tuple[Variable, ...]
    annotations: tuple[Annotation, ...]
    time_from: str
    time_to: str
    raw: Mapping[str, Any] = field(repr=False, compare=False)

    def queries(self) -> Iterator[tuple[Panel, Target]]:
        for panel in self.panels:
            for target in panel.targets:
                yield panel, target


@dataclass(frozen=True, slots=True)
class Datasource:
    """A provisioned datasource, as far as queries depend on it."""

    uid: str
    type: str
    time_interval: str | None


def load_datasources(directory: Path) -> dict[str, Datasource]:
    """The datasources of a Grafana provisioning folder (`datasources/*.yaml`), by uid."""
    found: dict[str, Datasource] = {}
    for path in sorted([*directory.glob("*.yaml"), *directory.glob("*.yml")]):
        try:
            data = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
        except (OSError, yaml.YAMLError) as exc:
            raise DashboardError(f"{path}: {exc}") from None
        for entry in data.get("datasources") or []:
            if not isinstance(entry, dict) or "uid" not in entry:
                raise DashboardError(f"{path}: a datasource without a uid")
            interval = (entry.get("jsonData") or {}).get("timeInterval")
            found[str(entry["uid"])] = Datasource(
                uid=str(entry["uid"]),
                type=str(entry.get("type", "")),
                time_interval=str(interval) if interval else None,
            )
    return found


def load_dashboard(path: Path) -> Dashboard:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise DashboardError(f"{path}: {exc}") from None
    return parse_dashboard(data, path)


def load_dashboards(directory: Path) -> list[Dashboard]:
    paths = sorted(directory.glob("*.json"))
    if not paths:
        raise DashboardError(f"no dashboards (*.json) in {directory}")
    return [load_dashboard(path) for path in paths]


def default_dashboard_dir() -> Path | None:
    """grafana/dashboards of the working directory, else of the source tree."""
    for base in (Path.cwd(), Path(__file__).resolve().parents[2]):
        candidate = base / "grafana" / "dashboards"
        if candidate.is_dir():
            return candidate
    return None


def datasources_dir(dashboard_dir: Path) -> Path:
    """Where Grafana's provisioning keeps the datasources of a dashboards folder."""
    return dashboard_dir.parent / "provisioning" / "datasources"


def provisioned_datasources(dashboard_dir: Path) -> dict[str, Datasource]:
    """The datasources provisioned beside a dashboards folder; none when it has none."""
    folder = datasources_dir(dashboard_dir)
    return load_datasources(folder) if folder.is_dir() else {}


def parse_dashboard(data: Any, path: Path | None = None) -> Dashboard:
    where = str(path) if path else "dashboard"
    if not isinstance(data, dict):
        raise DashboardError(f"{where}: not a JSON object")
    for key in ("uid", "title", "panels"):
        if key not in data:
            raise DashboardError(f"{where}: no {key!r}")
    time = data.get("time") or {}
    return Dashboard(
        uid=str(data["uid"]),
        title=str(data["title"]),
        path=path,
        panels=tuple(_panel(p, where) for p in _flatten(data["panels"])),
        variables=tuple(_variable(v) for v in (data.get("templating") or {}).get("list", [])),
        annotations=tuple(
            _annotation(a)
            for a in (data.get("annotations") or {}).get("list", [])
            if _datasource_type(a.get("datasource")) != "grafana"
        ),
        time_from=str(time.get("from", "now-1h")),
        time_to=str(time.get("to", "now")),
        raw=data,
    )


def _flatten(panels: Any) -> Iterator[Mapping[str, Any]]:
    """Panels, with those inside collapsed rows."""
    for panel in panels or []:
        yield panel
        yield from panel.get("panels", []) if panel.get("type") == "row" else []


def _panel(data: Mapping[str, Any], where: str) -> Panel:
    grid = data.get("gridPos") or {}
    try:
        pos = GridPos(int(grid["x"]), int(grid["y"]), int(grid["w"]), int(grid["h"]))
    except (KeyError, TypeError, ValueError):
        raise DashboardError(f"{where}: panel {data.get('title')!r}: no valid gridPos") from None
    targets = tuple(
        Target(
            ref_id=str(t.get("refId", "")),
            query=str(t.get("query", "")),
            result_format=str(t.get("resultFormat", "time_series")),
            alias=str(t.get("alias", "") or ""),
            datasource_uid=_datasource_uid(t.get("datasource")),
        )
        for t in data.get("targets", [])
    )
    return Panel(
        id=int(data.get("id", 0)),
        type=str(data.get("type", "")),
        title=str(data.get("title", "")),
        grid=pos,
        targets=targets,
        datasource_uid=_datasource_uid(data.get("datasource")),
        raw=data,
    )


def _variable(data: Mapping[str, Any]) -> Variable:
    query = data.get("query", "")
    if isinstance(query, dict):
        query = query.get("query", "")
    current = (data.get("current") or {}).get("value")
    if current is None:
        selected: tuple[str, ...] = ()
    elif isinstance(current, list):
        selected = tuple(str(v) for v in current)
    else:
        selected = (str(current),)
    all_value = data.get("allValue")
    return Variable(
        name=str(data.get("name", "")),
        query=str(query),
        multi=bool(data.get("multi")),
        include_all=bool(data.get("includeAll")),
        custom_all_value=all_value if isinstance(all_value, str) and all_value else None,
        sort=int(data.get("sort", 0) or 0),
        datasource_uid=_datasource_uid(data.get("datasource")),
        current=selected,
    )


def _annotation(data: Mapping[str, Any]) -> Annotation:
    return Annotation(
        name=str(data.get("name", "")),
        query=str(data.get("query", "")),
        datasource_uid=_datasource_uid(data.get("datasource")),
        text_column=str(data.get("textColumn", "") or ""),
        tags_column=str(data.get("tagsColumn", "") or ""),
        enabled=bool(data.get("enable", True)),
        icon_color=str(data.get("iconColor", "") or ""),
    )


def _datasource_uid(ref: Any) -> str | None:
    if isinstance(ref, dict):
        uid = ref.get("uid")
        return str(uid) if uid is not None else None
    return str(ref) if isinstance(ref, str) else None


def _datasource_type(ref: Any) -> str | None:
    return str(ref.get("type")) if isinstance(ref, dict) and "type" in ref else None


@dataclass(frozen=True, slots=True)
class Problem:
    """One structure fault: what it is about (a panel, variable or annotation) and what."""

    subject: str
    text: str

    def __str__(self) -> str:
        return f"{self.subject}: {self.text}"


def find_problems(dashboard: Dashboard, datasource_uids: set[str]) -> list[Problem]:
    """Everything that would make Grafana show the dashboard wrong; empty when fine.

    Checks: unique panel ids, every datasource reference resolves to a
    provisioned datasource, every variable used is defined, panels fit the
    24-column grid and do not overlap, every panel query has text and a
    unique refId; a table panel's queries are tables and its overrides and
    sort name their columns; an annotation has a query over `$timeFilter`
    whose columns hold its text and tags.
    """
    problems: list[Problem] = []

    def add(subject: str, text: str) -> None:
        problems.append(Problem(subject, text))

    seen_ids: dict[int, str] = {}
    for panel in dashboard.panels:
        subject = f"panel {panel.title!r}"
        if panel.id in seen_ids:
            add(subject, f"panel id {panel.id} is also used by {seen_ids[panel.id]!r}")
        seen_ids[panel.id] = panel.title
        if panel.id <= 0:
            add(subject, "has no positive id")
        grid = panel.grid
        if grid.x < 0 or grid.w < 1 or grid.x + grid.w > GRID_COLUMNS or grid.y < 0 or grid.h < 1:
            add(subject, f"does not fit the grid: {grid}")
    top_level = [p for p in dashboard.panels if not _inside_collapsed_row(dashboard, p)]
    for i, first in enumerate(top_level):
        for second in top_level[i + 1 :]:
            if first.grid.overlaps(second.grid):
                add(f"panel {second.title!r}", f"overlaps panel {first.title!r}")

    def check_uid(uid: str | None, subject: str, query: str | None = None) -> None:
        lead = f"{query} " if query else ""
        if uid is None:
            add(subject, f"{lead}has no datasource")
        elif uid not in datasource_uids:
            add(subject, f"{lead}refers to datasource {uid!r}, not provisioned")

    defined = {v.name for v in dashboard.variables}
    for panel in dashboard.panels:
        if panel.type == "row":
            continue
        subject = f"panel {panel.title!r}"
        check_uid(panel.datasource_uid, subject)
        if not panel.targets:
            add(subject, "has no query")
        ref_ids = [t.ref_id for t in panel.targets]
        if len(set(ref_ids)) != len(ref_ids) or "" in ref_ids:
            add(subject, "has missing or repeated refIds")
        for target in panel.targets:
            query = f"query {target.ref_id}"
            check_uid(target.datasource_uid, subject, query)
            if not target.query.strip():
                add(subject, f"{query} is empty")
            for unknown in sorted(referenced_names(target.query) - defined - BUILTIN_NAMES):
                add(subject, f"{query} uses undefined variable ${unknown}")
            for unknown in sorted(_alias_names(target.alias) - defined - BUILTIN_NAMES):
                add(subject, f"{query} alias uses undefined variable ${unknown}")
    for index, variable in enumerate(dashboard.variables):
        subject = f"variable ${variable.name}"
        check_uid(variable.datasource_uid, subject)
        # A variable may only use the variables defined before it.
        earlier = {v.name for v in dashboard.variables[:index]}
        for unknown in sorted(referenced_names(variable.query) - earlier - BUILTIN_NAMES):
            add(subject, f"uses ${unknown}, not defined before it")
    for panel in dashboard.panels:
        if panel.type == "table":
            for text in _table_problems(panel):
                add(f"panel {panel.title!r}", text)
    for annotation in dashboard.annotations:
        subject = f"annotation {annotation.name!r}"
        check_uid(annotation.datasource_uid, subject)
        for unknown in sorted(referenced_names(annotation.query) - defined - BUILTIN_NAMES):
            add(subject, f"uses undefined variable ${unknown}")
        for text in _annotation_problems(annotation):
            add(subject, text)
    names = [v.name for v in dashboard.variables]
    for repeated in sorted({n for n in names if names.count(n) > 1}):
        add(f"variable ${repeated}", "is defined more than once")
    return problems


def _table_problems(panel: Panel) -> Iterator[str]:
    """A table panel's queries give tables, and what its overrides and sort name exists."""
    columns: set[str] = set()
    known = True
    for target in panel.targets:
        if target.result_format != "table":
            yield (
                f"query {target.ref_id} has resultFormat {target.result_format!r}: "
                "a table needs 'table'"
            )
        found = table_columns(target.query)
        if found is None:
            known = False
        else:
            columns.update(found)
    if not known:
        return  # a column that cannot be named from the text: nothing to compare with
    shown = set(columns)
    overrides = (panel.raw.get("fieldConfig") or {}).get("overrides") or []
    for override in overrides:
        matcher = override.get("matcher") or {}
        if matcher.get("id") != "byName":
            continue
        name = str(matcher.get("options"))
        if name not in columns:
            yield f"an override names column {name!r}, not among {_listed(columns)}"
            continue
        for prop in override.get("properties") or []:
            if prop.get("id") == "displayName":
                shown.discard(name)
                shown.add(str(prop.get("value")))
    for sort in (panel.raw.get("options") or {}).get("sortBy") or []:
        name = str(sort.get("displayName"))
        if name not in shown:
            yield f"sorts by {name!r}, not among its columns {_listed(shown)}"


def _annotation_problems(annotation: Annotation) -> Iterator[str]:
    """An annotation's query is bounded by the time range and holds its text and tags."""
    if not annotation.query.strip():
        yield "has no query"
        return
    if "$timeFilter" not in annotation.query:
        # Grafana fetches the events of all time, on every refresh.
        yield "query has no $timeFilter"
    selected = select_columns(annotation.query)
    if selected is None:
        return
    wanted = [("textColumn", annotation.text_column)]
    wanted += [("tagsColumn", c.strip()) for c in annotation.tags_column.split(",") if c.strip()]
    for key, name in wanted:
        if name and name not in selected:
            yield f"{key} {name!r} is not among its query's columns {_listed(selected)}"


def _listed(names: Iterable[str]) -> str:
    return ", ".join(sorted(set(names))) or "none"


def structure_problems(dashboard: Dashboard, datasource_uids: set[str]) -> list[str]:
    """`find_problems` as lines, each starting with the dashboard's title."""
    return [f"{dashboard.title}: {p}" for p in find_problems(dashboard, datasource_uids)]


def _alias_names(alias: str) -> set[str]:
    return {
        n
        for n in referenced_names(alias)
        if n not in ALIAS_NAMES and not n.startswith("tag_") and not n.isdigit()
    }


def _inside_collapsed_row(dashboard: Dashboard, panel: Panel) -> bool:
    for row in dashboard.raw.get("panels", []):
        if row.get("type") == "row" and any(p.get("id") == panel.id for p in row.get("panels", [])):
            return True
    return False
