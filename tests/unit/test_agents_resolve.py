"""Model-name resolution against local servers that answer as Composer and Connect."""

from __future__ import annotations

import asyncio
import json
import ssl
import subprocess
import sys
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import pytest
import requests
from pydantic import SecretStr
from requests.adapters import BaseAdapter

from agents.resolve.resolver import UNKNOWN, Resolver, resolver_from_config
from agents.resolve.sources import (
    SourceError,
    SourceSession,
    fetch_composer,
    fetch_connect,
    read_map_file,
)
from enginewatch.core.settings import ResolveConfig, SettingsError, load_settings, variables
from tests.support.fleet import FleetState, fleet_server

ODD_NAME = "Credit risk, v2 = spécial"
TOKEN = "resolve-Secret-9f3e1c"


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


class Recorder(BaseAdapter):
    """A transport that answers every request with one canned answer (or raises),
    and keeps each request as sent with the `verify` it was sent with."""

    def __init__(
        self,
        body: Any = None,
        status: int = 200,
        reason: str = "OK",
        raises: Exception | None = None,
    ) -> None:
        super().__init__()
        self.body, self.status, self.reason, self.raises = body, status, reason, raises
        self.sent: list[tuple[requests.PreparedRequest, object]] = []

    def send(
        self, request: requests.PreparedRequest, verify: object = True, **_: Any
    ) -> requests.Response:
        self.sent.append((request, verify))
        if self.raises is not None:
            raise self.raises
        response = requests.Response()
        response.status_code, response.reason = self.status, self.reason
        response._content = json.dumps(self.body).encode()
        response.url, response.request = str(request.url), request
        return response

    def close(self) -> None:
        pass


def _session(recorder: Recorder, cafile: Path | None, token: str) -> SourceSession:
    session = SourceSession(cafile, SecretStr(token))
    session.mount("https://", recorder)
    return session


COMPOSER_STATUS = {"fraud-model": {"Engine": {"ID": "u1", "Name": "engine-1"}, "Status": "running"}}


def test_the_token_goes_as_a_bearer_header_and_the_ca_file_with_each_request(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    cafile = tmp_path / "ca.pem"
    # A session's own `verify` would lose to this; one given per request does not.
    monkeypatch.setenv("REQUESTS_CA_BUNDLE", str(tmp_path / "elsewhere.pem"))
    recorder = Recorder(COMPOSER_STATUS)
    session = _session(recorder, cafile, TOKEN)
    assert fetch_composer(session, "https://composer.test", ["fraud"], 2.0) == {"u1": "fraud-model"}
    [(request, verify)] = recorder.sent
    assert request.headers["Authorization"] == f"Bearer {TOKEN}"
    assert verify == str(cafile)
    assert TOKEN not in repr(session.auth)


def test_without_a_token_no_header_and_without_a_ca_file_the_default_cas(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    for variable in ("REQUESTS_CA_BUNDLE", "CURL_CA_BUNDLE"):
        monkeypatch.delenv(variable, raising=False)
    recorder = Recorder([])
    assert fetch_connect(_session(recorder, None, ""), "https://connect.test", 2.0, {}) == {}
    [(request, verify)] = recorder.sent
    assert "Authorization" not in request.headers
    assert verify is True, "verification is on even without a CA file"


def test_a_refused_token_names_its_setting_and_never_the_token() -> None:
    # A server that echoes the header back in its reason phrase.
    recorder = Recorder({"error": "unauthorized"}, 401, f"Unauthorized: Bearer {TOKEN}")
    with pytest.raises(SourceError) as error:
        fetch_composer(_session(recorder, None, TOKEN), "https://composer.test", ["fraud"], 2.0)
    message = str(error.value)
    assert "GET https://composer.test/1/workflow/fraud/status: answered 401" in message
    assert "check ENGINEWATCH_RESOLVE_TOKEN" in message
    assert TOKEN not in message
    assert "Bearer ***" in message
    assert error.value.lasting, "a setting to fix, not an outage"


def test_a_refusal_without_a_token_says_to_set_one() -> None:
    recorder = Recorder({"error": "forbidden"}, 403, "Forbidden")
    with pytest.raises(SourceError, match="no token was sent: set ENGINEWATCH_RESOLVE_TOKEN"):
        fetch_connect(_session(recorder, None, ""), "https://connect.test", 2.0, {})


def test_an_untrusted_certificate_is_one_line_naming_the_ca_setting() -> None:
    failure = ssl.SSLCertVerificationError(1, "certificate verify failed")
    failure.verify_message = "unable to get local issuer certificate"
    recorder = Recorder(raises=requests.exceptions.SSLError(failure))
    with pytest.raises(SourceError) as error:
        fetch_connect(_session(recorder, None, TOKEN), "https://connect.test", 2.0, {})
    message = str(error.value)
    assert message == (
        "GET https://connect.test/api/1/service/connect/1/connect: the TLS certificate is not "
        "trusted (unable to get local issuer certificate; give its CA in "
        "ENGINEWATCH_RESOLVE_SSL_CAFILE)"
    )
    assert error.value.lasting
    assert len(recorder.sent) == 1, "asked once, not retried"


def test_other_failures_are_outages_to_back_off_from() -> None:
    recorder = Recorder({"error": "unavailable"}, 503, "Service Unavailable")
    with pytest.raises(SourceError, match="503") as error:
        fetch_connect(_session(recorder, None, TOKEN), "https://connect.test", 2.0, {})
    assert not error.value.lasting


def test_a_setting_to_fix_is_asked_again_at_the_interval_not_backed_off_from() -> None:
    asked: list[float] = []
    clock = Clock()

    def refused(_previous: Mapping[str, str]) -> dict[str, str]:
        asked.append(clock.now)
        raise SourceError("certificate not trusted", lasting=True)

    resolver = Resolver({"connect": refused}, interval=60, clock=clock)
    for _ in range(61):  # a minute of a resolver loop
        if resolver.refresh_due():
            resolver.refresh()
        clock.now += 1
    assert asked == [1000.0, 1060.0]


def test_the_resolve_tls_variables_and_none_turns_verification_off() -> None:
    known = variables()
    assert known["ENGINEWATCH_RESOLVE_SSL_CAFILE"] == ("resolve", "resolve_ssl_cafile")
    assert known["ENGINEWATCH_RESOLVE_TOKEN"] == ("resolve", "resolve_token")
    assert [name for name in known if "VERIFY" in name or "INSECURE" in name] == []


def test_the_resolve_ca_file_must_exist_and_needs_an_https_url(tmp_path: Path) -> None:
    cafile = tmp_path / "ca.pem"
    cafile.write_text("a CA\n", encoding="utf-8")
    env = {
        "ENGINEWATCH_COMPOSER_URL": "http://composer:8010",
        "ENGINEWATCH_CONNECT_URL": "https://connect:8001",
        "ENGINEWATCH_RESOLVE_SSL_CAFILE": str(cafile),
    }
    assert load_settings(env).resolve.resolve_ssl_cafile == cafile
    with pytest.raises(SettingsError, match=r"^ENGINEWATCH_RESOLVE_SSL_CAFILE: .*no such file"):
        load_settings({**env, "ENGINEWATCH_RESOLVE_SSL_CAFILE": str(tmp_path / "none.pem")})
    with pytest.raises(SettingsError) as error:
        load_settings({**env, "ENGINEWATCH_CONNECT_URL": "http://connect:8001"})
    assert str(error.value) == (
        "ENGINEWATCH_RESOLVE_SSL_CAFILE is set but neither ENGINEWATCH_COMPOSER_URL "
        "nor ENGINEWATCH_CONNECT_URL is https://"
    )


def test_the_resolve_token_is_a_secret_sent_only_over_https() -> None:
    env = {
        "ENGINEWATCH_COMPOSER_URL": "https://composer:8010",
        "ENGINEWATCH_CONNECT_URL": "https://connect:8001",
        "ENGINEWATCH_RESOLVE_TOKEN": TOKEN,
    }
    settings = load_settings(env)
    assert settings.resolve.resolve_token.get_secret_value() == TOKEN
    assert TOKEN not in repr(settings)
    assert TOKEN not in str(settings)
    with pytest.raises(SettingsError) as error:
        load_settings({**env, "ENGINEWATCH_CONNECT_URL": "http://connect:8001"})
    assert str(error.value) == (
        "ENGINEWATCH_RESOLVE_TOKEN would cross the network in clear: "
        "ENGINEWATCH_CONNECT_URL is not https://"
    )
    with pytest.raises(SettingsError, match="RESOLVE_TOKEN is set but neither") as error:
        load_settings({"ENGINEWATCH_RESOLVE_TOKEN": TOKEN})
    assert TOKEN not in str(error.value)


def test_resolver_from_config_asks_with_the_settings_ca_file_and_token(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    cafile = tmp_path / "ca.pem"
    cafile.write_text("a CA\n", encoding="utf-8")
    recorder = Recorder(COMPOSER_STATUS)
    # Every session the resolver makes sends through the recorder.
    monkeypatch.setattr(SourceSession, "get_adapter", lambda _self, url: recorder)
    settings = ResolveConfig(
        composer_url="https://composer.test",
        composer_workflows="fraud",
        resolve_ssl_cafile=cafile,
        resolve_token=SecretStr(TOKEN),
    )
    resolver = resolver_from_config(settings)
    resolver.refresh()
    assert resolver.model_for("u1") == "fraud-model"
    [(request, verify)] = recorder.sent
    assert (request.headers["Authorization"], verify) == (f"Bearer {TOKEN}", str(cafile))
