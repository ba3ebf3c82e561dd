"""A checked rules file (`Rules`) and the lookups the stage uses: the rules a
point of a measurement may feed (`Feed`: which rule, in which role, through
which selector), each rule by name, each rule's identity."""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from typing import Literal

from alerts.labels import fingerprint, rule_identity
from alerts.model import ANY, Rule, TagMatch, where_matches

# How a point feeds a rule: its value, the denominator of its share
# (`divided_by`), or its gate (`while`).
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
        return where_matches(self.where, tags)


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
