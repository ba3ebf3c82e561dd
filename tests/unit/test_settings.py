from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest

from enginewatch.core.settings import (
    InfluxConfig,
    Settings,
    SettingsError,
    load_settings,
    variables,
)


def test_defaults_are_the_documented_ones() -> None:
    settings = load_settings({})
    assert settings.kafka.app_id == "enginewatch"
    assert settings.kafka.broker == "kafka://localhost:9092"
    topics = settings.topics
    assert (topics.input_topic, topics.archive_topic, topics.dead_letter_topic) == (
        "notify",
        "archive",
        "dead-letters",
    )
    assert settings.influx.url == "http://localhost:8086"
    assert settings.influx.api == "auto"
    assert settings.influx.bucket == "enginewatch"
    assert settings.resolve.engine_map is None
    assert (settings.batch.points, settings.batch.seconds) == (5000, 0.5)


def test_values_come_from_the_given_environment(tmp_path: Path) -> None:
    engine_map = tmp_path / "engines.yaml"
    engine_map.write_text("u1: iris\n", encoding="utf-8")
    settings = load_settings(
        {
            "ENGINEWATCH_APP_ID": "prod-eu",
            "ENGINEWATCH_ENGINE_MAP": str(engine_map),
            "ENGINEWATCH_INFLUX_BUCKET": "metrics/one_week",
            "ENGINEWATCH_INFLUX_TOKEN": "s3cret",
            "ENGINEWATCH_COMPOSER_WORKFLOWS": "fraud, credit ,",
            "OTHER": "ignored",
        }
    )
    assert settings.kafka.app_id == "prod-eu"
    assert settings.resolve.engine_map == engine_map
    assert (settings.influx.database, settings.influx.retention_policy) == ("metrics", "one_week")
    assert settings.resolve.workflow_names == ["fraud", "credit"]
    assert "s3cret" not in repr(settings), "secrets print masked"
    assert settings.influx.token.get_secret_value() == "s3cret"


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("ENGINEWATCH_BATCH_POINTS", "many"),
        ("ENGINEWATCH_BATCH_POINTS", "0"),
        ("ENGINEWATCH_INFLUX_API", "v3"),
        ("ENGINEWATCH_BROKER", "localhost:9092"),
        ("ENGINEWATCH_INFLUX_URL", "localhost:8086"),
        ("ENGINEWATCH_ENGINE_MAP", "/no/such/file.json"),
        ("ENGINEWATCH_APP_ID", "two words"),
        ("ENGINEWATCH_INPUT_KEYED_BY_ENGINE", "perhaps"),
    ],
)
def test_a_wrong_value_is_a_one_line_error_naming_the_variable(name: str, value: str) -> None:
    with pytest.raises(SettingsError) as caught:
        load_settings({name: value})
    message = str(caught.value)
    assert message.startswith(f"{name}: ")
    assert "\n" not in message


def test_settings_are_read_when_asked_never_at_import() -> None:
    code = "import enginewatch.core.settings, agents.app, archiver.command; print('ok')"
    done = subprocess.run(
        [sys.executable, "-c", code],
        env={"ENGINEWATCH_BATCH_POINTS": "broken", "PATH": "/usr/bin:/bin"},
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "ok"


def test_the_command_reports_a_wrong_setting_in_one_line() -> None:
    done = subprocess.run(
        [sys.executable, "-m", "enginewatch.cli", "agents"],
        env={"ENGINEWATCH_INFLUX_API": "v9", "PATH": "/usr/bin:/bin"},
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 2
    assert done.stderr.strip().splitlines() == [
        "enginewatch: ENGINEWATCH_INFLUX_API: Input should be 'auto', 'v1' or 'v2' (got 'v9')"
    ]


def test_settings_objects_are_frozen() -> None:
    settings = Settings()
    with pytest.raises(Exception, match="frozen"):
        settings.kafka.app_id = "other"  # type: ignore[misc]
    with pytest.raises(Exception, match="frozen"):
        settings.influx = InfluxConfig()  # type: ignore[misc]


@pytest.mark.parametrize(
    ("name", "closest"),
    [
        ("ENGINEWATCH_INFLUX_BUCKETS", "ENGINEWATCH_INFLUX_BUCKET"),
        ("ENGINEWATCH_BATCH_POINT", "ENGINEWATCH_BATCH_POINTS"),
        ("ENGINEWATCH_BROKERS", "ENGINEWATCH_BROKER"),
        ("ENGINEWATCH_DEADLETTER_TOPIC", "ENGINEWATCH_DEAD_LETTER_TOPIC"),
    ],
)
def test_an_unknown_variable_is_an_error_naming_the_closest_known_one(
    name: str, closest: str
) -> None:
    with pytest.raises(SettingsError) as caught:
        load_settings({name: "1"})
    assert str(caught.value) == f"{name}: unknown setting; did you mean {closest}?"


def test_an_unknown_variable_with_no_near_name_is_still_an_error() -> None:
    with pytest.raises(SettingsError, match=r"^ENGINEWATCH_XYZZY: unknown setting$"):
        load_settings({"ENGINEWATCH_XYZZY": ""})


def test_every_documented_variable_is_known_and_every_known_one_documented() -> None:
    readme = (Path(__file__).resolve().parents[2] / "README.md").read_text(encoding="utf-8")
    documented = set(re.findall(r"^\| `(ENGINEWATCH_[A-Z_]+)` \|", readme, re.MULTILINE))
    assert documented == set(variables())


def test_each_variable_names_its_component_and_field() -> None:
    known = variables()
    assert known["ENGINEWATCH_INFLUX_URL"] == ("influx", "url")
    assert known["ENGINEWATCH_BATCH_SECONDS"] == ("batch", "seconds")
    assert known["ENGINEWATCH_INPUT_TOPIC"] == ("topics", "input_topic")
    assert known["ENGINEWATCH_RESOLVE_TIMEOUT"] == ("resolve", "resolve_timeout")
