"""`enginewatch archiver`: configuration errors stop it before it consumes anything."""

from __future__ import annotations

import pytest

from enginewatch.cli import main
from tests.support.influx2 import FakeInfluxV2


def test_the_file_sink_needs_a_directory(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["archiver", "--sink", "file"]) == 2
    assert "--sink file needs --dir DIR" in capsys.readouterr().err


def test_a_bad_token_is_a_clear_error_at_start_up(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    with FakeInfluxV2(token="right", org="acme", bucket="metrics") as server:
        for name, value in {
            "URL": server.url,
            "API": "auto",
            "ORG": "acme",
            "BUCKET": "metrics",
            "TOKEN": "wrong",
        }.items():
            monkeypatch.setenv(f"ENGINEWATCH_INFLUX_{name}", value)
        assert main(["archiver"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("enginewatch archiver: InfluxDB answered 401")
    assert "check ENGINEWATCH_INFLUX_TOKEN" in err
    assert "wrong" not in err  # the token itself is never printed
