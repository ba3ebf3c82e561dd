"""The rule model: one rule of the rules file as frozen pydantic models,
checked key by key (alerts/README.md describes every key). A problem is a
ValueError naming the key; alerts/loader.py makes it the one-line rule error.

    Rule       which points, grouped how, which condition, for how long
    Selector   which points feed a value (`divided_by`): measurement, field, where
    Gate       `while`: a selector with a condition of its own
    NoData     `no_data`: after how long a silent series is no-data, and whether it fires
    Flapping   `flapping`: Nagios-style flap detection
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Annotated, Any, Literal

from pydantic import (
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    PrivateAttr,
    field_validator,
    model_validator,
)

from alerts.conditions import KINDS, Condition, make_condition
from alerts.labels import LABEL_NAME, RESERVED_LABELS
from enginewatch.core.configfile import NS, Duration, format_duration
from enginewatch.core.points import tag_value_problem

# The measurement of the alerts worker's own points on the archive topic: no
# rule may read it, and the worker skips it (it would alert on its own alerts).
ALERTS_MEASUREMENT = "alerts"
# A rule's measurement `*`: any measurement (but the worker's own).
ANY = "*"
# An annotation's placeholder: `{{ name }}`.
TEMPLATE = re.compile(r"\{\{\s*([A-Za-z_][A-Za-z0-9_]*)\s*\}\}")


def _number(value: Any) -> float:
    if isinstance(value, int | float) and not isinstance(value, bool):
        return float(value)
    raise ValueError(f"must be a number (got {value!r})")


def _number_or_text(value: Any) -> float | str:
    return value if isinstance(value, str) else _number(value)


Number = Annotated[float, BeforeValidator(_number)]
Aggregate = Literal["mean", "max", "min", "sum", "rate"]
Severity = Literal["info", "warning", "critical"]


class Frozen(BaseModel):
    """The rules file's models: frozen, and an unknown key is an error."""

    model_config = ConfigDict(frozen=True, extra="forbid", populate_by_name=True)


@dataclass(frozen=True, slots=True)
class Matches:
    """A tag whose value the regular expression matches whole."""

    matches: re.Pattern[str]


def _tag_match(value: Any) -> str | Matches:
    if isinstance(value, str) and value:
        return value
    if isinstance(value, dict) and set(value) == {"matches"} and isinstance(value["matches"], str):
        try:
            return Matches(re.compile(value["matches"]))
        except re.error as exc:
            raise ValueError(f"matches: not a regular expression: {exc}") from None
    raise ValueError(f"must be a tag value or {{matches: REGEX}} (got {value!r})")


TagMatch = Annotated[str | Matches, BeforeValidator(_tag_match)]


def where_matches(where: Mapping[str, TagMatch], tags: Mapping[str, str]) -> bool:
    """Whether the tags meet every `where` entry (a tag missing meets none)."""
    for name, wanted in where.items():
        value = tags.get(name)
        if value is None:
            return False
        if isinstance(wanted, str):
            if value != wanted:
                return False
        elif wanted.matches.fullmatch(value) is None:
            return False
    return True


def _not_alerts_points(cls: type, measurement: str) -> str:
    """A rule reads the points the other workers write, never the worker's own."""
    if measurement == ALERTS_MEASUREMENT:
        raise ValueError(f"the worker ignores its own {ALERTS_MEASUREMENT!r} points")
    return measurement


class Selector(Frozen):
    """Which points feed a value: a measurement, a field, tags."""

    measurement: str = Field(min_length=1)
    field: str = Field(min_length=1)
    where: dict[str, TagMatch] = Field(default_factory=dict)

    _not_ours = field_validator("measurement")(_not_alerts_points)

    def matches_tags(self, tags: Mapping[str, str]) -> bool:
        return where_matches(self.where, tags)


class _Thresholds(Frozen):
    """The keys of a condition (alerts/conditions.py checks them together)."""

    above: Number | None = None
    below: Number | None = None
    outside: tuple[Number, Number] | None = None
    equals: Annotated[float | str, BeforeValidator(_number_or_text)] | None = None

    def _make_condition(self, reset: Any = None) -> Condition | None:
        return make_condition({kind: getattr(self, kind) for kind in KINDS}, reset)


class Gate(Selector, _Thresholds):
    """`while`: the condition counts only while the latest value of another
    field of the same series meets this (e.g. the engine says `running`)."""

    _condition: Condition | None = PrivateAttr(default=None)

    @model_validator(mode="after")
    def _one_condition(self) -> Gate:
        self._condition = self._make_condition()
        if self._condition is None:
            raise ValueError("give one of above, below, outside, equals")
        return self

    @property
    def condition(self) -> Condition:
        assert self._condition is not None
        return self._condition


class NoData(Frozen):
    """After how long without a point a series counts as no-data, and whether
    that is itself an alert."""

    after: Duration = Field(gt=0)
    fires: bool = False


class Flapping(Frozen):
    """Nagios-style flap detection: the share of the last `history`
    evaluations that changed whether the alert fires. Above `high` the alert
    is flapping (one notification, then silence); below `low` it settles."""

    history: int = Field(default=20, ge=4, le=64)
    low: float = Field(default=0.25, gt=0, lt=1)
    high: float = Field(default=0.5, gt=0, le=1)

    @model_validator(mode="after")
    def _low_below_high(self) -> Flapping:
        if self.low >= self.high:
            raise ValueError(f"low: must be below high ({self.high:g}), got {self.low:g}")
        return self


DEFAULT_FORGET = 86400 * NS


def _flapping(value: Any) -> Any:
    if value is False or isinstance(value, dict | Flapping):
        return value
    raise ValueError(f"must be false or {{history, low, high}} (got {value!r})")


class Rule(_Thresholds):
    """One alert rule: which points, grouped how, which condition, how long."""

    name: str = Field(min_length=1, max_length=128)
    measurement: str = Field(min_length=1)
    field: str | None = Field(default=None, min_length=1)
    where: dict[str, TagMatch] = Field(default_factory=dict)
    group_by: tuple[Annotated[str, Field(min_length=1)], ...] = ("engine", "model")
    aggregate: Aggregate | None = None
    window: Duration | None = None
    divided_by: Selector | None = None
    gate: Gate | None = Field(default=None, alias="while")
    reset: Any = None  # a number, or [low, high] with outside: checked with the condition
    for_: Duration = Field(default=0, ge=0, alias="for")
    severity: Severity = "warning"
    labels: dict[str, Annotated[str, Field(min_length=1)]] = Field(default_factory=dict)
    annotations: dict[str, str] = Field(default_factory=dict)
    no_data: NoData | None = None
    forget: Duration = Field(default=DEFAULT_FORGET, gt=0)
    flapping: Annotated[Flapping | Literal[False], BeforeValidator(_flapping)] = Flapping()

    @field_validator("name")
    @classmethod
    def _name_is_a_tag_value(cls, name: str) -> str:
        if name != name.strip():
            raise ValueError("must not start or end with a space")
        if problem := tag_value_problem(name):
            raise ValueError(problem)
        return name

    _not_ours = field_validator("measurement")(_not_alerts_points)

    @field_validator("group_by")
    @classmethod
    def _grouped_by_engine(cls, group_by: tuple[str, ...]) -> tuple[str, ...]:
        # The archive topic is keyed by engine: an engine's points all arrive
        # in one partition, where its series' state lives. A series spanning
        # engines would need points of several partitions.
        if "engine" not in group_by:
            raise ValueError(
                "must include engine (the archive topic is keyed by engine, and a series "
                "is evaluated where its engine's points arrive)"
            )
        if len(set(group_by)) != len(group_by):
            raise ValueError("names a tag twice")
        if reserved := [name for name in group_by if name in RESERVED_LABELS]:
            raise ValueError(f"{reserved[0]!r} is a label every alert has; it cannot be a tag")
        return group_by

    @field_validator("labels")
    @classmethod
    def _label_names(cls, labels: dict[str, str]) -> dict[str, str]:
        for name, value in labels.items():
            if not LABEL_NAME.match(name):
                raise ValueError(f"{name!r} is not a label name ([A-Za-z_][A-Za-z0-9_]*)")
            if name in RESERVED_LABELS:
                raise ValueError(f"{name!r} is set by the rule itself")
            if problem := tag_value_problem(value):
                raise ValueError(f"{name}: {problem}")
        return labels

    _condition: Condition | None = PrivateAttr(default=None)

    @model_validator(mode="after")
    def _consistent(self) -> Rule:
        condition = self._condition = self._make_condition(self.reset)
        if self.measurement == ANY and (condition is not None or self.field is not None):
            raise ValueError(
                "measurement: '*' (any point) is for rules that alert on silence only: "
                "no field and no condition"
            )
        if condition is None:
            if self.reset is not None:
                raise ValueError("reset: needs a condition (above, below, outside or equals)")
            if self.no_data is None or not self.no_data.fires:
                raise ValueError(
                    "give one of above, below, outside, equals (or no_data with fires: true "
                    "for a rule that alerts on silence only)"
                )
            for name in ("aggregate", "divided_by", "gate"):
                if getattr(self, name) is not None:
                    raise ValueError(f"{_alias(name)}: needs a condition")
        elif self.field is None:
            raise ValueError("field: Field required")
        if self.window is not None and self.window < NS:
            raise ValueError(f"window: must be at least 1s (got {format_duration(self.window)})")
        if (self.aggregate is None) != (self.window is None):
            raise ValueError(
                "window: give it with aggregate"
                if self.window is None
                else "aggregate: give it with window"
            )
        if self.divided_by is not None and self.aggregate != "sum":
            raise ValueError("divided_by: needs aggregate: sum (the share of one sum in another)")
        if (
            self.aggregate is not None
            and condition is not None
            and isinstance(condition.threshold, str)
        ):
            raise ValueError("equals: an aggregate is a number")
        clash = set(self.labels) & set(self.group_by)
        if clash:
            raise ValueError(f"labels: {sorted(clash)[0]!r} is a group_by tag")
        if self.for_ >= self.forget:
            raise ValueError(f"forget: must be longer than for ({format_duration(self.for_)})")
        if self.no_data is not None and self.no_data.after >= self.forget:
            raise ValueError(
                f"forget: must be longer than no_data.after ({format_duration(self.no_data.after)})"
            )
        known = {"value", "state", *RESERVED_LABELS, *self.group_by, *self.labels}
        for key, template in self.annotations.items():
            for name in TEMPLATE.findall(template):
                if name not in known:
                    raise ValueError(
                        f"annotations: {key}: {{{{ {name} }}}} is not one of "
                        + ", ".join(sorted(known))
                    )
        return self

    @property
    def condition(self) -> Condition | None:
        """The condition (checked once, when the rule was read)."""
        return self._condition

    @property
    def window_ns(self) -> int:
        return self.window or 0

    def render(self, template: str, names: Mapping[str, str]) -> str:
        """An annotation with its `{{ name }}` placeholders filled in."""
        return TEMPLATE.sub(lambda m: names.get(m.group(1), m.group(0)), template)

    def describe(self) -> str:
        """One line: what the rule watches and when it fires."""
        condition = self.condition
        target = f"{self.measurement}.{self.field}" if self.field else self.measurement
        if self.where:
            target += (
                "{" + ", ".join(f"{k}={_describe_match(v)}" for k, v in self.where.items()) + "}"
            )
        if self.aggregate is not None:
            target = f"{self.aggregate}({target}) over {format_duration(self.window_ns)}"
        if self.divided_by is not None:
            d = self.divided_by
            where = "{" + ", ".join(f"{k}={_describe_match(v)}" for k, v in d.where.items()) + "}"
            target += f" / sum({d.measurement}.{d.field}{where if d.where else ''})"
        parts = [f"{target} {condition.describe()}" if condition else f"{target} silent"]
        if self.gate is not None:
            parts.append(
                f"while {self.gate.measurement}.{self.gate.field} {self.gate.condition.describe()}"
            )
        if self.for_:
            parts.append(f"for {format_duration(self.for_)}")
        if self.no_data is not None:
            fires = ", fires" if self.no_data.fires else ""
            parts.append(f"no-data after {format_duration(self.no_data.after)}{fires}")
        return "; ".join(parts)


def _alias(name: str) -> str:
    info = Rule.model_fields[name]
    return info.alias or name


def _describe_match(match: TagMatch) -> str:
    return match if isinstance(match, str) else f"~{match.matches.pattern}"
