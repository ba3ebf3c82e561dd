"""Start-up: telling the write API from /ping, and refusing what cannot work."""

from __future__ import annotations

import asyncio

import pytest

from archiver.sink import ConfigurationError
from archiver.startup import api_from_version, prepare
from enginewatch.core.settings import InfluxConfig
from tests.support.influx2 import FakeInfluxV2


@pytest.mark.parametrize(
    ("version", "api"),
    [
        ("1.6.7~rc0", "v1"),
        ("1.7.11", "v1"),
        ("1.8.10", "v2"),
        ("v2.7.11", "v2"),
        ("2.0.0-beta.1", "v2"),
        ("3.0.1", "v2"),
        ("", None),
        (None, None),
        ("unknown", None),
    ],
)
def test_api_from_version(version: str | None, api: str | None) -> None:
    assert api_from_version(version) == api


def test_a_server_that_cannot_be_told_apart_stops_the_start_up() -> None:
    with FakeInfluxV2(version="unknown") as server:
        settings = InfluxConfig.model_validate({"url": server.url, "api": "auto"})
        with pytest.raises(ConfigurationError, match="set ENGINEWATCH_INFLUX_API to v1 or v2"):
            asyncio.run(prepare(settings))
