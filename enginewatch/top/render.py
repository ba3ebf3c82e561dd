"""A Snapshot -> rich renderables: pure, no terminal needed (tests render to a recording console).

Laid out for 80 columns: the model's name takes what the figures leave, and
long names end in an ellipsis rather than wrapping. No colour carries meaning
alone: a state is written out, a firing alert is counted.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import UTC, datetime

from rich import box
from rich.console import Group, RenderableType
from rich.filesize import decimal
from rich.table import Table
from rich.text import Text

from enginewatch.top.snapshot import FiringAlert, LagRow, ModelRow, Snapshot, StageRow

RUNNING = "running"
# The states an operator should see first when a model's engines disagree.
WORST_FIRST = ("error", "failed", "silent")
STATE_STYLES = {"running": "green", "error": "bold red", "failed": "bold red"}
NONE = "-"


def render(snapshot: Snapshot, max_models: int | None = None, live: bool = True) -> RenderableType:
    """The screen; `live` adds how to quit to the header."""
    parts: list[RenderableType] = [_header(snapshot, live)]
    parts.append(_models(snapshot.models, snapshot.engines_at_ms, max_models))
    if snapshot.alerts:
        parts.append(_alerts(snapshot.alerts))
    parts.append(_lag(snapshot.lag))
    if snapshot.stages:
        parts.append(_stages(snapshot.stages))
    parts += [
        Text(problem, style="red", overflow="ellipsis", no_wrap=True)
        for problem in snapshot.problems
    ]
    return Group(*parts)


# A table takes its title, its header and the rule under it besides its rows.
TABLE_LINES = 3


def models_room(snapshot: Snapshot, height: int) -> int:
    """How many models fit on a screen of `height` lines beside the other panels
    (one line kept for the "… more" row)."""
    used = 1 + TABLE_LINES + len(snapshot.problems)
    used += TABLE_LINES + len(snapshot.lag) if snapshot.lag is not None else 1
    if snapshot.alerts:
        used += TABLE_LINES + len(snapshot.alerts)
    if snapshot.stages:
        used += TABLE_LINES + len(snapshot.stages)
    return max(1, height - used - 1)


def _header(snapshot: Snapshot, live: bool) -> Text:
    hint = ("   q quits", "dim") if live else ""
    return Text.assemble(("enginewatch top", "bold"), f"  {snapshot.title}", hint, no_wrap=True)


def _table(title: str) -> Table:
    return Table(
        title=title,
        title_justify="left",
        title_style="bold",
        box=box.SIMPLE_HEAD,
        pad_edge=False,
        padding=(0, 0, 0, 1),  # with the box's divider: two spaces between columns
        show_edge=False,
        expand=True,
    )


def format_time(ms: int) -> str:
    return datetime.fromtimestamp(ms / 1000, UTC).strftime("%Y-%m-%d %H:%M:%S UTC")


def format_rate(value: float | None) -> str:
    if value is None:
        return NONE
    if value >= 999_950:
        return f"{value / 1e6:.1f}M"
    if value >= 9_999.5:
        return f"{value / 1e3:.1f}k"
    return f"{value:.1f}"


def format_count(value: float | None) -> str:
    if value is None:
        return NONE
    if value >= 99_999.5:
        return f"{value / 1e3:.0f}k"
    return f"{value:.0f}"


def format_state(states: Mapping[str, int]) -> Text:
    """One state when every engine is in it, else the worst one with how many of all."""
    if not states:
        return Text(NONE)
    total = sum(states.values())
    worst = min(states, key=lambda s: (_severity(s), s))
    label = worst if states[worst] == total else f"{worst} {states[worst]}/{total}"
    return Text(label, style=STATE_STYLES.get(worst, "yellow"))


def _severity(state: str) -> int:
    if state in WORST_FIRST:
        return WORST_FIRST.index(state)
    return len(WORST_FIRST) + (state == RUNNING)


def _models(models: Sequence[ModelRow], at_ms: int | None, max_models: int | None) -> Table:
    title = "Models" + (
        f", as of {format_time(at_ms)}" if at_ms is not None else ": no engine points yet"
    )
    table = _table(title)
    table.add_column("model", ratio=1, no_wrap=True, overflow="ellipsis", min_width=12)
    table.add_column("in/s", justify="right", no_wrap=True, width=6)
    table.add_column("out/s", justify="right", no_wrap=True, width=6)
    table.add_column("rej", justify="right", no_wrap=True, width=5)
    table.add_column("state", no_wrap=True, overflow="ellipsis", width=11)
    table.add_column("cpu%", justify="right", no_wrap=True, width=4)
    table.add_column("memory", justify="right", no_wrap=True, width=8)
    table.add_column("alrt", justify="right", no_wrap=True, width=4)
    fits = max_models is None or len(models) <= max_models + 1  # the "more" row's line
    shown = models if fits else models[:max_models]
    for row in shown:
        table.add_row(
            row.model,
            format_rate(row.records_in),
            format_rate(row.records_out),
            format_count(row.rejected),
            format_state(row.states),
            format_count(row.cpu),
            decimal(round(row.memory)) if row.memory is not None else NONE,
            Text(str(row.firing), style="bold red") if row.firing else Text(""),
        )
    if len(shown) < len(models):
        table.add_row(Text(f"… {len(models) - len(shown)} more", style="dim"))
    return table


def _alerts(alerts: Sequence[FiringAlert]) -> Table:
    table = _table("Firing alerts")
    table.add_column("alert", no_wrap=True, overflow="ellipsis", ratio=2)
    table.add_column("severity", no_wrap=True, width=8)
    table.add_column("model", no_wrap=True, overflow="ellipsis", ratio=2)
    table.add_column("engine", no_wrap=True, overflow="ellipsis", ratio=1)
    table.add_column("since", no_wrap=True, width=19)
    for alert in alerts:
        table.add_row(
            alert.alertname,
            Text(alert.severity, style="red" if alert.severity == "critical" else "yellow"),
            alert.model or NONE,
            alert.engine or NONE,
            format_time(alert.since_ms)[:19],
        )
    return table


def _lag(lag_rows: Sequence[LagRow] | None) -> RenderableType:
    if lag_rows is None:
        return Text("Consumer lag: the broker did not answer", style="bold red")
    table = _table("Consumer lag" + ("" if lag_rows else ": no group has committed yet"))
    table.add_column("group", no_wrap=True, width=8)
    table.add_column("topic", no_wrap=True, overflow="ellipsis", ratio=1)
    table.add_column("committed", justify="right", no_wrap=True, width=11)
    table.add_column("end", justify="right", no_wrap=True, width=11)
    table.add_column("lag", justify="right", no_wrap=True, width=9)
    for row in lag_rows:
        table.add_row(
            row.group,
            row.topic,
            str(row.committed),
            str(row.end),
            Text(str(row.lag), style="yellow" if row.lag else "green"),
        )
    return table


def format_seconds(value: float | None) -> str:
    if value is None:
        return NONE
    if value < 1:
        return f"{value * 1000:.1f}ms"
    return f"{value:.2f}s"


def _stages(stage_rows: Sequence[StageRow]) -> Table:
    table = _table("Stages (latest report)")
    table.add_column("worker", no_wrap=True, width=9)
    table.add_column("stage", no_wrap=True, overflow="ellipsis", ratio=1)
    table.add_column("events", justify="right", no_wrap=True, width=8)
    table.add_column("busy", justify="right", no_wrap=True, width=8)
    table.add_column("p50", justify="right", no_wrap=True, width=8)
    table.add_column("p99", justify="right", no_wrap=True, width=8)
    table.add_column("inst", justify="right", no_wrap=True, width=4)
    for row in stage_rows:
        table.add_row(
            row.worker,
            row.stage,
            format_count(row.events),
            format_seconds(row.seconds),
            format_seconds(row.p50_seconds),
            format_seconds(row.p99_seconds),
            str(row.instances),
        )
    return table
