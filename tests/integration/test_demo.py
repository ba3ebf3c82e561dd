"""`make demo` as a smoke test: the whole pipeline on the local services, checked from outside."""

from __future__ import annotations

import os
import re
import subprocess
import time
from collections.abc import Callable
from pathlib import Path

from enginewatch.harness import influx, kafka
from enginewatch.tools.fleet import build_fleet, engine_map
from tests.support.services import ROOT

DEMO_SECONDS = "15"
MONITORS_MEASUREMENTS = (
    "data_profile",
    "data_histogram",
    "data_drift",
    "model_quality",
    "model_quality_class",
    "monitor_state",
)


def demo_env(database: str, app_id: str, tmp_path: Path, **extra: str) -> dict[str, str]:
    return {
        **os.environ,
        "DEMO_DATABASE": database,
        "DEMO_APP_ID": app_id,
        "DEMO_OUT": str(tmp_path / "snapshots"),
        "DEMO_WORK": str(tmp_path / "work"),
        **extra,
    }


def processes_with(variable: str) -> list[int]:
    """The processes whose environment holds `variable` (NAME=value)."""
    found = []
    for environ in Path("/proc").glob("[0-9]*/environ"):
        try:
            if variable.encode() in environ.read_bytes().split(b"\0"):
                found.append(int(environ.parent.name))
        except OSError:
            continue  # gone meanwhile, or not ours to read
    return found


def test_make_demo(database: str, unique: Callable[[str], str], tmp_path: Path) -> None:
    app_id = unique("demo")
    data_dirs = set(ROOT.glob("*-data"))
    result = subprocess.run(
        ["make", "--no-print-directory", "demo", f"DEMO_SECONDS={DEMO_SECONDS}"],
        cwd=ROOT,
        env=demo_env(database, app_id, tmp_path),
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )
    output = result.stdout
    assert result.returncode == 0, f"{output}\n{result.stderr}"
    assert "data flowed end to end" in output

    # Every notification became a point, and InfluxDB says so too.
    counts = re.search(r"([\d,]+) notifications -> ([\d,]+) points", output)
    assert counts is not None, output
    sent, stored = (int(number.replace(",", "")) for number in counts.groups())
    assert sent == stored > 0
    # Beside them, the alerts worker's transitions and the monitor's points (both checked
    # below).
    alert_points = len(influx.rows(database, 'SELECT "state" FROM "alerts"'))
    measurements = {
        name for series in influx.query(database, "SHOW MEASUREMENTS") for (name,) in series.values
    }
    monitor_points = sum(
        len(influx.rows(database, f'SELECT * FROM "{name}"'))
        for name in MONITORS_MEASUREMENTS
        if name in measurements
    )
    assert monitor_points > 0
    # And the workers' reports on themselves (enginewatch/core/selfmetrics.py).
    self_points = sum(
        len(influx.rows(database, f'SELECT * FROM "{name}"'))
        for name in measurements
        if name.startswith("enginewatch_")
    )
    total = stored + alert_points + monitor_points + self_points
    assert influx.count_points(database) == total
    assert "; 0 dead letters" in output

    # One summary line per simulated model, and InfluxDB holds each model's points.
    models = set(engine_map(build_fleet(5, seed=1)).values())
    table = output.split("read back from InfluxDB:")[1].split("notifications ->")[0]
    for model in models:
        line = next(line for line in table.splitlines() if line.startswith(model))
        assert re.search(r"\b(init|running|error|paused)\b", line), line
    recorded = influx.rows(database, 'SELECT count("count") FROM "records" GROUP BY "model"')
    assert {row["model"] for row in recorded} == models

    # Each incident's alert fired and resolved: in the summary, and in InfluxDB.
    fleet = build_fleet(5, seed=1)
    alerts = output.split("alerts, read back from InfluxDB (measurement alerts):")[1]
    for rule, engine in (("EngineError", fleet[1]), ("HighCPU", fleet[2])):
        pattern = (
            rf"  {rule} \(\w+\) on {re.escape(engine.model)} \(engine {engine.src[:8]}\): "
            r"fired .*, resolved .* after [\d.]+ s"
        )
        assert re.search(pattern, alerts), alerts
    assert "each incident's alert fired and resolved" in output
    transitions = influx.rows(
        database, 'SELECT "state" FROM "alerts" GROUP BY "alertname", "engine"'
    )
    for rule, engine in (("EngineError", fleet[1]), ("HighCPU", fleet[2])):
        states = [
            r["state"] for r in transitions if (r["alertname"], r["engine"]) == (rule, engine.src)
        ]
        assert "firing" in states, (rule, states)
        assert states[-1] == "resolved", (rule, states)

    # The watched model (the one in error): its drift and quality per window, in the
    # summary and in InfluxDB. Its input shifts halfway: drift after, none before,
    # and the predictions err more.
    watched = fleet[1].model
    monitored = output.split(f"{watched}'s input and predictions, read back from InfluxDB")[1]
    monitored = monitored.split("rendering the dashboards")[0]
    drift = re.search(
        r"drift: the input shifted at \+[\d.]+ s; (\d+) of the (\d+) windows after it drifted "
        r"\(([\w, ]+); drift share up to ([\d.]+)\), 0 of the (\d+) before it",
        monitored,
    )
    assert drift is not None, monitored
    assert int(drift.group(1)) == int(drift.group(2)) >= 1
    assert set(drift.group(3).split(", ")) == {"debt_ratio", "income", "region"}
    assert float(drift.group(4)) == 0.75  # three of the four fields
    assert int(drift.group(5)) >= 1
    quality = re.search(r"MAE ([\d.]+) before the shift, ([\d.]+) after", monitored)
    assert quality is not None, monitored
    assert float(quality.group(2)) > 2 * float(quality.group(1))
    assert "label coverage" in monitored
    assert "NOT AS EXPECTED" not in monitored
    assert len(re.findall(r" DRIFT ", monitored)) == int(drift.group(1))
    stream_drift = influx.rows(
        database, 'SELECT "drifted" FROM "data_drift" WHERE "field" = \'*\' GROUP BY "model"'
    )
    assert {row["model"] for row in stream_drift} == {watched}
    assert sum(row["drifted"] for row in stream_drift) == int(drift.group(1))
    maes = influx.rows(database, 'SELECT "mae", "coverage" FROM "model_quality"')
    assert maes
    assert all(0 < row["coverage"] <= 1 for row in maes)
    work = tmp_path / "work"
    assert "reference: {file: reference.jsonl}" in (work / "monitors.yaml").read_text()
    assert len((work / "reference.jsonl").read_bytes().splitlines()) == 2000

    # Faust's data folders went under the work folder, none into the working directory.
    assert set(ROOT.glob("*-data")) == data_dirs
    kept = {path.name for path in (tmp_path / "work" / "faust").iterdir()}
    workers = ("agents", "alerts", "archiver", "monitors")
    assert kept == {f"{app_id}-{worker}-data" for worker in workers}

    # The dashboards were rendered where the output says.
    pngs = [Path(line.strip()) for line in output.splitlines() if line.strip().endswith(".png")]
    assert {png.name for png in pngs} == {
        "enginewatch-fleet.png",
        "enginewatch-model.png",
        "enginewatch-model-quality.png",
        "enginewatch-pipeline.png",
    }
    for png in pngs:
        assert (ROOT / png).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert "docker compose -f compose/docker-compose.yml" in output

    # It stopped what it started and removed its topics.
    assert processes_with(f"ENGINEWATCH_APP_ID={app_id}") == []
    deadline = time.monotonic() + 30
    while kafka.partitions(f"{app_id}-notify") is not None:
        assert time.monotonic() < deadline, "the demo's input topic is still there"
        time.sleep(0.5)


def test_demo_fails_clearly_without_influxdb(
    database: str, unique: Callable[[str], str], tmp_path: Path
) -> None:
    result = subprocess.run(
        [str(ROOT / ".venv" / "bin" / "enginewatch"), "demo", "--seconds", "5"],
        cwd=ROOT,
        env=demo_env(
            database, unique("demo"), tmp_path, ENGINEWATCH_INFLUX_URL="http://127.0.0.1:9"
        ),
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert result.returncode == 1
    assert "InfluxDB at http://127.0.0.1:9 did not take" in result.stderr
    assert "data flowed" not in result.stdout
