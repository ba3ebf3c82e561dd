"""The rules file: what it accepts, and a wrong rule as one line naming the
file, the rule and the field."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml

from alerts.rules import (
    DEFAULT_FORGET,
    NS,
    Condition,
    RulesError,
    alert_labels,
    fingerprint,
    format_duration,
    load_rules,
    parse_duration,
    rule_identity,
    rules_from,
)

ROOT = Path(__file__).resolve().parents[2]
DEFAULT_RULES = ROOT / "alerts" / "default-rules.yaml"
CPU = {"name": "HighCPU", "measurement": "system", "field": "cpu_utilization", "above": 90}


def _rule(**changes: Any) -> dict[str, Any]:
    rule = {**CPU, **changes}
    return {"rules": [{k: v for k, v in rule.items() if v is not None}]}


def test_the_default_rules_load_and_cover_what_they_promise() -> None:
    rules = load_rules(DEFAULT_RULES)
    assert [rule.name for rule in rules] == [
        "EngineError",
        "HighCPU",
        "MemoryGrowing",
        "RejectedShare",
        "NoThroughput",
        "EngineSilent",
    ]
    by_name = rules.by_name
    assert by_name["EngineError"].condition == Condition("equals", 2.0)
    assert by_name["HighCPU"].condition == Condition("above", 90.0, 80.0)
    assert by_name["HighCPU"].for_ == 60 * NS
    assert by_name["RejectedShare"].divided_by is not None
    assert by_name["NoThroughput"].gate is not None
    silent = by_name["EngineSilent"]
    assert silent.condition is None
    assert silent.group_by == ("engine",)
    assert silent.no_data is not None
    assert silent.no_data.fires


@pytest.mark.parametrize(
    ("text", "ns"),
    [
        ("0s", 0),
        ("30s", 30 * NS),
        ("5m", 300 * NS),
        ("1h30m", 5400 * NS),
        ("1d", 86400 * NS),
        ("500ms", NS // 2),
        ("2m15s", 135 * NS),
    ],
)
def test_durations(text: str, ns: int) -> None:
    assert parse_duration(text) == ns
    assert parse_duration(format_duration(ns)) == ns


@pytest.mark.parametrize("text", ["30", 30, "5 m", "m", "", "1.5h", "-1s", None, "5x"])
def test_a_duration_needs_its_unit(text: Any) -> None:
    with pytest.raises(ValueError, match="must be a duration like 30s, 5m or 1h"):
        parse_duration(text)


@pytest.mark.parametrize(
    ("data", "error"),
    [
        (
            _rule(reset=95),
            "rule 'HighCPU': reset: must be at or below above (90), got 95",
        ),
        (
            _rule(**{"for": "5x"}),
            "rule 'HighCPU': for: must be a duration like 30s, 5m or 1h (got '5x')",
        ),
        (
            _rule(group_by=["model"]),
            "rule 'HighCPU': group_by: must include engine (the archive topic is keyed by engine, "
            "and a series is evaluated where its engine's points arrive)",
        ),
        (
            _rule(above=None),
            "rule 'HighCPU': give one of above, below, outside, equals (or no_data with fires: "
            "true for a rule that alerts on silence only)",
        ),
        (
            _rule(above="x"),
            "rule 'HighCPU': above: must be a number (got 'x')",
        ),
        (
            _rule(above=True),
            "rule 'HighCPU': above: must be a number (got True)",
        ),
        (
            _rule(below=5),
            "rule 'HighCPU': below: give one of above, below, outside, equals, not above and below",
        ),
        (
            _rule(where={"slot": {"matches": "("}}),
            "rule 'HighCPU': where.slot: matches: not a regular expression: missing ), "
            "unterminated subpattern at position 0",
        ),
        (
            _rule(where={"slot": 3}),
            "rule 'HighCPU': where.slot: must be a tag value or {matches: REGEX} (got 3)",
        ),
        (
            _rule(severity="high"),
            "rule 'HighCPU': severity: must be 'info', 'warning' or 'critical'",
        ),
        (
            _rule(colour="red"),
            "rule 'HighCPU': colour: unknown key",
        ),
        (
            {"rules": [{"measurement": "system", "field": "cpu", "above": 1}]},
            "rule #1: name: is required",
        ),
        (
            {"rules": [CPU, CPU]},
            "rule 'HighCPU': name: another rule has this name",
        ),
        (
            _rule(no_data={"after": "5m", "fires": "maybe"}),
            "rule 'HighCPU': no_data.fires: must be true or false (got 'maybe')",
        ),
        (
            _rule(no_data={"fires": True}),
            "rule 'HighCPU': no_data.after: is required",
        ),
        (
            _rule(annotations={"summary": "{{ slot }}"}),
            "rule 'HighCPU': annotations: summary: {{ slot }} is not one of alertname, engine, "
            "model, severity, state, value",
        ),
        (
            _rule(aggregate="mean"),
            "rule 'HighCPU': window: give it with aggregate",
        ),
        (
            _rule(window="5m"),
            "rule 'HighCPU': aggregate: give it with window",
        ),
        (
            _rule(aggregate="median", window="5m"),
            "rule 'HighCPU': aggregate: must be 'mean', 'max', 'min', 'sum' or 'rate'",
        ),
        (
            _rule(aggregate="mean", window="10ms"),
            "rule 'HighCPU': window: must be at least 1s (got 10ms)",
        ),
        (
            _rule(divided_by={"measurement": "records", "field": "count"}),
            "rule 'HighCPU': divided_by: needs aggregate: sum (the share of one sum in another)",
        ),
        (
            _rule(flapping={"low": 0.6}),
            "rule 'HighCPU': flapping: low: must be below high (0.5), got 0.6",
        ),
        (
            _rule(flapping=True),
            "rule 'HighCPU': flapping: must be false or {history, low, high} (got True)",
        ),
        (
            _rule(measurement="alerts"),
            "rule 'HighCPU': measurement: the worker ignores its own 'alerts' points",
        ),
        (
            _rule(measurement="*"),
            "rule 'HighCPU': measurement: '*' (any point) is for rules that alert on silence "
            "only: no field and no condition",
        ),
        (
            _rule(above=None, outside=[1, 2], reset=[0, 3]),
            "rule 'HighCPU': reset: must be a band inside outside's [1, 2], got [0, 3]",
        ),
        (
            _rule(above=None, outside=[5, 2]),
            "rule 'HighCPU': outside: the low end 5 is above the high end 2",
        ),
        (
            _rule(above=None, equals=2, reset=1),
            "rule 'HighCPU': reset: not with equals (a value equals or it does not)",
        ),
        (
            _rule(above=None, equals="error", aggregate="sum", window="1m"),
            "rule 'HighCPU': equals: an aggregate is a number",
        ),
        (
            _rule(**{"while": {"measurement": "engine_status", "field": "state"}}),
            "rule 'HighCPU': while: give one of above, below, outside, equals",
        ),
        (
            _rule(labels={"severity": "x"}),
            "rule 'HighCPU': labels: 'severity' is set by the rule itself",
        ),
        (
            _rule(labels={"engine": "x"}),
            "rule 'HighCPU': labels: 'engine' is a group_by tag",
        ),
        (
            _rule(labels={"team-name": "x"}),
            "rule 'HighCPU': labels: 'team-name' is not a label name ([A-Za-z_][A-Za-z0-9_]*)",
        ),
        (
            _rule(group_by=["engine", "alertname"]),
            "rule 'HighCPU': group_by: 'alertname' is a label every alert has; it cannot be a tag",
        ),
        (
            _rule(**{"for": "2d"}),
            "rule 'HighCPU': forget: must be longer than for (2d)",
        ),
        (
            _rule(name="High CPU\\"),
            "rule 'High CPU\\\\': name: ends with a backslash",
        ),
        (
            {"rules": []},
            "rules: must not be empty",
        ),
        (
            {"rules": "x"},
            "rules: must be a list (got 'x')",
        ),
        (
            {"rulez": []},
            "rules: is required",
        ),
        (
            {"rules": ["x"]},
            "rule #1: must be a mapping (got 'x')",
        ),
        (
            [],
            "must be a mapping with a 'rules' list",
        ),
    ],
)
def test_a_wrong_rule_is_one_line_naming_file_rule_and_field(data: Any, error: str) -> None:
    with pytest.raises(RulesError) as caught:
        rules_from(data, "rules.yaml")
    assert str(caught.value) == f"rules.yaml: {error}"


def test_errors_of_the_file_itself_name_it(tmp_path: Path) -> None:
    missing = tmp_path / "none.yaml"
    with pytest.raises(RulesError, match=rf"^{missing}: cannot read: "):
        load_rules(missing)
    broken = tmp_path / "broken.yaml"
    broken.write_text("rules:\n  - name: [unclosed\n", encoding="utf-8")
    with pytest.raises(RulesError) as caught:
        load_rules(broken)
    assert str(caught.value).startswith(f"{broken}: line 3: not YAML: ")
    assert "\n" not in str(caught.value)


def test_every_key_the_readme_names_is_accepted() -> None:
    """A rule with every key at once (the README's full example) loads."""
    readme = (ROOT / "alerts" / "README.md").read_text(encoding="utf-8")
    example = readme.split("```yaml\n", 1)[1].split("```", 1)[0]
    rules = rules_from(yaml.safe_load(example))
    (rule,) = [r for r in rules if r.name == "ShareRejected"]
    assert rule.gate is not None
    assert rule.divided_by is not None
    assert rule.no_data is not None
    assert rule.forget == 2 * 86400 * NS != DEFAULT_FORGET


def test_a_regular_expression_matches_the_whole_tag() -> None:
    rules = rules_from(_rule(where={"slot": {"matches": "[02]"}, "direction": "input"}))
    (feed,) = list(rules.feeds("system"))
    assert feed.matches_tags({"slot": "0", "direction": "input"})
    assert feed.matches_tags({"slot": "2", "direction": "input"})
    assert not feed.matches_tags({"slot": "20", "direction": "input"})
    assert not feed.matches_tags({"slot": "0", "direction": "output"})
    assert not feed.matches_tags({"direction": "input"})


@pytest.mark.parametrize(
    ("labels", "expected"),
    [
        ({}, 14695981039346656037),
        ({"name": "garland, briggs", "fear": "love is not enough"}, 5799056148416392346),
        (
            {"first-label": "first-label-value", "second-label": "second-label-value"},
            3195800080984914717,
        ),
    ],
)
def test_the_fingerprint_is_alertmanagers(labels: dict[str, str], expected: int) -> None:
    """The values Prometheus's own tests give (prometheus/common model/signature_test.go)."""
    assert fingerprint(labels) == f"{expected:016x}"


def test_annotations_do_not_identify_an_alert_labels_do() -> None:
    plain = rules_from(_rule()).by_name["HighCPU"]
    described = rules_from(_rule(annotations={"summary": "hot"})).by_name["HighCPU"]
    labelled = rules_from(_rule(labels={"team": "ops"})).by_name["HighCPU"]
    graver = rules_from(_rule(severity="critical")).by_name["HighCPU"]
    tags = {"engine": "e1", "model": "m"}
    assert alert_labels(plain, tags) == {
        "alertname": "HighCPU",
        "severity": "warning",
        "engine": "e1",
        "model": "m",
    }
    assert fingerprint(alert_labels(plain, tags)) == fingerprint(alert_labels(described, tags))
    assert rule_identity(plain) == rule_identity(described)
    for other in (labelled, graver):
        assert fingerprint(alert_labels(plain, tags)) != fingerprint(alert_labels(other, tags))
        assert rule_identity(plain) != rule_identity(other)


def test_conditions_and_their_reset_thresholds() -> None:
    above = Condition("above", 90.0, 80.0)
    assert [above.holds(v) for v in (91, 90, 85)] == [True, False, False]
    assert [above.holds(v, firing=True) for v in (85, 80)] == [True, False]
    below = Condition("below", 5.0, 10.0)
    assert [below.holds(4), below.holds(7), below.holds(7, firing=True)] == [True, False, True]
    band = Condition("outside", (10.0, 20.0), (12.0, 18.0))
    assert [band.holds(v) for v in (9, 21, 11)] == [True, True, False]
    assert [band.holds(v, firing=True) for v in (11, 15)] == [True, False]
    assert [Condition("equals", 2.0).holds(v) for v in (2, 2.0, "2")] == [True, True, False]
    assert Condition("equals", "running").holds("running")
    assert not Condition("above", 1.0).holds("text")


def test_annotation_templates_fill_in_known_names() -> None:
    rule = rules_from(_rule(annotations={"s": "{{ engine }} at {{value}} ({{ state }})"})).rules[0]
    names = {"engine": "e1", "value": "93.5", "state": "firing"}
    assert rule.render(rule.annotations["s"], names) == "e1 at 93.5 (firing)"
