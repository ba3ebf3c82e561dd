"""The rules file (YAML), read and checked into a `Rules`, or one `RulesError`
line naming the file, the rule and the field:

    rules.yaml: rule 'HighCPU': reset: must be at or below above (90), got 95

pydantic's first error is turned into that line: its location gives the rule
(by name, or by number when it has none) and the key; its message is said
the way the rest of enginewatch says problems.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

import yaml
from pydantic import Field, ValidationError, field_validator

from alerts.model import Frozen, Rule
from alerts.ruleset import Rules


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
