"""The alert rules file (YAML), loaded and checked into frozen models.

    rules:
      - name: HighCPU
        measurement: system
        field: cpu_utilization
        above: 90
        reset: 80
        for: 1m
        severity: warning
        annotations:
          summary: "CPU of {{ model }} on {{ engine }} at {{ value }} %"

alerts/README.md describes every key. `load_rules(path)` reads and checks a
file; whatever is wrong in it is one `RulesError` line naming the file, the
rule and the field: `rules.yaml: rule 'HighCPU': reset: must be at or below
above (90.0), got 95.0`. `Rules` is the checked file, with the lookups the
stage needs (the rules a measurement feeds, each rule by name).
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Annotated, Any, Literal

import yaml
from pydantic import (
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    PrivateAttr,
    ValidationError,
    field_validator,
    model_validator,
)

from enginewatch.core.points import FieldValue, tag_value_problem

# The measurement of the alerts worker's own points on the archive topic: no
# rule may read it, and the worker skips it (it would alert on its own alerts).
ALERTS_MEASUREMENT = "alerts"
# A rule's measurement `*`: any measurement (but the worker's own).
ANY = "*"
# Labels every alert carries beside the group's tags and the rule's labels.
RESERVED_LABELS = ("alertname", "severity")

NS = 1_000_000_000
_UNITS = {"ms": 1_000_000, "s": NS, "m": 60 * NS, "h": 3600 * NS, "d": 86400 * NS}
_DURATION = re.compile(r"(\d+)(ms|s|m|h|d)")
_LABEL_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
_TEMPLATE = re.compile(r"\{\{\s*([A-Za-z_][A-Za-z0-9_]*)\s*\}\}")


class RulesError(ValueError):
    """The rules file cannot be used; the message is one line naming the file,
    the rule and the field."""


def parse_duration(value: Any) -> int:
    """`30s`, `5m`, `1h30m`, `1d`, `500ms` -> integer nanoseconds."""
    if isinstance(value, str):
        text = value.strip()
        if text and _DURATION.sub("", text) == "":
            return sum(int(n) * _UNITS[unit] for n, unit in _DURATION.findall(text))
    raise ValueError(f"must be a duration like 30s, 5m or 1h (got {value!r})")


def format_duration(ns: int) -> str:
    """The shortest spelling of a duration `parse_duration` reads back."""
    if ns == 0:
        return "0s"
    parts = []
    for unit in ("d", "h", "m", "s", "ms"):
        size = _UNITS[unit]
        if ns >= size:
            parts.append(f"{ns // size}{unit}")
            ns %= size
    return "".join(parts) if ns == 0 else f"{''.join(parts)}+{ns}ns"


def _number(value: Any) -> float:
    if isinstance(value, int | float) and not isinstance(value, bool):
        return float(value)
    raise ValueError(f"must be a number (got {value!r})")


def _number_or_text(value: Any) -> float | str:
    return value if isinstance(value, str) else _number(value)


Duration = Annotated[int, BeforeValidator(parse_duration)]
Number = Annotated[float, BeforeValidator(_number)]
Aggregate = Literal["mean", "max", "min", "sum", "rate"]
Severity = Literal["info", "warning", "critical"]


class _Frozen(BaseModel):
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


def _where_matches(where: Mapping[str, TagMatch], tags: Mapping[str, str]) -> bool:
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


class Selector(_Frozen):
    """Which points feed a value: a measurement, a field, tags."""

    measurement: str = Field(min_length=1)
    field: str = Field(min_length=1)
    where: dict[str, TagMatch] = Field(default_factory=dict)

    _not_ours = field_validator("measurement")(_not_alerts_points)

    def matches_tags(self, tags: Mapping[str, str]) -> bool:
        return _where_matches(self.where, tags)


@dataclass(frozen=True, slots=True)
class Condition:
    """`value above 90` (reset 80), `below`, `outside [lo, hi]`, `equals x`.

    While an alert fires, the reset threshold (when given) stands in for the
    threshold: `above 90, reset 80` keeps firing while the value is above 80.
    """

    kind: Literal["above", "below", "outside", "equals"]
    threshold: FieldValue | tuple[float, float]
    reset: float | tuple[float, float] | None = None

    def holds(self, value: FieldValue, firing: bool = False) -> bool:
        if self.kind == "equals":
            if isinstance(value, str) or isinstance(self.threshold, str):
                return value == self.threshold
            return float(value) == self.threshold
        if isinstance(value, str):
            return False
        limit = self.reset if firing and self.reset is not None else self.threshold
        if self.kind == "outside":
            assert isinstance(limit, tuple)
            low, high = limit
            return value < low or value > high
        assert isinstance(limit, int | float)
        return value > limit if self.kind == "above" else value < limit

    def describe(self) -> str:
        if self.kind == "outside":
            assert isinstance(self.threshold, tuple)
            text = f"outside [{_num(self.threshold[0])}, {_num(self.threshold[1])}]"
        elif isinstance(self.threshold, str):
            text = f"{self.kind} {self.threshold!r}"
        else:
            assert not isinstance(self.threshold, tuple)
            text = f"{self.kind} {_num(self.threshold)}"
        if isinstance(self.reset, tuple):
            text += f", reset [{_num(self.reset[0])}, {_num(self.reset[1])}]"
        elif self.reset is not None:
            text += f", reset {_num(self.reset)}"
        return text


def _num(value: float | int | str) -> str:
    return format(value, "g") if isinstance(value, float) else str(value)


class _Thresholds(_Frozen):
    above: Number | None = None
    below: Number | None = None
    outside: tuple[Number, Number] | None = None
    equals: Annotated[float | str, BeforeValidator(_number_or_text)] | None = None

    def _condition_fields(self) -> list[str]:
        return [
            name
            for name in ("above", "below", "outside", "equals")
            if getattr(self, name) is not None
        ]

    def _make_condition(self, reset: Any = None) -> Condition | None:
        given = self._condition_fields()
        if len(given) > 1:
            raise ValueError(
                f"{given[1]}: give one of above, below, outside, equals, not {' and '.join(given)}"
            )
        if not given:
            return None
        kind = given[0]
        value = getattr(self, kind)
        if kind == "outside":
            low, high = float(value[0]), float(value[1])
            _finite("outside", low, high)
            if low > high:
                raise ValueError(f"outside: the low end {low:g} is above the high end {high:g}")
            return Condition("outside", (low, high), _reset_band(reset, low, high))
        if kind == "equals":
            if reset is not None:
                raise ValueError("reset: not with equals (a value equals or it does not)")
            return Condition("equals", value if isinstance(value, str) else float(value))
        threshold = float(value)
        _finite(kind, threshold)
        above_or_below: Literal["above", "below"] = "above" if kind == "above" else "below"
        return Condition(above_or_below, threshold, _reset_level(reset, kind, threshold))


def _finite(name: str, *values: float) -> None:
    if not all(math.isfinite(v) for v in values):
        raise ValueError(f"{name}: must be a finite number")


def _reset_level(reset: Any, kind: str, threshold: float) -> float | None:
    if reset is None:
        return None
    if not isinstance(reset, int | float) or isinstance(reset, bool):
        raise ValueError(f"reset: must be a number with {kind} (got {reset!r})")
    level = float(reset)
    _finite("reset", level)
    if kind == "above" and level > threshold:
        raise ValueError(f"reset: must be at or below above ({threshold:g}), got {level:g}")
    if kind == "below" and level < threshold:
        raise ValueError(f"reset: must be at or above below ({threshold:g}), got {level:g}")
    return level


def _reset_band(reset: Any, low: float, high: float) -> tuple[float, float] | None:
    if reset is None:
        return None
    if (
        not isinstance(reset, list | tuple)
        or len(reset) != 2
        or not all(isinstance(v, int | float) and not isinstance(v, bool) for v in reset)
    ):
        raise ValueError(f"reset: must be [low, high] with outside (got {reset!r})")
    band = (float(reset[0]), float(reset[1]))
    _finite("reset", *band)
    if not low <= band[0] <= band[1] <= high:
        raise ValueError(
            f"reset: must be a band inside outside's [{low:g}, {high:g}], "
            f"got [{band[0]:g}, {band[1]:g}]"
        )
    return band


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


class NoData(_Frozen):
    """After how long without a point a series counts as no-data, and whether
    that is itself an alert."""

    after: Duration = Field(gt=0)
    fires: bool = False


class Flapping(_Frozen):
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
            if not _LABEL_NAME.match(name):
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
            for name in _TEMPLATE.findall(template):
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
        return _TEMPLATE.sub(lambda m: names.get(m.group(1), m.group(0)), template)

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


class _RulesFile(_Frozen):
    rules: tuple[Rule, ...] = Field(min_length=1)

    @field_validator("rules")
    @classmethod
    def _unique_names(cls, rules: tuple[Rule, ...]) -> tuple[Rule, ...]:
        seen: set[str] = set()
        for rule in rules:
            if rule.name in seen:
                raise ValueError(f"rule {rule.name!r}: name: another rule has this name")
            seen.add(rule.name)
        return rules


Role = Literal["value", "denominator", "gate"]


@dataclass(frozen=True, slots=True)
class Feed:
    """A rule a point may feed, in which role, through which selector."""

    rule: Rule
    role: Role
    field: str | None  # None: any point of the measurement counts (a rule on silence)
    where: Mapping[str, TagMatch]
    numeric: bool  # only a number feeds it (an aggregate, a threshold)

    def matches_tags(self, tags: Mapping[str, str]) -> bool:
        return _where_matches(self.where, tags)


def alert_labels(rule: Rule, tags: Mapping[str, str]) -> dict[str, str]:
    """The labels that identify one series' alert: its name, severity, the rule's
    labels and the group's tags (annotations describe it, and do not identify it)."""
    return {**rule.labels, **tags, "alertname": rule.name, "severity": rule.severity}


_FNV_OFFSET = 14695981039346656037
_FNV_PRIME = 1099511628211
_SEPARATOR = 0xFF


def fingerprint(labels: Mapping[str, str]) -> str:
    """Alertmanager's fingerprint of a label set: FNV-1a (64 bits) over the
    labels sorted by name, each name and value followed by the byte 0xff (which
    UTF-8 never holds), as 16 hex digits. The same labels give the same
    fingerprint here and in Alertmanager."""
    digest = _FNV_OFFSET
    for name in sorted(labels):
        for part in (name, labels[name]):
            for byte in (*part.encode(), _SEPARATOR):
                digest = ((digest ^ byte) * _FNV_PRIME) & 0xFFFFFFFFFFFFFFFF
    return f"{digest:016x}"


def rule_identity(rule: Rule) -> str:
    """What a series' fingerprint depends on besides its tags: a rule whose
    identity changed (renamed, other labels, severity or grouping) no longer
    owns the series it made."""
    labels = {**rule.labels, "alertname": rule.name, "severity": rule.severity}
    return fingerprint({**labels, "group_by": "\xff".join(rule.group_by)})


@dataclass(frozen=True)
class Rules:
    """A checked rules file and the lookups the stage uses."""

    path: str
    rules: tuple[Rule, ...]
    by_name: Mapping[str, Rule] = field(init=False)
    identities: Mapping[str, str] = field(init=False)  # rule name -> rule_identity
    digest: str = field(init=False)  # of every rule's identity
    _feeds: Mapping[str, tuple[Feed, ...]] = field(init=False)
    _any: tuple[Feed, ...] = field(init=False)

    def __post_init__(self) -> None:
        feeds: dict[str, list[Feed]] = {}
        anywhere: list[Feed] = []
        for rule in self.rules:
            selectors: list[tuple[str, Role, str | None, Mapping[str, TagMatch]]] = [
                (rule.measurement, "value", rule.field, rule.where)
            ]
            if rule.divided_by is not None:
                d = rule.divided_by
                selectors.append((d.measurement, "denominator", d.field, d.where))
            if rule.gate is not None:
                g = rule.gate
                selectors.append((g.measurement, "gate", g.field, g.where))
            for measurement, role, field_name, where in selectors:
                feed = Feed(rule, role, field_name, where, _numeric(rule, role))
                if measurement == ANY:
                    anywhere.append(feed)
                else:
                    feeds.setdefault(measurement, []).append(feed)
        object.__setattr__(self, "by_name", {rule.name: rule for rule in self.rules})
        identities = {rule.name: rule_identity(rule) for rule in self.rules}
        object.__setattr__(self, "identities", identities)
        object.__setattr__(
            self, "digest", fingerprint({name: identities[name] for name in identities})
        )
        object.__setattr__(self, "_feeds", {m: tuple(f) for m, f in feeds.items()})
        object.__setattr__(self, "_any", tuple(anywhere))

    def feeds(self, measurement: str) -> Iterator[Feed]:
        """The rules a point of `measurement` may feed, in file order per role."""
        yield from self._feeds.get(measurement, ())
        yield from self._any

    def __iter__(self) -> Iterator[Rule]:
        return iter(self.rules)

    def __len__(self) -> int:
        return len(self.rules)


def _numeric(rule: Rule, role: Role) -> bool:
    if role == "denominator" or (role == "value" and rule.aggregate is not None):
        return True
    condition = rule.gate.condition if role == "gate" and rule.gate else rule.condition
    return condition is not None and condition.kind != "equals"


def rules_from(data: Any, path: str = "rules") -> Rules:
    """Check rules given as parsed YAML (a mapping with `rules`)."""
    if not isinstance(data, dict):
        raise RulesError(f"{path}: must be a mapping with a 'rules' list")
    try:
        checked = _RulesFile.model_validate(data)
    except ValidationError as exc:
        raise RulesError(_one_line(path, data, exc)) from None
    return Rules(path, checked.rules)


def load_rules(path: Path | str) -> Rules:
    """Read and check a rules file, or raise RulesError (one line)."""
    name = str(path)
    try:
        text = Path(path).read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise RulesError(f"{name}: cannot read: {exc}") from None
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f"line {mark.line + 1}: " if mark is not None else ""
        problem = getattr(exc, "problem", None) or str(exc).splitlines()[0]
        raise RulesError(f"{name}: {where}not YAML: {problem}") from None
    return rules_from(data, name)


def _one_line(path: str, data: Mapping[str, Any], exc: ValidationError) -> str:
    """`FILE: rule 'NAME': FIELD: problem` for the first error."""
    error = exc.errors()[0]
    loc = list(error["loc"])
    message = _problem(error)
    where = ""
    if loc[:1] == ["rules"] and len(loc) >= 2 and isinstance(loc[1], int):
        index = loc[1]
        raw = data.get("rules")
        item = raw[index] if isinstance(raw, list) and index < len(raw) else None
        name = item.get("name") if isinstance(item, dict) else None
        where = f"rule {name!r}: " if isinstance(name, str) and name else f"rule #{index + 1}: "
        loc = loc[2:]
    elif loc == ["rules"] and message.startswith("rule "):
        where, _, message = message.partition(": ")
        where += ": "
        loc = []
    # A union's branches add their type to the location: keep the file's keys.
    field_path = ".".join(str(part) for part in loc if not _is_branch(part))
    text = f"{where}{field_path}: {message}" if field_path else f"{where}{message}"
    return " ".join(f"{path}: {text}".split())


_PROBLEMS = {
    "missing": "is required",
    "extra_forbidden": "unknown key",
    "model_type": "must be a mapping",
    "dict_type": "must be a mapping",
    "model_attributes_type": "must be a mapping",
    "tuple_type": "must be a list",
    "list_type": "must be a list",
    "string_type": "must be a string",
    "bool_parsing": "must be true or false",
    "bool_type": "must be true or false",
}


_NO_INPUT = {"missing", "extra_forbidden"}


def _problem(error: Any) -> str:
    kind = error["type"]
    if kind == "too_short":
        return "must not be empty"
    message = _PROBLEMS.get(kind) or str(error["msg"]).removeprefix("Value error, ")
    message = message.replace("Input should be", "must be")
    value = error.get("input")
    if kind in _PROBLEMS and isinstance(value, str | int | float | bool) and kind not in _NO_INPUT:
        message += f" (got {value!r})"
    return message


def _is_branch(part: Any) -> bool:
    """A location part pydantic adds for a union's branch, not a key of the file."""
    return isinstance(part, str) and (
        part in {"str", "int", "float", "bool", "Flapping"}
        or part.startswith(("function-", "constrained-", "literal[", "tuple[", "json-or-python"))
    )
