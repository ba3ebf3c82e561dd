"""`enginewatch snapshot` as an operator runs it, against the real InfluxDB.

The points are written straight to InfluxDB here (the pipeline in front of it
is tested by tests/integration/test_dashboards.py). InfluxDB 2.x's v1 API,
which cannot run here, is stood in for by a proxy that checks the token the
way InfluxDB 2 does and passes the query on to the real InfluxDB 1.x.
"""

from __future__ import annotations

import subprocess
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import numpy as np
import pytest
import requests
from matplotlib.image import imread

from enginewatch.dashboards.dashboards import load_dashboard
from enginewatch.dashboards.render import Canvas
from enginewatch.harness import influx
from enginewatch.harness.processes import run_enginewatch
from tests.support.services import INFLUX_URL, ROOT

T0_NS = 1_714_564_800_000_000_000  # 2024-05-01T12:00:00Z
SECOND = 1_000_000_000
ENGINE_OK, ENGINE_FAILING = "e-ok", "e-failing"
RED = np.array([0xF2, 0x49, 0x5C])
FLEET = ROOT / "grafana" / "dashboards" / "fleet-overview.json"


def line(measurement: str, tags: dict[str, str], fields: str, second: float) -> str:
    tag_text = ",".join(f"{k}={v}" for k, v in tags.items())
    return f"{measurement},{tag_text} {fields} {T0_NS + int(second * SECOND)}"


def fleet_points() -> list[str]:
    lines = []
    for engine, model in ((ENGINE_OK, "churn"), (ENGINE_FAILING, "fraud")):
        tags = {"engine": engine, "model": model}
        lines.append(line("engine_status", tags, 'code=1i,state="running"', 0))
        for k in range(1, 13):
            slot = {**tags, "slot": "0", "direction": "input"}
            lines.append(line("records", slot, f"count={10.0 * k},rps={2.0 * k}", 5 * k))
            lines.append(line("system", tags, f"cpu_utilization={20.0 + k}", 5 * k + 0.1))
            lines.append(line("system", tags, f"memory={3e8 + k * 1e6}", 5 * k + 0.2))
        lines.append(line("engine_logs", {**tags, "level": "info"}, 'text="scored"', 30))
        lines.append(line("engine_events", {**tags, "item": "model", "op": "load"}, 'ref=""', 1))
    failing = {"engine": ENGINE_FAILING, "model": "fraud"}
    lines.append(line("engine_status", failing, 'code=2i,state="error"', 40))
    # The alerts worker's transitions: the error fires (and is still firing).
    alert = {**failing, "alertname": "EngineError", "severity": "critical"}
    lines.append(line("alerts", alert, 'state="firing",firing=1i,value=2', 40))
    return lines


@pytest.fixture
def loaded(database: str) -> str:
    influx.create_database(database)
    response = requests.post(
        f"{INFLUX_URL}/write",
        params={"db": database},
        data="\n".join(fleet_points()).encode(),
        timeout=30,
    )
    response.raise_for_status()
    return database


def snapshot(env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    return run_enginewatch("snapshot", *args, env=env, cwd=ROOT, timeout=240)


def has_red(path: Path, panel: str | None = None) -> bool:
    """Red anywhere in the snapshot, or in the panel of Fleet overview of that title."""
    pixels = (imread(path)[:, :, :3] * 255).astype(int)
    if panel is not None:
        pixels = panel_pixels(pixels, panel)
    return bool((np.abs(pixels - RED).sum(axis=2) < 40).any())


def panel_pixels(pixels: np.ndarray, title: str) -> np.ndarray:
    (found,) = [p for p in load_dashboard(FLEET).panels if p.title == title]
    left, top, width, height = Canvas(load_dashboard(FLEET)).box(found)
    return pixels[int(top) : int(top + height), int(left) : int(left + width)]


def test_snapshot_writes_one_png_per_dashboard(loaded: str, tmp_path: Path) -> None:
    env = {"ENGINEWATCH_INFLUX_URL": INFLUX_URL, "ENGINEWATCH_INFLUX_BUCKET": loaded}
    done = snapshot(env, "--out", str(tmp_path / "out"))
    assert done.returncode == 0, done.stderr
    fleet = tmp_path / "out" / "enginewatch-fleet.png"
    model = tmp_path / "out" / "enginewatch-model.png"
    quality = tmp_path / "out" / "enginewatch-model-quality.png"
    pipeline = tmp_path / "out" / "enginewatch-pipeline.png"
    # Model quality and enginewatch too, without a monitor's or a worker's own
    # point: their panels say "No data".
    assert done.stdout.split() == [str(fleet), str(model), str(quality), str(pipeline)]
    assert imread(fleet).shape[1] == 1600
    # The failing engine's error state is drawn in the mapping's red; its alert
    # is a red mark on the time axes, and a critical row of the firing alerts.
    assert has_red(fleet, "Engine state")
    assert has_red(fleet, "CPU utilization by model")
    assert has_red(fleet, "Firing alerts")


def test_snapshot_of_a_quiet_time_range_shows_no_error_state(loaded: str, tmp_path: Path) -> None:
    env = {"ENGINEWATCH_INFLUX_URL": INFLUX_URL, "ENGINEWATCH_INFLUX_BUCKET": loaded}
    dashboard = ROOT / "grafana" / "dashboards" / "fleet-overview.json"
    done = snapshot(
        env,
        "--dashboard", str(dashboard),
        "--from", "2024-05-01T12:00:00Z",
        "--to", "2024-05-01T12:00:30Z",
        "--out", str(tmp_path),
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    # Nor an alert: it fired after the range's end.
    assert not has_red(tmp_path / "enginewatch-fleet.png")


def test_snapshot_chooses_variables_and_refuses_unknown_values(loaded: str, tmp_path: Path) -> None:
    env = {"ENGINEWATCH_INFLUX_URL": INFLUX_URL, "ENGINEWATCH_INFLUX_BUCKET": loaded}
    dashboard = str(ROOT / "grafana" / "dashboards" / "model-detail.json")
    chosen = snapshot(env, "--dashboard", dashboard, "--var", "model=fraud", "--out", str(tmp_path))
    assert chosen.returncode == 0, chosen.stderr
    refused = snapshot(env, "--dashboard", dashboard, "--var", "model=nope", "--out", str(tmp_path))
    assert refused.returncode == 2
    assert "$model: nope not among its values (churn, fraud)" in refused.stderr


QUALITY = ROOT / "grafana" / "dashboards" / "model-quality.json"
DARKEST_ORANGE = np.array([0x7F, 0x27, 0x04])  # the heatmap's busiest cell


def monitor_points() -> list[str]:
    """A monitor's points as `enginewatch monitors` writes them: 10 s windows, the
    input's `load` drifting from the fourth, its histogram most full in bucket 6 there."""
    lines = []
    base = {"model": "lstm", "monitor": "watch", "window": "10s"}
    for k in range(8):
        shifted = k >= 3
        at = 10 * k
        field = {**base, "stream": "input", "field": "load"}
        lines.append(
            line(
                "data_profile",
                field,
                f"count=50i,p5={1 + 4 * shifted},p50={3 + 4 * shifted},p95={5 + 4 * shifted}",
                at,
            )
        )
        for edge, n in (("2", 10 + 30 * (not shifted)), ("6", 5 + 40 * shifted), ("+Inf", 5)):
            lines.append(line("data_histogram", {**field, "bucket": edge}, f"count={n}i", at))
        if k:
            lines.append(
                line(
                    "data_drift",
                    field,
                    f"statistic={0.5 if shifted else 0.02},drifted={int(shifted)}i",
                    at,
                )
            )
            whole = {**base, "stream": "input", "field": "*"}
            lines.append(
                line(
                    "data_drift",
                    whole,
                    f"drift_share={float(shifted)},drifted_fields={int(shifted)}i,drifted={int(shifted)}i",
                    at,
                )
            )
        quality = {**base, "stream": "out", "field": "yhat"}
        lines.append(
            line(
                "model_quality",
                quality,
                f"matched=9i,unmatched=1i,coverage=0.9,mae={0.5 + shifted}",
                at,
            )
        )
        lines.append(line("monitor_state", base, "bytes=20000i,waiting=3i,panes=2i", at))
    return lines


def test_snapshot_draws_model_quality_with_its_heatmap(
    services: None, database: str, tmp_path: Path
) -> None:
    influx.create_database(database)
    response = requests.post(
        f"{INFLUX_URL}/write",
        params={"db": database},
        data="\n".join(monitor_points()).encode(),
        timeout=30,
    )
    response.raise_for_status()
    env = {"ENGINEWATCH_INFLUX_URL": INFLUX_URL, "ENGINEWATCH_INFLUX_BUCKET": database}
    done = snapshot(env, "--dashboard", str(QUALITY), "--var", "model=lstm", "--out", str(tmp_path))
    assert done.returncode == 0, done.stderr
    pixels = (imread(tmp_path / "enginewatch-model-quality.png")[:, :, :3] * 255).astype(int)
    dashboard = load_dashboard(QUALITY)

    def shows(title: str, rgb: np.ndarray, tolerance: int = 40) -> bool:
        (found,) = [p for p in dashboard.panels if p.title == title]
        left, top, width, height = Canvas(dashboard).box(found)
        area = pixels[int(top) : int(top + height), int(left) : int(left + width)]
        return bool((np.abs(area - rgb).sum(axis=2) < tolerance).any())

    assert shows("Histogram of $field", DARKEST_ORANGE, 30)
    assert shows("Drifted fields over time", RED)  # the drifted windows, in the mapping's red
    assert not shows("Quantiles of $field", RED)


def test_snapshot_says_when_influxdb_refuses(tmp_path: Path, services: None) -> None:
    env = {"ENGINEWATCH_INFLUX_URL": INFLUX_URL, "ENGINEWATCH_INFLUX_BUCKET": "no_such_database"}
    done = snapshot(env, "--out", str(tmp_path))
    assert done.returncode == 1
    assert "panel(s) could not be queried" in done.stderr
    assert "database not found" in done.stderr
    # As in Grafana, the dashboards still show, each panel with its error.
    for name in ("enginewatch-fleet.png", "enginewatch-model.png"):
        assert has_red(tmp_path / name)


TOKEN = "s3cret-token"


class V1CompatProxy(BaseHTTPRequestHandler):
    """InfluxDB 2's v1 `/query`: `Authorization: Token ...` or a 401, then InfluxQL."""

    def do_GET(self) -> None:
        if self.headers.get("Authorization") != f"Token {TOKEN}":
            body = b'{"code":"unauthorized","message":"unauthorized access"}'
            self.send_response(401)
        else:
            upstream = requests.get(INFLUX_URL + self.path, timeout=30)
            body = upstream.content
            self.send_response(upstream.status_code)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture
def influx2_url() -> Iterator[str]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), V1CompatProxy)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()


def test_snapshot_sends_the_token_influxdb_2_wants(
    loaded: str, influx2_url: str, tmp_path: Path
) -> None:
    env = {"ENGINEWATCH_INFLUX_URL": influx2_url, "ENGINEWATCH_INFLUX_BUCKET": loaded}
    dashboard = str(ROOT / "grafana" / "dashboards" / "fleet-overview.json")
    good = snapshot({**env, "ENGINEWATCH_INFLUX_TOKEN": TOKEN}, "--dashboard", dashboard,
                    "--out", str(tmp_path))  # fmt: skip
    assert good.returncode == 0, good.stderr
    assert has_red(tmp_path / "enginewatch-fleet.png")
    bad = snapshot({**env, "ENGINEWATCH_INFLUX_TOKEN": "wrong"}, "--dashboard", dashboard,
                   "--out", str(tmp_path / "bad"))  # fmt: skip
    assert bad.returncode == 1
    assert "401: unauthorized access" in bad.stderr
