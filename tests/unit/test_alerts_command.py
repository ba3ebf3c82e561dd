"""`enginewatch alerts` and `enginewatch alerts check`: settings, start-up
errors in one line, the worker's topics, Faust's options passed through."""

from __future__ import annotations

import argparse
import subprocess
import sys
from pathlib import Path

import pytest

from alerts import command
from alerts.app import create_alerts_app
from alerts.command import changelog_problem, check, listing
from alerts.delivery_app import create_delivery_app
from alerts.receivers import receivers
from alerts.rules import load_rules
from enginewatch.core.faustapp import COMPACTED, TopicSpec, app_topics
from enginewatch.core.settings import (
    AlertsConfig,
    KafkaConfig,
    Settings,
    SettingsError,
    TopicsConfig,
    load_settings,
)

ROOT = Path(__file__).resolve().parents[2]
DEFAULT_RULES = ROOT / "alerts" / "default-rules.yaml"
BAD_RULE = "rules:\n  - {name: HighCPU, measurement: system, field: cpu, above: 90, reset: 95}\n"


def _run(*args: str, **env: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "enginewatch.cli", *args],
        env={"PATH": "/usr/bin:/bin", **env},
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def test_the_settings_and_their_defaults(tmp_path: Path) -> None:
    alerts = load_settings({}).alerts
    assert (alerts.alert_rules, alerts.alerts_topic, alerts.alerts_idle) == (None, "alerts", 60.0)
    rules = tmp_path / "rules.yaml"
    rules.write_text("rules: []\n", encoding="utf-8")
    given = load_settings(
        {
            "ENGINEWATCH_ALERT_RULES": str(rules),
            "ENGINEWATCH_ALERTS_TOPIC": "pages",
            "ENGINEWATCH_ALERTS_IDLE": "5",
        }
    ).alerts
    assert (given.alert_rules, given.alerts_topic, given.alerts_idle) == (rules, "pages", 5.0)
    with pytest.raises(SettingsError, match=r"^ENGINEWATCH_ALERT_RULES: Value error, no such file"):
        load_settings({"ENGINEWATCH_ALERT_RULES": str(tmp_path / "none.yaml")})
    with pytest.raises(SettingsError, match=r"^ENGINEWATCH_ALERTS_IDLE: "):
        load_settings({"ENGINEWATCH_ALERTS_IDLE": "0"})


def test_the_delivery_settings_and_their_defaults() -> None:
    alerts = load_settings({}).alerts
    assert (alerts.alertmanager_urls, alerts.webhook_urls) == ([], [])
    assert (alerts.alerts_resend, alerts.alerts_repeat) == (60.0, 14400.0)
    given = load_settings(
        {
            "ENGINEWATCH_ALERTMANAGER_URL": "http://am-0:9093, http://am-1:9093",
            "ENGINEWATCH_ALERT_WEBHOOKS": "https://hooks.example/a,,https://hooks.example/b",
            "ENGINEWATCH_ALERTS_RESEND": "5",
            "ENGINEWATCH_ALERTS_REPEAT": "3600",
        }
    ).alerts
    assert given.alertmanager_urls == ["http://am-0:9093", "http://am-1:9093"]
    assert given.webhook_urls == ["https://hooks.example/a", "https://hooks.example/b"]
    assert (given.alerts_resend, given.alerts_repeat) == (5.0, 3600.0)
    with pytest.raises(SettingsError, match=r"^ENGINEWATCH_ALERT_WEBHOOKS: .*'hooks.example/a'"):
        load_settings({"ENGINEWATCH_ALERT_WEBHOOKS": "hooks.example/a"})
    with pytest.raises(SettingsError, match=r"^ENGINEWATCH_ALERTS_RESEND: "):
        load_settings({"ENGINEWATCH_ALERTS_RESEND": "0"})


def test_without_receivers_delivery_refuses_to_start_in_one_line() -> None:
    done = _run("alerts", "deliver", "-l", "info")
    assert done.returncode == 2
    assert done.stderr.strip().splitlines() == [
        "enginewatch alerts deliver: neither ENGINEWATCH_ALERTMANAGER_URL nor "
        "ENGINEWATCH_ALERT_WEBHOOKS is set: nothing to deliver to"
    ]


def test_delivery_reads_the_alerts_topic_with_one_agent_per_receiver() -> None:
    settings = Settings(
        kafka=KafkaConfig(app_id="t"),
        alerts=AlertsConfig(
            alerts_topic="pages", alertmanager_url="http://am:9093", alert_webhooks="http://h/1"
        ),
    )
    found = receivers(["http://am:9093"], ["http://h/1"], 60.0)
    app = create_delivery_app(settings, found, 3)
    assert app_topics(app) == {
        "pages": TopicSpec(3),
        "t-alert-delivery-alert-deliveries-changelog": TopicSpec(3, COMPACTED),
    }
    assert sorted(app.agents) == sorted(f"deliver-{receiver.id}" for receiver in found)


def test_without_rules_the_worker_refuses_to_start_in_one_line() -> None:
    done = _run("alerts")
    assert done.returncode == 2
    assert done.stderr.strip().splitlines() == [
        "enginewatch alerts: ENGINEWATCH_ALERT_RULES is not set: name a rules file "
        f"({DEFAULT_RULES} is a starting point)"
    ]


def test_a_wrong_rule_stops_the_start_in_one_line(tmp_path: Path) -> None:
    rules = tmp_path / "rules.yaml"
    rules.write_text(BAD_RULE, encoding="utf-8")
    # No broker is asked: the rules are checked first.
    done = _run(
        "alerts", ENGINEWATCH_ALERT_RULES=str(rules), ENGINEWATCH_BROKER="kafka://127.0.0.1:1"
    )
    assert done.returncode == 2
    assert done.stderr.strip().splitlines() == [
        f"enginewatch alerts: {rules}: rule 'HighCPU': reset: must be at or below above (90), "
        "got 95"
    ]


def test_check_lists_good_rules_and_names_a_wrong_one(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert check(DEFAULT_RULES) == 0
    out = capsys.readouterr().out.splitlines()
    assert out[0] == f"{DEFAULT_RULES}: 6 rule(s)"
    assert out[1].split()[:4] == ["EngineError", "critical", "by", "engine,model:"]
    assert len(out) == 7
    bad = tmp_path / "bad.yaml"
    bad.write_text(BAD_RULE, encoding="utf-8")
    assert check(bad) == 1
    assert capsys.readouterr().err.strip() == (
        f"enginewatch alerts check: {bad}: rule 'HighCPU': reset: must be at or below above "
        "(90), got 95"
    )
    assert check(None) == 2


def test_check_as_a_command(tmp_path: Path) -> None:
    done = _run("alerts", "check", str(DEFAULT_RULES))
    assert done.returncode == 0, done.stderr
    assert "EngineSilent" in done.stdout
    bad = tmp_path / "bad.yaml"
    bad.write_text(BAD_RULE, encoding="utf-8")
    done = _run("alerts", "check", ENGINEWATCH_ALERT_RULES=str(bad))
    assert done.returncode == 1
    assert len(done.stderr.strip().splitlines()) == 1
    assert _run("alerts", "check", str(DEFAULT_RULES), "extra").returncode == 2


def test_the_listing_says_what_fires_each_rule() -> None:
    text = listing(load_rules(DEFAULT_RULES))
    assert "sum(rejections.count) over 5m / sum(records.count{direction=input}) above 0.05" in text
    assert "while engine_status.state equals 'running'" in text
    assert "* silent; no-data after 5m, fires" in text


@pytest.mark.parametrize(
    ("argv", "action", "worker"),
    [
        (["alerts"], [], []),
        (["alerts", "-l", "info"], [], ["-l", "info"]),
        (["alerts", "-l", "info", "--web-port", "6067"], [], ["-l", "info", "--web-port", "6067"]),
        (["alerts", "--without-web", "-l", "info"], [], ["--without-web", "-l", "info"]),
        (["alerts", "check", "rules.yaml"], ["check", "rules.yaml"], []),
        (["alerts", "deliver", "-l", "info"], ["deliver", "-l", "info"], []),
        (
            ["alerts", "replay", "r.jsonl", "--rules", "x"],
            ["replay", "r.jsonl", "--rules", "x"],
            [],
        ),
    ],
)
def test_fausts_worker_options_pass_through(
    argv: list[str], action: list[str], worker: list[str]
) -> None:
    parser = argparse.ArgumentParser(prog="enginewatch")
    sub = parser.add_subparsers(dest="command")
    command.configure(sub.add_parser("alerts"))
    args, extra = parser.parse_known_args(argv)
    if action:
        assert args.words == action
        assert extra == []
    else:
        assert [*extra, *args.words] == worker


def test_the_worker_reads_the_archive_and_keeps_its_table_beside_it() -> None:
    settings = Settings(
        kafka=KafkaConfig(app_id="t"), topics=TopicsConfig(archive_topic="points", partitions=8)
    )
    app = create_alerts_app(settings, load_rules(DEFAULT_RULES), 3)
    assert app_topics(app) == {
        "points": TopicSpec(3),
        "t-alerts-alert-states-changelog": TopicSpec(3, COMPACTED),
    }


def test_a_changelog_of_another_partition_count_is_refused() -> None:
    assert changelog_problem("c", 4, "archive", 4) is None
    assert changelog_problem("c", 8, "archive", 4) == (
        "the table's changelog 'c' has 8 partition(s), the archive topic 'archive' 4; they must "
        "be equal (the archive topic was repartitioned: delete the changelog, and the alert "
        "states with it)"
    )
