"""Grafana's InfluxQL query interpolation, reproduced so that dashboards can be
checked and rendered where no Grafana server runs.

What Grafana (10 and later, InfluxQL through its backend) does to a raw
InfluxQL query before InfluxDB sees it, in this order:

1. The browser replaces the dashboard's template variables in the `regex`
   format (`templateSrv.replace(query, scopedVars, 'regex')`): a value is
   regex-escaped, several values become `(a|b)`, and "All" stands for every
   option, or for the variable's custom all value, inserted unformatted.
   `$__interval` and `$__interval_ms` are held back for the server.
2. The server replaces the macros with plain string replacement, in the order
   `$timeFilter`, `$interval`, `$__interval_ms`, `$__interval`: the time filter
   is `time >= <from>ms and time <= <to>ms`, the intervals are the text and the
   milliseconds of the query interval.

The query interval is what the browser computes for the request: the time
range divided by the panel's max data points (its width in pixels unless set),
rounded to a "nice" step and never below the lower limit (the panel's min
interval, else the datasource's `timeInterval`).
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

ALL_VALUE = "$__all"

# Grafana's variable syntax: $var, [[var]] / [[var:fmt]], ${var} / ${var.path} / ${var:fmt}.
# JavaScript's \w is ASCII only.
VARIABLE_PATTERN = re.compile(
    r"\$(\w+)|\[\[(\w+?)(?::(\w+))?\]\]|\$\{(\w+)(?:\.([^:^\}]+))?(?::([^\}]+))?\}",
    re.ASCII,
)

# Names the server replaces (step 2); the browser leaves them alone.
SERVER_MACROS = ("timeFilter", "interval", "__interval", "__interval_ms")

_REGEX_SPECIALS = re.compile(r"[\\^$*+?.()|\[\]{}/]")
_INTERVAL_TEXT = re.compile(r"^(-?\d+(?:\.\d+)?)(ms|[Mwdhmsy])")
_SECONDS_PER_UNIT = {
    "y": 31536000,
    "M": 2592000,
    "w": 604800,
    "d": 86400,
    "h": 3600,
    "m": 60,
    "s": 1,
    "ms": 0.001,
}
# Grafana's "nice" intervals: (below this many ms, use this many ms).
_NICE_STEPS = (
    (10, 1),
    (15, 10),
    (35, 20),
    (75, 50),
    (150, 100),
    (350, 200),
    (750, 500),
    (1500, 1000),
    (3500, 2000),
    (7500, 5000),
    (12500, 10000),
    (17500, 15000),
    (25000, 20000),
    (45000, 30000),
    (90000, 60000),
    (210000, 120000),
    (450000, 300000),
    (750000, 600000),
    (1050000, 900000),
    (1500000, 1200000),
    (2700000, 1800000),
    (5400000, 3600000),
    (9000000, 7200000),
    (16200000, 10800000),
    (32400000, 21600000),
    (86400000, 43200000),
    (604800000, 86400000),
    (1814400000, 604800000),
    (3628800000, 2592000000),
)
_ONE_YEAR_MS = 31536000000


class InterpolationError(ValueError):
    """A query cannot be interpolated as Grafana would (bad interval, unknown format)."""


@dataclass(frozen=True, slots=True)
class TimeRange:
    """A dashboard time range, in milliseconds since the epoch (UTC)."""

    from_ms: int
    to_ms: int


@dataclass(frozen=True, slots=True)
class VariableValue:
    """A template variable's current selection.

    `selected` is one value, several values (a multi-value variable), or
    ALL_VALUE. "All" expands to `options` (every option but "All"), or to
    `custom_all_value` when the variable has one.
    """

    name: str
    selected: str | tuple[str, ...]
    options: tuple[str, ...] = ()
    custom_all_value: str | None = None

    @property
    def is_all(self) -> bool:
        if isinstance(self.selected, str):
            return self.selected == ALL_VALUE
        return bool(self.selected) and self.selected[0] == ALL_VALUE


def round_interval(interval_ms: float) -> int:
    """Grafana's rangeutil.roundInterval: the nice step for a raw interval."""
    for below, step in _NICE_STEPS:
        if interval_ms < below:
            return step
    return _ONE_YEAR_MS


def interval_to_ms(text: str) -> float:
    """Grafana's rangeutil.intervalToMs ("10s", "1m", "500ms", "30" meaning seconds)."""
    text = text.strip()
    if text.startswith(">"):  # the old "at least" notation of min intervals
        text = text[1:]
    try:
        if float(text):
            return float(int(float(text))) * 1000
    except ValueError:
        pass
    match = _INTERVAL_TEXT.match(text)
    if not match:
        raise InterpolationError(f"invalid interval {text!r}: expected e.g. 10s, 1m, 500ms")
    count = int(float(match.group(1)))  # parseInt: "1.5s" counts as 1s
    return _SECONDS_PER_UNIT[match.group(2)] * 1000 * count


def calculate_interval_ms(
    time_range: TimeRange, max_data_points: int, low_limit: str | None = None
) -> int:
    """Grafana's rangeutil.calculateInterval, in milliseconds."""
    if max_data_points < 1:
        raise InterpolationError(f"max data points must be at least 1, not {max_data_points}")
    low_limit_ms = interval_to_ms(low_limit) if low_limit else 1
    interval = round_interval((time_range.to_ms - time_range.from_ms) / max_data_points)
    return int(max(interval, low_limit_ms))


def format_interval(interval_ms: int) -> str:
    """The Grafana server's gtime.FormatInterval: the largest whole unit, truncated."""
    units = (
        (365 * 86400000, "y"),
        (86400000, "d"),
        (3600000, "h"),
        (60000, "m"),
        (1000, "s"),
        (1, "ms"),
    )
    for size, unit in units:
        if interval_ms >= size:
            return f"{interval_ms // size}{unit}"
    return "1ms"


def time_filter(time_range: TimeRange) -> str:
    """The expansion of $timeFilter."""
    return f"time >= {time_range.from_ms}ms and time <= {time_range.to_ms}ms"


def regex_escape(value: str) -> str:
    """Grafana's kbn.regexEscape."""
    return _REGEX_SPECIALS.sub(lambda m: "\\" + m.group(0), value)


def format_value(value: str | Sequence[str], fmt: str) -> str:
    """One of Grafana's variable formats applied to a value or a list of values."""
    values = [value] if isinstance(value, str) else list(value)
    single = isinstance(value, str)
    if fmt == "regex":
        escaped = [regex_escape(v) for v in values]
        return escaped[0] if len(escaped) == 1 else "(" + "|".join(escaped) + ")"
    if fmt == "raw":
        return value if isinstance(value, str) else ",".join(values)
    if fmt in ("pipe",):
        return "|".join(values)
    if fmt in ("csv",):
        return ",".join(values)
    if fmt == "singlequote":
        return ",".join("'" + v.replace("'", "\\'") + "'" for v in values)
    if fmt == "doublequote":
        return ",".join('"' + v.replace('"', '\\"') + '"' for v in values)
    if fmt == "sqlstring":
        return ",".join("'" + v.replace("'", "''") + "'" for v in values)
    if fmt == "json":
        return json.dumps(values[0] if single else values, separators=(",", ":"))
    if fmt == "glob":
        return values[0] if len(values) == 1 else "{" + ",".join(values) + "}"
    raise InterpolationError(f"unsupported variable format {fmt!r}")


def replace_variables(
    query: str,
    variables: Mapping[str, VariableValue],
    time_range: TimeRange | None = None,
    default_format: str = "regex",
) -> str:
    """Step 1: the browser's template variable replacement.

    Names that are neither variables nor built-ins ($timeFilter, the interval
    macros, anything unknown) are left as they are, as Grafana leaves them.
    """
    builtins: dict[str, str] = {}
    if time_range is not None:
        builtins = {"__from": str(time_range.from_ms), "__to": str(time_range.to_ms)}

    def replace(match: re.Match[str]) -> str:
        name = match.group(1) or match.group(2) or match.group(4)
        fmt = match.group(3) or match.group(6) or default_format
        if match.group(5):
            raise InterpolationError(f"field paths are not supported: {match.group(0)}")
        if name in variables:
            variable = variables[name]
            if variable.is_all:
                if variable.custom_all_value is not None:
                    # A custom all value goes in unformatted (but interpolated).
                    return replace_variables(
                        variable.custom_all_value, variables, time_range, "raw"
                    )
                return format_value(list(variable.options), fmt)
            return format_value(variable.selected, fmt)
        if name in builtins:
            return format_value(builtins[name], fmt)
        return match.group(0)

    return VARIABLE_PATTERN.sub(replace, query)


def replace_macros(query: str, time_range: TimeRange, interval_ms: int) -> str:
    """Step 2: the server's macro replacement, in Grafana's order."""
    interval_ms = max(interval_ms, 1)
    text = format_interval(interval_ms)
    query = query.replace("$timeFilter", time_filter(time_range))
    query = query.replace("$interval", text)
    query = query.replace("$__interval_ms", str(interval_ms))
    return query.replace("$__interval", text)


def interpolate(
    query: str,
    variables: Mapping[str, VariableValue],
    time_range: TimeRange,
    interval_ms: int,
) -> str:
    """A raw InfluxQL query as InfluxDB receives it from Grafana."""
    return replace_macros(replace_variables(query, variables, time_range), time_range, interval_ms)


def referenced_names(text: str) -> set[str]:
    """Every variable name a text refers to, in any of Grafana's syntaxes."""
    return {m.group(1) or m.group(2) or m.group(4) for m in VARIABLE_PATTERN.finditer(text)}
