"""A panel's field config: the defaults, and the overrides a column matches."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from enginewatch.dashboards.dashboards import Panel


def defaults(panel: Panel) -> Mapping[str, Any]:
    """`fieldConfig.defaults`, empty when the panel has none."""
    found: Mapping[str, Any] = (panel.raw.get("fieldConfig") or {}).get("defaults") or {}
    return found


def field_config(panel: Panel, column: str) -> dict[str, Any]:
    """The panel's field defaults with the overrides that match the column by name."""
    config = dict(defaults(panel))
    for override in (panel.raw.get("fieldConfig") or {}).get("overrides", []):
        matcher = override.get("matcher") or {}
        if matcher.get("id") == "byName" and matcher.get("options") == column:
            for prop in override.get("properties", []):
                config[prop["id"]] = prop.get("value")
    return config
