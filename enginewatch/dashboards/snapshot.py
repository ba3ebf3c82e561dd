"""`enginewatch snapshot --out DIR`: render dashboards from InfluxDB into PNG files.

For places without a Grafana server (the demo, CI artefacts, incident notes):
each dashboard's queries run against InfluxDB exactly as Grafana would send
them (variables and macros expanded, see enginewatch.dashboards.interpolation), and the
panels are drawn on the dashboard's grid, one PNG per dashboard.

Without --from/--to the time range covers the data in the database (InfluxDB
settings: ENGINEWATCH_INFLUX_URL, ENGINEWATCH_INFLUX_BUCKET as the database,
ENGINEWATCH_INFLUX_TOKEN for InfluxDB 2.x's v1 API).
"""

from __future__ import annotations

import argparse
import logging
import re
import sys
import time
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from pathlib import Path

from enginewatch.core.influxql import InfluxQLClient, InfluxQueryError
from enginewatch.core.settings import load_settings
from enginewatch.dashboards.dashboards import (
    Annotation,
    Dashboard,
    DashboardError,
    Datasource,
    default_dashboard_dir,
    load_dashboard,
    load_dashboards,
    provisioned_datasources,
)
from enginewatch.dashboards.interpolation import InterpolationError, TimeRange
from enginewatch.dashboards.panel_data import Table, table, time_series
from enginewatch.dashboards.panel_queries import (
    VariableError,
    annotation_queries,
    panel_queries,
    resolve_variables,
)
from enginewatch.dashboards.render import AnnotationEvent, PanelResult, SnapshotData, render

logger = logging.getLogger(__name__)

_RELATIVE = re.compile(r"^now(?:([+-])(\d+)([smhdw]))?$")
_UNIT_MS = {"s": 1000, "m": 60_000, "h": 3_600_000, "d": 86_400_000, "w": 604_800_000}
# Padding around the data's own time range, so the first and last points show.
EXTENT_PADDING = 0.03


class SnapshotError(RuntimeError):
    """The snapshot cannot be made; the message says why, in one line."""


def parse_time(text: str, now_ms: int) -> int:
    """`now`, `now-15m` (s, m, h, d, w), RFC 3339, or epoch milliseconds -> epoch ms."""
    text = text.strip()
    relative = _RELATIVE.match(text)
    if relative:
        sign, amount, unit = relative.groups()
        if not sign:
            return now_ms
        offset = int(amount) * _UNIT_MS[unit]
        return now_ms + offset if sign == "+" else now_ms - offset
    if text.isdigit():
        return int(text)
    try:
        stamp = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        raise SnapshotError(
            f"bad time {text!r}: use now, now-1h, 2024-05-01T12:00:00Z or epoch milliseconds"
        ) from None
    if stamp.tzinfo is None:
        stamp = stamp.replace(tzinfo=UTC)  # documented: times without an offset are UTC
    return int(stamp.timestamp() * 1000)


def parse_assignments(items: Sequence[str]) -> dict[str, list[str]]:
    """`--var name=value` (repeatable; repeating a name selects several values)."""
    chosen: dict[str, list[str]] = {}
    for item in items:
        name, sep, value = item.partition("=")
        if not sep or not name or not value:
            raise SnapshotError(f"bad --var {item!r}: expected NAME=VALUE")
        chosen.setdefault(name, []).append(value)
    return chosen


def data_extent(client: InfluxQLClient) -> tuple[int, int] | None:
    """The first and last point times over every measurement, or None without data."""
    first: int | None = None
    last: int | None = None
    for series in client.query("SHOW MEASUREMENTS"):
        for (name,) in series.values:
            quoted = '"' + str(name).replace('"', '\\"') + '"'
            for order in ("ASC", "DESC"):
                for found in client.query(f"SELECT * FROM {quoted} ORDER BY time {order} LIMIT 1"):
                    stamp = int(found.values[0][0])
                    first = stamp if first is None else min(first, stamp)
                    last = stamp if last is None else max(last, stamp)
    return None if first is None or last is None else (first, last)


def choose_range(
    client: InfluxQLClient, start: str | None, end: str | None, now_ms: int
) -> TimeRange:
    if start and end:
        time_range = TimeRange(parse_time(start, now_ms), parse_time(end, now_ms))
    else:
        extent = data_extent(client)
        if extent is None:
            first, last = now_ms - 3_600_000, now_ms
        else:
            pad = max(int((extent[1] - extent[0]) * EXTENT_PADDING), 1000)
            first, last = extent[0] - pad, extent[1] + pad
        time_range = TimeRange(
            parse_time(start, now_ms) if start else first,
            parse_time(end, now_ms) if end else last,
        )
    if time_range.from_ms >= time_range.to_ms:
        raise SnapshotError("the time range is empty: --from must be before --to")
    return time_range


def snapshot_data(
    dashboard: Dashboard,
    client: InfluxQLClient,
    time_range: TimeRange,
    datasources: Mapping[str, Datasource],
    chosen: Mapping[str, Sequence[str]],
) -> SnapshotData:
    """Run every query of the dashboard; a failing panel carries its error, like Grafana's."""
    try:
        variables = resolve_variables(dashboard, client, time_range, chosen)
    except InfluxQueryError as exc:
        # Like Grafana: the dashboard still shows, every panel with the error.
        logger.warning("%s: template variables: %s", dashboard.title, exc)
        failed = [PanelResult(p, error=f"template variables: {exc}") for p in dashboard.panels]
        return SnapshotData(dashboard, time_range, {}, failed)
    results: dict[int, PanelResult] = {p.id: PanelResult(p) for p in dashboard.panels}
    for query in panel_queries(dashboard, variables, time_range, datasources):
        current = results[query.panel.id]
        if current.error:
            continue
        try:
            found = client.query(query.influxql)
        except InfluxQueryError as exc:
            logger.warning("%s / %s: %s", dashboard.title, query.panel.title, exc)
            results[query.panel.id] = PanelResult(query.panel, error=str(exc))
            continue
        if query.target.result_format in ("table", "logs"):
            results[query.panel.id] = PanelResult(
                query.panel,
                current.series,
                (*current.tables, table(found)),
                query.interval_ms,
            )
        else:
            results[query.panel.id] = PanelResult(
                query.panel,
                (*current.series, *time_series(found, query.target.alias)),
                current.tables,
                query.interval_ms,
            )
    events: list[AnnotationEvent] = []
    for annotation in annotation_queries(dashboard, variables, time_range):
        try:
            found = client.query(annotation.influxql)
        except InfluxQueryError as exc:
            logger.warning(
                "%s / annotation %s: %s", dashboard.title, annotation.annotation.name, exc
            )
            continue
        events += annotation_events(annotation.annotation, table(found))
    ordered = [results[p.id] for p in dashboard.panels]
    return SnapshotData(dashboard, time_range, variables, ordered, events)


def annotation_events(annotation: Annotation, found: Table) -> list[AnnotationEvent]:
    """An annotation query's rows as events: time, text and tags from the columns
    the annotation names, in its colour; a tag without a value (a series without
    that tag) is left out, as Grafana leaves out empty tags."""
    columns = [str(c) for c in found.columns]
    tag_columns = [c.strip() for c in annotation.tags_column.split(",") if c.strip()]
    events = []
    for row in found.rows:
        values = dict(zip(columns, row, strict=True))
        tags = tuple(str(values[c]) for c in tag_columns if values.get(c) not in (None, ""))
        text = values.get(annotation.text_column)
        events.append(
            AnnotationEvent(
                int(values.get("Time") or 0),
                "" if text is None else str(text),
                tags,
                annotation.icon_color,
            )
        )
    return events


def default_dashboards() -> Path:
    """grafana/dashboards of the working directory, else of the source tree."""
    folder = default_dashboard_dir()
    if folder is None:
        raise SnapshotError("no grafana/dashboards here: give --dashboard FILE")
    return folder


def configure(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--dashboard",
        action="append",
        type=Path,
        metavar="FILE",
        help="a dashboard JSON file (repeatable; default: every file of grafana/dashboards/)",
    )
    parser.add_argument(
        "--from", dest="start", metavar="T", help="start: now-1h, RFC 3339, epoch ms"
    )
    parser.add_argument("--to", dest="end", metavar="T", help="end (default with --from: now)")
    parser.add_argument(
        "--var",
        action="append",
        default=[],
        metavar="NAME=VALUE",
        help="a template variable's value (repeat a name for several values, or VALUE=All)",
    )
    parser.add_argument("--out", required=True, type=Path, metavar="DIR", help="where the PNGs go")


def run(args: argparse.Namespace) -> int:
    settings = load_settings()
    client = InfluxQLClient.from_config(settings.influx)
    try:
        written = make_snapshots(args, client)
    except (SnapshotError, DashboardError, VariableError, InterpolationError) as exc:
        print(f"enginewatch snapshot: {exc}", file=sys.stderr)
        return 2
    except InfluxQueryError as exc:
        print(f"enginewatch snapshot: {exc}", file=sys.stderr)
        return 1
    finally:
        client.close()
    failed = 0
    for path, errors in written:
        print(path)
        failed += errors
    if failed:
        print(f"enginewatch snapshot: {failed} panel(s) could not be queried", file=sys.stderr)
        return 1
    return 0


def make_snapshots(args: argparse.Namespace, client: InfluxQLClient) -> list[tuple[Path, int]]:
    if args.dashboard:
        dashboards = [load_dashboard(path) for path in args.dashboard]
        datasources: dict[str, Datasource] = {}
        for path in args.dashboard:
            datasources.update(provisioned_datasources(path.resolve().parent))
    else:
        folder = default_dashboards()
        dashboards = load_dashboards(folder)
        datasources = provisioned_datasources(folder)
    chosen = parse_assignments(args.var)
    unused = set(chosen) - {v.name for d in dashboards for v in d.variables}
    if unused:
        raise SnapshotError(f"no dashboard has the variable {', '.join(sorted(unused))}")
    now_ms = int(time.time() * 1000)
    time_range = choose_range(client, args.start, args.end, now_ms)
    written = []
    for dashboard in dashboards:
        mine = {k: v for k, v in chosen.items() if k in {x.name for x in dashboard.variables}}
        data = snapshot_data(dashboard, client, time_range, datasources, mine)
        path = render(data, args.out / f"{dashboard.uid}.png")
        written.append((path, sum(1 for p in data.panels if p.error)))
    return written
