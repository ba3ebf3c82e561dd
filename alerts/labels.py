"""What identifies an alert: its labels (`alertname`, `severity`, the rule's
labels and the group's tags) and their fingerprint, Alertmanager's, so the
same labels give the same fingerprint here and there. Annotations describe an
alert and do not identify it."""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from alerts.model import Rule

# Labels every alert carries beside the group's tags and the rule's labels.
RESERVED_LABELS = ("alertname", "severity")
# Prometheus's label names (and Alertmanager's, in its classic mode).
LABEL_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")


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
