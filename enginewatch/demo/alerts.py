"""The demo's alerts: the rules it runs, and what fired and resolved, read back from
InfluxDB's `alerts` measurement (the alerts worker's transitions, through the
archiver), as plain functions over the query's answer.

The rules are alerts/default-rules.yaml's EngineError as it is, and its HighCPU
with `for: 5s` instead of a minute: the demo runs for a minute or less (15 s in
its smoke test), and the simulated hot spell lasts under half of it
(enginewatch.tools.fleet `incident_plan`). The other default rules are left
out: over a minute of a fresh fleet they would only fire on start-up noise.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime

from enginewatch.core.influxql import Series
from enginewatch.tools.fleet import Engine, Incident

DEMO_RULES = """\
# The rules `enginewatch demo` runs: alerts/default-rules.yaml's EngineError,
# and its HighCPU held for 5 seconds instead of a minute, to fit the demo.
rules:
  - name: EngineError
    measurement: engine_status
    field: code
    equals: 2
    severity: critical
    annotations:
      summary: "{{ model }} on engine {{ engine }} is in error"

  - name: HighCPU
    measurement: system
    field: cpu_utilization
    above: 90
    reset: 80
    for: 5s
    severity: warning
    annotations:
      summary: "CPU of {{ model }} on engine {{ engine }} at {{ value }} %"
"""
# Which rule an incident of the simulated fleet fires.
RULE_OF_INCIDENT = {"error": "EngineError", "hot": "HighCPU"}

# Every transition, in time order per series (`alerts` points: alerts/stage.py).
ALERTS_QUERY = (
    'SELECT "state", "firing", "value" FROM "alerts" '
    'GROUP BY "alertname", "severity", "engine", "model"'
)


@dataclass(frozen=True, slots=True)
class Episode:
    """An alert of one series from when it fired to when it stopped firing (None: still firing)."""

    alertname: str
    severity: str
    engine: str
    model: str
    fired_ms: int
    value: float | None  # the value it fired on
    ended_ms: int | None = None
    ended_as: str | None = None  # the state that ended it: resolved, or no-data


def episodes(answer: Sequence[Series]) -> list[Episode]:
    """The answer to ALERTS_QUERY as episodes, ordered by the time they fired."""
    found: list[Episode] = []
    for series in answer:
        columns = list(series.columns)
        at = {name: columns.index(name) for name in ("time", "state", "firing", "value")}
        tags = series.tags
        open_: Episode | None = None
        for row in series.values:
            time, firing = int(row[at["time"]]), bool(row[at["firing"]])
            if firing and open_ is None:
                value = row[at["value"]]
                open_ = Episode(
                    tags.get("alertname", ""),
                    tags.get("severity", ""),
                    tags.get("engine", ""),
                    tags.get("model", ""),
                    time,
                    None if value is None else float(value),
                )
            elif not firing and open_ is not None:
                found.append(_ended(open_, time, str(row[at["state"]])))
                open_ = None
        if open_ is not None:
            found.append(open_)
    return sorted(found, key=lambda e: (e.fired_ms, e.alertname, e.engine))


def _ended(episode: Episode, time: int, state: str) -> Episode:
    return Episode(
        episode.alertname,
        episode.severity,
        episode.engine,
        episode.model,
        episode.fired_ms,
        episode.value,
        time,
        state,
    )


def format_alerts(found: Iterable[Episode], start_ms: int) -> str:
    """One line per episode: the alert, its engine and model, when it fired and
    ended (also as seconds into the run, to read beside the incidents' schedule)."""
    lines = []
    for one in found:
        fired = _clock(one.fired_ms, start_ms)
        value = "" if one.value is None else f" at {one.value:g}"
        if one.ended_ms is None:
            ending = "still firing"
        else:
            ending = f"{one.ended_as} {_clock(one.ended_ms, start_ms)}"
            ending += f" after {(one.ended_ms - one.fired_ms) / 1000:.1f} s"
        lines.append(
            f"  {one.alertname} ({one.severity}) on {one.model or '-'} "
            f"(engine {one.engine[:8]}): fired {fired}{value}, {ending}"
        )
    return "\n".join(lines) if lines else "  none"


def _clock(ms: int, start_ms: int) -> str:
    moment = datetime.fromtimestamp(ms / 1000, UTC)
    return f"{moment:%H:%M:%S} (+{(ms - start_ms) / 1000:.1f} s)"


def describe_incidents(plan: Iterable[Incident], fleet: Sequence[Engine]) -> list[str]:
    """What the simulated fleet will do, one line per incident."""
    what = {"error": "falls into error", "hot": "runs hot (CPU above 90 %)"}
    return [
        f"  {fleet[i.engine].model} (engine {fleet[i.engine].src[:8]}) {what[i.kind]} "
        f"from +{i.start:g} s to +{i.end:g} s: {RULE_OF_INCIDENT[i.kind]} should fire and resolve"
        for i in plan
    ]


def missed_incidents(
    plan: Iterable[Incident], fleet: Sequence[Engine], found: Iterable[Episode]
) -> list[str]:
    """The incidents whose alert did not both fire and resolve on their engine."""
    resolved = {(e.alertname, e.engine) for e in found if e.ended_as == "resolved"}
    return [
        f"{RULE_OF_INCIDENT[i.kind]} on {fleet[i.engine].model}"
        for i in plan
        if (RULE_OF_INCIDENT[i.kind], fleet[i.engine].src) not in resolved
    ]
