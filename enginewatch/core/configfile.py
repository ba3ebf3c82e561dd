"""What the YAML files of the workers share (the alerts' rules, the monitors):
durations as integer nanoseconds, reading the YAML, and pydantic's first error
said as one line naming the file, the item and the key:

    rules.yaml: rule 'HighCPU': reset: must be at or below above (90), got 95
"""

from __future__ import annotations

import re
from collections.abc import Collection, Mapping
from pathlib import Path
from typing import Annotated, Any

import yaml
from pydantic import BeforeValidator, ValidationError

# --- durations: `500ms`, `30s`, `5m`, `1h`, `1d`, or several (`1h30m`) ------------
# A bare number is an error: seconds or minutes? Nanoseconds are event time's unit.

NS = 1_000_000_000
_UNITS = {"ms": 1_000_000, "s": NS, "m": 60 * NS, "h": 3600 * NS, "d": 86400 * NS}
_DURATION = re.compile(r"(\d+)(ms|s|m|h|d)")


def parse_duration(value: Any) -> int:
    """`30s`, `5m`, `1h30m`, `1d`, `500ms` -> integer nanoseconds."""
    if isinstance(value, str):
        text = value.strip()
        if text and _DURATION.sub("", text) == "":
            return sum(int(n) * _UNITS[unit] for n, unit in _DURATION.findall(text))
    raise ValueError(f"must be a duration like 30s, 5m or 1h (got {value!r})")


def format_duration(ns: int) -> str:
    """The shortest spelling of a duration `parse_duration` reads back (what is left
    below a millisecond is added as `+Nns`)."""
    if ns == 0:
        return "0s"
    parts = []
    for unit in ("d", "h", "m", "s", "ms"):
        size = _UNITS[unit]
        if ns >= size:
            parts.append(f"{ns // size}{unit}")
            ns %= size
    return "".join(parts) if ns == 0 else f"{''.join(parts)}+{ns}ns"


# A key of a file that holds a duration.
Duration = Annotated[int, BeforeValidator(parse_duration)]


# --- reading ---------------------------------------------------------------------


def read_yaml(path: Path | str, error: type[Exception]) -> Any:
    """The file's YAML, or `error` with one line (the file, the line, the problem)."""
    name = str(path)
    try:
        text = Path(path).read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise error(f"{name}: cannot read: {exc}") from None
    try:
        return yaml.safe_load(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f"line {mark.line + 1}: " if mark is not None else ""
        problem = getattr(exc, "problem", None) or str(exc).splitlines()[0]
        raise error(f"{name}: {where}not YAML: {problem}") from None


# --- pydantic's first error as one line --------------------------------------------

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
    "int_type": "must be an integer",
    "int_parsing": "must be an integer",
}
_NO_INPUT = {"missing", "extra_forbidden"}
_BRANCH_TYPES = {"str", "int", "float", "bool"}
_BRANCH_PREFIXES = ("function-", "constrained-", "literal[", "tuple[", "json-or-python")


def one_line(
    path: str,
    data: Mapping[str, Any],
    exc: ValidationError,
    items: str,
    item: str,
    branches: Collection[str] = (),
) -> str:
    """`FILE: ITEM 'NAME': KEY: problem` for the first error of a file whose `items`
    key lists named things (`rules`, each a `rule`). `branches`: the class names of
    union members, which pydantic adds to a location and the file does not have."""
    error = exc.errors()[0]
    loc = list(error["loc"])
    message = _problem(error)
    where = ""
    if loc[:1] == [items] and len(loc) >= 2 and isinstance(loc[1], int):
        index = loc[1]
        raw = data.get(items)
        found = raw[index] if isinstance(raw, list) and index < len(raw) else None
        name = found.get("name") if isinstance(found, dict) else None
        where = f"{item} {name!r}: " if isinstance(name, str) and name else f"{item} #{index + 1}: "
        loc = loc[2:]
    elif loc == [items] and message.startswith(f"{item} "):
        # A check of the whole list names the item itself (`rule 'x': ...`).
        where, _, message = message.partition(": ")
        where += ": "
        loc = []
    keys = ".".join(str(part) for part in loc if not _is_branch(part, branches))
    text = f"{where}{keys}: {message}" if keys else f"{where}{message}"
    return " ".join(f"{path}: {text}".split())


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


def _is_branch(part: Any, branches: Collection[str]) -> bool:
    """A location part pydantic adds for a union's branch, not a key of the file."""
    return isinstance(part, str) and (
        part in _BRANCH_TYPES or part in branches or part.startswith(_BRANCH_PREFIXES)
    )
