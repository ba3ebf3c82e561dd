"""The rules file (YAML), read and checked into a `Rules`, or one `RulesError`
line naming the file, the rule and the field:

    rules.yaml: rule 'HighCPU': reset: must be at or below above (90), got 95

pydantic's first error is turned into that line (enginewatch/core/configfile.py):
its location gives the rule (by name, or by number when it has none) and the
key; its message is said the way the rest of enginewatch says problems.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from pydantic import Field, ValidationError, field_validator

from alerts.model import Frozen, Rule
from alerts.ruleset import Rules
from enginewatch.core.configfile import one_line, read_yaml

# The rules' union members that pydantic names in an error's location.
_BRANCHES = frozenset({"Flapping"})


class RulesError(ValueError):
    """The rules file cannot be used; the message is one line naming the file,
    the rule and the field."""


class _RulesFile(Frozen):
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


def rules_from(data: Any, path: str = "rules") -> Rules:
    """Check rules given as parsed YAML (a mapping with `rules`)."""
    if not isinstance(data, dict):
        raise RulesError(f"{path}: must be a mapping with a 'rules' list")
    try:
        checked = _RulesFile.model_validate(data)
    except ValidationError as exc:
        raise RulesError(one_line(path, data, exc, "rules", "rule", _BRANCHES)) from None
    return Rules(path, checked.rules)


def load_rules(path: Path | str) -> Rules:
    """Read and check a rules file, or raise RulesError (one line)."""
    return rules_from(read_yaml(path, RulesError), str(path))
