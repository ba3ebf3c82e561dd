from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from enginewatch.core.settings import Settings, SettingsError, load_settings


def test_defaults_are_the_documented_ones() -> None:
    settings = load_settings({})
    assert settings.app_id == "enginewatch"
    assert settings.broker == "kafka://localhost:9092"
    assert (settings.input_topic, settings.archive_topic, settings.dead_letter_topic) == (
        "notify",
        "archive",
        "dead-letters",
    )
    assert settings.influx_url == "http://localhost:8086"
    assert settings.influx_api == "auto"
    assert settings.influx_bucket == "enginewatch"
    assert settings.engine_map is None


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
    assert settings.app_id == "prod-eu"
    assert settings.engine_map == engine_map
    assert (settings.influx_database, settings.influx_retention_policy) == ("metrics", "one_week")
    assert settings.workflow_names == ["fraud", "credit"]
    assert "s3cret" not in repr(settings), "secrets print masked"
    assert settings.influx_token.get_secret_value() == "s3cret"


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
        settings.app_id = "other"  # type: ignore[misc]
