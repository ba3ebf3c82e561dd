"""Values as Grafana shows them: its unit formats, value mappings and thresholds."""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from typing import Any

from enginewatch.dashboards.dashboards import Panel
from enginewatch.dashboards.render.fields import defaults
from enginewatch.dashboards.render.theme import TEXT, colour


def _plain(value: float) -> str:
    """Grafana's decimals: three significant digits at most, no trailing zeros."""
    if value == 0:
        return "0"
    size = abs(value)
    text = f"{value:.0f}" if size >= 100 else f"{value:.1f}" if size >= 10 else f"{value:.2f}"
    return text.rstrip("0").rstrip(".") if "." in text else text


def _scaled(value: float, step: float, suffixes: Sequence[str]) -> str:
    index = 0
    while abs(value) >= step and index < len(suffixes) - 1:
        value /= step
        index += 1
    return f"{_plain(value)}{suffixes[index]}"


def _seconds(value: float) -> str:
    """Grafana's `s` unit: below a second in ms, µs or ns."""
    size = abs(value)
    for step, suffix in ((1.0, " s"), (1e-3, " ms"), (1e-6, " µs")):
        if size >= step:
            return f"{_plain(value / step)}{suffix}"
    return "0 s" if value == 0 else f"{_plain(value / 1e-9)} ns"


def format_value(value: Any, unit: str | None) -> str:
    """A value as Grafana's unit formats show it (the units these dashboards use)."""
    if value is None:
        return ""
    if isinstance(value, str):
        return value
    if unit == "dateTimeAsIso":
        return datetime.fromtimestamp(float(value) / 1000, UTC).strftime("%Y-%m-%d %H:%M:%S")
    number = float(value)
    if not math.isfinite(number):
        return str(number)
    if unit == "percent":
        return f"{_plain(number)}%"
    if unit == "percentunit":  # a fraction, shown as a percentage
        return f"{_plain(number * 100)}%"
    if unit == "s":
        return _seconds(number)
    if unit == "bytes":
        return _scaled(number, 1024, (" B", " KiB", " MiB", " GiB", " TiB"))
    if unit == "Bps":
        return _scaled(number, 1000, (" B/s", " kB/s", " MB/s", " GB/s", " TB/s"))
    if unit == "recps":
        return _scaled(number, 1000, (" rec/s", "K rec/s", "M rec/s", "B rec/s"))
    return _scaled(number, 1000, ("", " K", " Mil", " Bil", " Tri"))


def _mapping_key(value: Any) -> str:
    # InfluxDB returns state codes as floats; the mappings are keyed "1", not "1.0".
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value)


def mapped(value: Any, mappings: Sequence[Mapping[str, Any]]) -> tuple[str, str] | None:
    """(text, colour) of the value mapping that matches the value, if one does."""
    if value is None:
        return None
    key = _mapping_key(value)
    for mapping in mappings:
        if mapping.get("type") == "value":
            option = (mapping.get("options") or {}).get(key)
            if option:
                return str(option.get("text", key)), colour(option.get("color"), TEXT)
    return None


def threshold_colour(value: Any, panel: Panel) -> str:
    """The colour of the highest threshold step the value reaches (the base step has no value)."""
    steps = defaults(panel).get("thresholds", {}).get("steps", [])
    chosen = TEXT
    for step in steps:
        limit = step.get("value")
        if limit is None or (isinstance(value, int | float) and value >= limit):
            chosen = colour(step.get("color"), TEXT)
    return chosen
