"""The alert rules file (YAML), loaded and checked into frozen models: the
names the rest of enginewatch uses, from the modules that each do one job.

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

    durations.py   `30s`, `5m`, `1h30m` <-> integer nanoseconds
    conditions.py  above, below, outside, equals, with a reset threshold
    labels.py      an alert's labels and their fingerprint (Alertmanager's)
    model.py       one rule, key by key (pydantic models)
    ruleset.py     the checked file and its lookups (`Rules`, `Feed`)
    loader.py      the file read and checked, or one `RulesError` line
"""

from __future__ import annotations

from alerts.conditions import Condition
from alerts.labels import RESERVED_LABELS, alert_labels, fingerprint, rule_identity
from alerts.loader import RulesError, load_rules, rules_from
from alerts.model import (
    ALERTS_MEASUREMENT,
    ANY,
    DEFAULT_FORGET,
    Aggregate,
    Flapping,
    Gate,
    Matches,
    NoData,
    Rule,
    Selector,
    Severity,
)
from alerts.ruleset import Feed, Role, Rules
from enginewatch.core.configfile import NS, Duration, format_duration, parse_duration

__all__ = [
    "ALERTS_MEASUREMENT",
    "ANY",
    "DEFAULT_FORGET",
    "NS",
    "RESERVED_LABELS",
    "Aggregate",
    "Condition",
    "Duration",
    "Feed",
    "Flapping",
    "Gate",
    "Matches",
    "NoData",
    "Role",
    "Rule",
    "Rules",
    "RulesError",
    "Selector",
    "Severity",
    "alert_labels",
    "fingerprint",
    "format_duration",
    "load_rules",
    "parse_duration",
    "rule_identity",
    "rules_from",
]
