"""Model-name resolution against local servers that answer as Composer and Connect."""

from __future__ import annotations

import asyncio
import json
import subprocess
import sys
from pathlib import Path

import pytest

from agents.resolve.resolver import UNKNOWN, Resolver, resolver_from_config
from agents.resolve.sources import SourceError, read_map_file
from enginewatch.core.settings import ResolveConfig
from tests.support.fleet import FleetState, fleet_server

ODD_NAME = "Credit risk, v2 = spécial"


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def _settings(tmp_path: Path, url: str, mapping: dict[str, str] | None = None) -> ResolveConfig:
    engine_map = None
    if mapping is not None:
        engine_map = tmp_path / "engines.json"
        engine_map.write_text(json.dumps(mapping), encoding="utf-8")
    return ResolveConfig(
        engine_map=engine_map,
        composer_url=url,
        composer_workflows="fraud,credit",
        connect_url=url,
        resolve_timeout=2,
    )


def test_precedence_map_file_then_composer_then_connect(tmp_path: Path) -> None:
    state = FleetState(
        workflows={"fraud": {"fraud-model": "u1", "shared-composer": "u3"}, "credit": {}},
        engines={
            "engine-1": ("u1", "connect-name"),
            "engine-2": ("u2", ODD_NAME),
            "engine-3": ("u3", "shared-connect"),
            "engine-4": ("u4", None),
        },
    )
    with fleet_server(state) as url:
        resolver = resolver_from_config(_settings(tmp_path, url, {"u3": "from the map"}))
        resolver.refresh()
    entries = {uuid: (e.model, e.source) for uuid, e in resolver.entries.items()}
    assert entries == {
        "u1": ("fraud-model", "composer"),
        "u2": (ODD_NAME, "connect"),
        "u3": ("from the map", "map-file"),
    }
    assert resolver.model_for("u2") == ODD_NAME
    assert resolver.model_for("nobody") == UNKNOWN
    assert resolver.errors == {}


@pytest.mark.parametrize("uuid_field", ["id", "src"])
def test_connect_names_an_engine_by_its_fleet_entrys_src_else_its_id(uuid_field: str) -> None:
    state = FleetState(engines={"engine-1": ("u1", "iris")}, uuid_field=uuid_field)
    with fleet_server(state) as url:
        resolver = resolver_from_config(ResolveConfig(connect_url=url))
        resolver.refresh()
    assert {uuid: e.model for uuid, e in resolver.entries.items()} == {"u1": "iris"}


def test_a_failing_source_keeps_its_last_good_mapping_and_backs_off(tmp_path: Path) -> None:
    state = FleetState(engines={"engine-1": ("u1", "iris")})
    clock = Clock()
    with fleet_server(state) as url:
        settings = ResolveConfig(connect_url=url, resolve_interval=60, resolve_timeout=2)
        resolver = resolver_from_config(settings, clock=clock)
        resolver.refresh()
        assert resolver.model_for("u1") == "iris"

        state.fail_with = 503
        clock.now += 60
        assert resolver.refresh_due()
        resolver.refresh()
        assert resolver.model_for("u1") == "iris", "the last good mapping stays"
        assert "503" in resolver.errors["connect"]
        asked = len(state.requests)
        clock.now += 0.5
        resolver.refresh()
        assert len(state.requests) == asked, "within the backoff the source is not asked"

        state.fail_with = None
        state.engines["engine-1"] = ("u1", "iris-v2")
        clock.now += 2
        assert resolver.refresh_due(), "a failed source is retried before the next interval"
        resolver.refresh()
        assert resolver.model_for("u1") == "iris-v2"
        assert resolver.errors == {}


def test_an_unknown_engine_asks_for_an_early_refresh_rate_limited() -> None:
    clock = Clock()
    known: dict[str, str] = {}
    resolver = Resolver(
        {"map-file": lambda _previous: dict(known)}, interval=60, unknown_interval=5, clock=clock
    )
    resolver.refresh()
    assert not resolver.refresh_due()
    assert resolver.model_for("u9") == UNKNOWN
    assert not resolver.refresh_due(), "not before unknown_interval"
    clock.now += 5
    assert resolver.refresh_due()
    known["u9"] = "late model"
    resolver.refresh()
    assert resolver.model_for("u9") == "late model"
    clock.now += 5
    assert not resolver.refresh_due(), "known engines ask for nothing"


def test_an_engine_connect_cannot_ask_keeps_its_name(tmp_path: Path) -> None:
    state = FleetState(engines={"engine-1": ("u1", "iris"), "engine-2": ("u2", "churn")})
    clock = Clock()
    with fleet_server(state) as url:
        resolver = resolver_from_config(ResolveConfig(connect_url=url), clock=clock)
        resolver.refresh()
        state.engines["engine-1"] = ("u1", "iris-v2")
        state.engines["engine-9"] = ("u9", "new")
        state.failing_engines.add("engine-2")
        clock.now += 60
        resolver.refresh()
    assert {uuid: e.model for uuid, e in resolver.entries.items()} == {
        "u1": "iris-v2",
        "u2": "churn",
        "u9": "new",
    }


def test_healthy_sources_wait_for_their_interval_while_another_backs_off(tmp_path: Path) -> None:
    asked: list[str] = []
    clock = Clock()

    def healthy(_previous: object) -> dict[str, str]:
        asked.append("healthy")
        return {"u1": "iris"}

    def failing(_previous: object) -> dict[str, str]:
        asked.append("failing")
        raise SourceError("down")

    resolver = Resolver({"map-file": healthy, "connect": failing}, interval=60, clock=clock)
    resolver.refresh()
    for _ in range(10):  # ten seconds of a resolver loop
        clock.now += 1
        if resolver.refresh_due():
            resolver.refresh()
    assert asked.count("healthy") == 1
    assert asked.count("failing") == 4, "retried after 1, 2 and 4 seconds"


def test_model_names_line_protocol_cannot_carry_are_ignored() -> None:
    resolver = Resolver({"map-file": lambda _previous: {"u1": "ok", "u2": "", "u3": "trail\\"}})
    resolver.refresh()
    assert set(resolver.entries) == {"u1"}


def test_map_files_in_json_and_yaml(tmp_path: Path) -> None:
    (tmp_path / "m.yaml").write_text(f"u1: {ODD_NAME}\n'u2': plain\n", encoding="utf-8")
    assert read_map_file(tmp_path / "m.yaml") == {"u1": ODD_NAME, "u2": "plain"}
    (tmp_path / "m.json").write_text(json.dumps({"u1": ODD_NAME}), encoding="utf-8")
    assert read_map_file(tmp_path / "m.json") == {"u1": ODD_NAME}
    (tmp_path / "bad.json").write_text('{"u1": 3}', encoding="utf-8")
    with pytest.raises(SourceError, match="u1"):
        read_map_file(tmp_path / "bad.json")
    (tmp_path / "list.yaml").write_text("- u1\n", encoding="utf-8")
    with pytest.raises(SourceError, match="expected an object"):
        read_map_file(tmp_path / "list.yaml")


def test_refreshing_does_not_block_the_event_loop() -> None:
    state = FleetState(engines={"engine-1": ("u1", "iris")}, delay=0.5)

    async def scenario(url: str) -> int:
        resolver = resolver_from_config(ResolveConfig(connect_url=url, resolve_timeout=5))
        ticks = 0
        keeper = asyncio.create_task(resolver.keep_fresh(tick=0.05))
        while resolver.model_for("u1") == UNKNOWN:
            await asyncio.sleep(0.01)
            ticks += 1
        keeper.cancel()
        return ticks

    with fleet_server(state) as url:
        ticks = asyncio.run(scenario(url))
    # Two slow requests took a second; the loop kept turning meanwhile.
    assert ticks > 10


def test_resolve_command_prints_each_entry_with_its_source(tmp_path: Path) -> None:
    state = FleetState(workflows={"fraud": {"fraud-model": "u1"}})
    (tmp_path / "engines.yaml").write_text(f"u2: {ODD_NAME}\n", encoding="utf-8")
    with fleet_server(state) as url:
        env = {
            "ENGINEWATCH_ENGINE_MAP": str(tmp_path / "engines.yaml"),
            "ENGINEWATCH_COMPOSER_URL": url,
            "ENGINEWATCH_COMPOSER_WORKFLOWS": "fraud",
            "PATH": "/usr/bin:/bin",
        }
        done = subprocess.run(
            [sys.executable, "-m", "enginewatch.cli", "resolve", "--json"],
            env=env,
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout) == {
        "u1": {"model": "fraud-model", "source": "composer"},
        "u2": {"model": ODD_NAME, "source": "map-file"},
    }


def test_resolve_command_fails_loudly_when_a_source_fails(tmp_path: Path) -> None:
    state = FleetState(fail_with=500)
    with fleet_server(state) as url:
        env = {"ENGINEWATCH_CONNECT_URL": url, "PATH": "/usr/bin:/bin"}
        done = subprocess.run(
            [sys.executable, "-m", "enginewatch.cli", "resolve"],
            env=env,
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )
    assert done.returncode == 1
    assert "source connect failed" in done.stderr
    assert "500" in done.stderr
