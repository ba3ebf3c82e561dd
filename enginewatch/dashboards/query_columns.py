"""The columns an InfluxQL query returns, read from its text, for the structure checks.

Grafana's InfluxDB datasource names a table's columns `Time`, then the tags of
the outer GROUP BY, then the outer SELECT's columns: an alias (`AS "x"`), a
field or tag named alone, or a function's name (InfluxDB calls `last("x")`'s
column `last`). A table panel's overrides and an annotation's text and tags
columns name those columns: a query edited without them loses its mappings
or its text without a word from Grafana.

Only the outermost SELECT counts (a subquery's columns are its business).
What cannot be known from the text (`*`, a regular expression, `GROUP BY *`)
gives None: the checks then say nothing rather than guess.
"""

from __future__ import annotations

import re
from collections.abc import Iterator

_WORD = re.compile(r'^(?:"((?:[^"\\]|\\.)*)"|([A-Za-z_][A-Za-z0-9_]*))$')
_ALIAS = re.compile(r'\s+AS\s+(?:"((?:[^"\\]|\\.)*)"|([A-Za-z_][A-Za-z0-9_]*))\s*$', re.I)
_FUNCTION = re.compile(r"^([A-Za-z_][A-Za-z0-9_]*)\s*\(")
_KEYWORDS = ("SELECT", "FROM", "WHERE", "GROUP BY", "ORDER BY", "LIMIT", "SLIMIT", "FILL", "TZ")


def _top_level(query: str) -> Iterator[tuple[int, str]]:
    """(index, character) of the query outside quotes, regexes and parentheses."""
    depth = 0
    quote: str | None = None
    escaped = False
    for index, char in enumerate(query):
        if quote:
            if escaped:
                escaped = False
            elif char == "\\":
                escaped = True
            elif char == quote:
                quote = None
            continue
        if char in "\"'" or (char == "/" and _regex_starts(query, index)):
            quote = char
        elif char == "(":
            depth += 1
        elif char == ")":
            depth -= 1
        elif depth == 0:
            yield index, char


def _regex_starts(query: str, index: int) -> bool:
    # A slash after `=~`, `!~` or FROM opens a regular expression; elsewhere it divides.
    before = query[:index].rstrip()
    return before.endswith(("=~", "!~")) or before.upper().endswith("FROM")


def _clauses(query: str) -> dict[str, str]:
    """The outer statement's clauses by keyword: their text, up to the next keyword."""
    starts: list[tuple[int, str]] = []
    upper = query.upper()
    previous = " "
    for index, char in _top_level(query):
        if previous.isspace() or previous in ")":
            for keyword in _KEYWORDS:
                if upper.startswith(keyword, index) and not _word_goes_on(
                    query, index + len(keyword)
                ):
                    starts.append((index, keyword))
                    break
        previous = char
    clauses: dict[str, str] = {}
    ends = [start for start, _ in starts[1:]] + [len(query)] * bool(starts)
    for (start, keyword), end in zip(starts, ends, strict=True):
        clauses.setdefault(keyword, query[start + len(keyword) : end].strip())
    return clauses


def _word_goes_on(query: str, index: int) -> bool:
    return index < len(query) and (query[index].isalnum() or query[index] == "_")


def _split(text: str) -> list[str]:
    """The comma-separated items of a clause, commas in parentheses or quotes kept."""
    items, start = [], 0
    for index, char in _top_level(text):
        if char == ",":
            items.append(text[start:index].strip())
            start = index + 1
    items.append(text[start:].strip())
    return [item for item in items if item]


def _name(item: str) -> str | None:
    alias = _ALIAS.search(item)
    if alias:
        return alias.group(1) if alias.group(1) is not None else alias.group(2)
    word = _WORD.match(item)
    if word:
        return word.group(1) if word.group(1) is not None else word.group(2)
    function = _FUNCTION.match(item)
    return function.group(1).lower() if function else None


def select_columns(query: str) -> list[str] | None:
    """The outer SELECT's column names, in order; None when one cannot be named."""
    selected = _clauses(query).get("SELECT")
    if selected is None:
        return None
    names = [_name(item) for item in _split(selected)]
    if not names or any(name is None for name in names):
        return None
    return [name for name in names if name is not None]


def group_by_tags(query: str) -> list[str] | None:
    """The outer GROUP BY's tags (not `time(...)`); None for `GROUP BY *` or a regex."""
    grouped = _clauses(query).get("GROUP BY")
    if grouped is None:
        return []
    tags = []
    for item in _split(grouped):
        if item.lower().startswith("time"):
            continue
        name = _WORD.match(item)
        if not name:
            return None
        tags.append(name.group(1) if name.group(1) is not None else name.group(2))
    return tags


def table_columns(query: str) -> list[str] | None:
    """A table-format query's columns as Grafana names them: Time, the tags, the columns."""
    selected = select_columns(query)
    tags = group_by_tags(query)
    if selected is None or tags is None:
        return None
    return ["Time", *tags, *selected]
