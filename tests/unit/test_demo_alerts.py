"""The demo's alerts: its rules are valid, and transitions read back from InfluxDB
become what fired and resolved, checked against the simulated incidents."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

from alerts.rules import load_rules
from enginewatch.core.influxql import Series
from enginewatch.demo.alerts import (
    DEMO_RULES,
    RULE_OF_INCIDENT,
    Episode,
    episodes,
    format_alerts,
    missed_incidents,
)
from enginewatch.tools.fleet import FleetConfig, build_fleet, incident_plan

T0 = 1_714_564_800_000  # 2024-05-01T12:00:00Z, ms
FLEET = build_fleet(5, 1)
ERROR_ENGINE, HOT_ENGINE = FLEET[1], FLEET[2]
COLUMNS = ["time", "state", "firing", "value"]


def series(alertname: str, engine: str, model: str, *rows: list[object]) -> Series:
    tags = {"alertname": alertname, "engine": engine, "model": model, "severity": "critical"}
    return Series("alerts", tags, COLUMNS, [list(r) for r in rows])


def test_the_demo_rules_are_valid_and_fire_on_each_incident(tmp_path: Path) -> None:
    path = tmp_path / "rules.yaml"
    path.write_text(DEMO_RULES)
    rules = load_rules(path)
    assert {rule.name for rule in rules} == set(RULE_OF_INCIDENT.values())
    # The hot spell of a 15-second demo (the smoke test's) outlasts HighCPU's `for`.
    (hot,) = [i for i in incident_plan(FleetConfig(5, 100, datetime.now(UTC), 15, 1, True))
              if i.kind == "hot"]  # fmt: skip
    (cpu,) = [rule for rule in rules if rule.name == "HighCPU"]
    assert "for 5s" in cpu.describe()
    assert hot.end - hot.start > 5 + 1


def test_episodes_pair_each_firing_with_what_ended_it() -> None:
    answer = [
        series(
            "EngineError",
            ERROR_ENGINE.src,
            ERROR_ENGINE.model,
            [T0 + 18_000, "firing", 1, 2.0],
            [T0 + 33_000, "resolved", 0, 1.0],
            [T0 + 40_000, "firing", 1, 2.0],  # fired again, still firing
        ),
        series(
            "HighCPU",
            HOT_ENGINE.src,
            HOT_ENGINE.model,
            [T0 + 9_000, "pending", 0, 95.0],
            [T0 + 14_000, "firing", 1, 95.5],
            [T0 + 20_000, "flapping", 1, 91.0],  # still the same alert firing
            [T0 + 36_500, "resolved", 0, 49.0],
        ),
    ]
    found = episodes(answer)
    assert found == [
        Episode("HighCPU", "critical", HOT_ENGINE.src, HOT_ENGINE.model, T0 + 14_000, 95.5,
                T0 + 36_500, "resolved"),
        Episode("EngineError", "critical", ERROR_ENGINE.src, ERROR_ENGINE.model, T0 + 18_000,
                2.0, T0 + 33_000, "resolved"),
        Episode("EngineError", "critical", ERROR_ENGINE.src, ERROR_ENGINE.model, T0 + 40_000,
                2.0),
    ]  # fmt: skip
    text = format_alerts(found, T0).splitlines()
    assert text[0] == (
        f"  HighCPU (critical) on {HOT_ENGINE.model} (engine {HOT_ENGINE.src[:8]}): "
        "fired 12:00:14 (+14.0 s) at 95.5, resolved 12:00:36 (+36.5 s) after 22.5 s"
    )
    assert text[2].endswith("fired 12:00:40 (+40.0 s) at 2, still firing")
    assert format_alerts([], T0) == "  none"


def test_an_incident_is_missed_until_its_alert_fired_and_resolved_on_its_engine() -> None:
    plan = incident_plan(FleetConfig(5, 100, datetime.now(UTC), 60, 1, True))
    fired = Episode("EngineError", "critical", ERROR_ENGINE.src, ERROR_ENGINE.model, T0, 2.0)
    resolved = Episode("EngineError", "critical", ERROR_ENGINE.src, ERROR_ENGINE.model, T0, 2.0,
                       T0 + 1, "resolved")  # fmt: skip
    elsewhere = Episode("HighCPU", "warning", ERROR_ENGINE.src, ERROR_ENGINE.model, T0, 95.0,
                        T0 + 1, "resolved")  # fmt: skip
    hot = f"HighCPU on {HOT_ENGINE.model}"
    assert missed_incidents(plan, FLEET, [fired, elsewhere]) == [
        f"EngineError on {ERROR_ENGINE.model}",
        hot,
    ]
    assert missed_incidents(plan, FLEET, [resolved]) == [hot]
