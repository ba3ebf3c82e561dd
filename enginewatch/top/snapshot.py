"""What one refresh of `enginewatch top` shows, as plain data, and how query
answers fold into it (pure functions over `Series`)."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field

from enginewatch.core.influxql import Series

UNKNOWN_MODEL = "unknown"  # a point without a model tag (the agents always give one)


@dataclass(frozen=True, slots=True)
class ModelRow:
    """One model, over its engines: latest rates, rejections in the window, states, resources."""

    model: str
    records_in: float | None = None  # records per second, summed over its engines' input slots
    records_out: float | None = None
    rejected: float | None = None  # records rejected within the window
    states: Mapping[str, int] = field(default_factory=dict)  # engine state -> engines in it
    cpu: float | None = None  # percent, summed over its engines (as the dashboards do)
    memory: float | None = None  # bytes, summed over its engines
    firing: int = 0  # alert series firing now

    @property
    def engines(self) -> int:
        return sum(self.states.values())


@dataclass(frozen=True, slots=True)
class LagRow:
    """A consumer group's position on one topic, over its partitions."""

    group: str  # the role: agents, archiver, alerts
    topic: str
    committed: int
    end: int

    @property
    def lag(self) -> int:
        return max(0, self.end - self.committed)


@dataclass(frozen=True, slots=True)
class StageRow:
    """A worker's stage, from its latest `enginewatch_stage` points, over its instances."""

    worker: str
    stage: str
    events: float
    seconds: float
    p50_seconds: float | None
    p99_seconds: float | None
    instances: int


@dataclass(frozen=True, slots=True)
class FiringAlert:
    alertname: str
    severity: str
    model: str
    engine: str
    since_ms: int


@dataclass(frozen=True, slots=True)
class Snapshot:
    """Everything one screen shows. `engines_at_ms` is the newest engine point's time
    (event time): the models' figures are as of then."""

    title: str
    engines_at_ms: int | None = None
    models: Sequence[ModelRow] = ()
    lag: Sequence[LagRow] | None = None  # None: the broker could not be asked
    stages: Sequence[StageRow] = ()
    alerts: Sequence[FiringAlert] = ()
    problems: Sequence[str] = ()


def _values(series: Series, column: str) -> list[object]:
    """The column's value of each row (None where the column is absent)."""
    if column not in series.columns:
        return []
    at = list(series.columns).index(column)
    return [row[at] for row in series.values]


def _number(series: Series, column: str) -> float | None:
    """The first non-null number of the column, if any."""
    for value in _values(series, column):
        if isinstance(value, int | float) and not isinstance(value, bool):
            return float(value)
    return None


def _model(series: Series) -> str:
    return series.tags.get("model") or UNKNOWN_MODEL


def newest_time(answers: Iterable[Sequence[Series]]) -> int | None:
    """The latest `time` of any row of the answers (epoch ms), or None when empty."""
    times = [
        int(t)
        for answer in answers
        for series in answer
        for t in _values(series, "time")
        if isinstance(t, int | float)
    ]
    return max(times) if times else None


def sum_by_model(answer: Sequence[Series], column: str) -> dict[str, float]:
    """Sum each series' value (one per engine, slot, ...) into its model's."""
    totals: dict[str, float] = defaultdict(float)
    for series in answer:
        if (value := _number(series, column)) is not None:
            totals[_model(series)] += value
    return dict(totals)


def rates_by_model(answer: Sequence[Series]) -> tuple[dict[str, float], dict[str, float]]:
    """Latest `rps` per engine and slot (grouped by `direction`) -> records in and out
    per second, per model."""
    inputs = [s for s in answer if s.tags.get("direction") == "input"]
    outputs = [s for s in answer if s.tags.get("direction") == "output"]
    return sum_by_model(inputs, "last"), sum_by_model(outputs, "last")


def states_by_model(answer: Sequence[Series]) -> dict[str, dict[str, int]]:
    """Latest `state` per engine -> how many engines of each model are in each state."""
    states: dict[str, dict[str, int]] = defaultdict(lambda: defaultdict(int))
    for series in answer:
        for state in _values(series, "last")[:1]:
            states[_model(series)][str(state)] += 1
    return {model: dict(counts) for model, counts in states.items()}


def firing_alerts(answer: Sequence[Series]) -> list[FiringAlert]:
    """Latest `firing` per alert series -> those firing, oldest first."""
    alerts = []
    for series in answer:
        rows = [row for row in series.values if len(row) >= 2]
        if rows and rows[-1][1] == 1:
            tags = series.tags
            alerts.append(
                FiringAlert(
                    alertname=tags.get("alertname", ""),
                    severity=tags.get("severity", ""),
                    model=tags.get("model", ""),
                    engine=tags.get("engine", ""),
                    since_ms=int(rows[-1][0]),
                )
            )
    return sorted(alerts, key=lambda a: (a.since_ms, a.alertname, a.engine))


def stage_rows(answer: Sequence[Series]) -> list[StageRow]:
    """Latest `enginewatch_stage` figures per worker, stage and instance -> one row per
    worker and stage: events and seconds summed, p50 and p99 the instances' highest."""
    grouped: dict[tuple[str, str], list[Series]] = defaultdict(list)
    for series in answer:
        grouped[(series.tags.get("worker", ""), series.tags.get("stage", ""))].append(series)
    rows = []
    for (worker, stage), members in sorted(grouped.items()):
        p50s = [v for s in members if (v := _number(s, "p50_seconds")) is not None]
        p99s = [v for s in members if (v := _number(s, "p99_seconds")) is not None]
        rows.append(
            StageRow(
                worker=worker,
                stage=stage,
                events=sum(_number(s, "events") or 0.0 for s in members),
                seconds=sum(_number(s, "seconds") or 0.0 for s in members),
                p50_seconds=max(p50s) if p50s else None,
                p99_seconds=max(p99s) if p99s else None,
                instances=len(members),
            )
        )
    return rows


@dataclass(frozen=True, slots=True)
class ModelAnswers:
    """The answers of the models' queries (see enginewatch.top.influx)."""

    rates: Sequence[Series] = ()
    rejected: Sequence[Series] = ()
    states: Sequence[Series] = ()
    system: Sequence[Series] = ()


def model_rows(answers: ModelAnswers, alerts: Sequence[FiringAlert]) -> list[ModelRow]:
    """One row per model any answer names, by name."""
    records_in, records_out = rates_by_model(answers.rates)
    rejected = sum_by_model(answers.rejected, "sum")
    states = states_by_model(answers.states)
    cpu = sum_by_model(answers.system, "cpu")
    memory = sum_by_model(answers.system, "memory")
    firing: dict[str, int] = defaultdict(int)
    for alert in alerts:
        if alert.model:
            firing[alert.model] += 1
    models = set(records_in) | set(records_out) | set(rejected) | set(states) | set(cpu)
    models |= set(memory)
    return [
        ModelRow(
            model=model,
            records_in=records_in.get(model),
            records_out=records_out.get(model),
            rejected=rejected.get(model),
            states=states.get(model, {}),
            cpu=cpu.get(model),
            memory=memory.get(model),
            firing=firing.get(model, 0),
        )
        for model in sorted(models)
    ]


def lag_rows(
    group: str, committed: Mapping[tuple[str, int], int], ends: Mapping[tuple[str, int], int]
) -> list[LagRow]:
    """A group's committed offsets and the partitions' end offsets -> one row per topic.

    A partition the group committed nothing on counts as committed at 0 (its
    whole content is lag): `committed` holds only what was committed.
    """
    topics: dict[str, list[int]] = defaultdict(lambda: [0, 0])
    for (topic, partition), end in ends.items():
        totals = topics[topic]
        totals[0] += min(end, max(0, committed.get((topic, partition), 0)))
        totals[1] += end
    return [LagRow(group, topic, done, end) for topic, (done, end) in sorted(topics.items())]
