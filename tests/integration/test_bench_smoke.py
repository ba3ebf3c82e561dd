"""`python -m benchmarks --smoke`: the harness runs against the real services and writes
a well-formed report with every figure present. No figure's value is judged here
(speed belongs in the benchmark, not in tests); only that each was measured."""

from __future__ import annotations

import json
import math
import subprocess
import sys
from pathlib import Path

from benchmarks.procs import ROOT
from benchmarks.report import CORRECTNESS_COLUMNS, CORRECTNESS_ROWS, TARGETS
from benchmarks.suite import METRICS


def test_smoke_run_writes_every_figure(tmp_path: Path) -> None:
    done = subprocess.run(
        [sys.executable, "-m", "benchmarks", "--smoke", "--out", str(tmp_path)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert done.returncode == 0, done.stderr[-4000:]

    results = json.loads((tmp_path / "benchmarks.json").read_text(encoding="utf-8"))
    assert results["scale"]["name"] == "smoke"
    for key in ("date", "commit", "machine", "versions", "workload", "profile", "memory"):
        assert results[key], key
    assert set(results["versions"]) >= {
        "python",
        "faust-streaming",
        "kafka",
        "influxdb",
        "telegraf",
    }

    assert set(results["figures"]) == set(METRICS)
    for key, figure in results["figures"].items():
        assert figure["unit"] == METRICS[key][0]
        assert len(figure["runs"]) == results["scale"]["runs"] == 1
        assert all(math.isfinite(v) and v >= 0 for v in figure["runs"]), key
        assert figure["median"] == figure["runs"][0]
    # Rates and latencies are measured, not defaulted: every one is above zero.
    for key in METRICS:
        if METRICS[key][0].endswith("/s") or key.startswith("latency"):
            assert results["figures"][key]["median"] > 0, key

    memory = results["memory"]
    for process in (
        "agents",
        "archiver",
        "baseline",
        "faust no-op consume",
        "monitors, profile",
        "monitors, join",
        "telegraf",
        "telegraf tuned",
        "telegraf generic",
    ):
        assert memory["peak_rss_mib"][process] > 0, process
    assert memory["state_bytes_per_engine"]["carried_in_memory"] > 0
    assert results["profile"]["samples"] >= 0
    assert results["profile"]["events"] == results["scale"]["profile_messages"]

    # The correctness table: every pipeline's column measured, every count a count.
    table = results["correctness"]
    assert table["input"]["messages"] > table["input"]["invalid_lines"] > 0
    assert sum(table["input"]["invalid_kinds"].values()) == table["input"]["invalid_lines"]
    assert table["input"]["sensor_lists"] > 0
    assert set(table["columns"]) == {column for column, _ in CORRECTNESS_COLUMNS}
    keys = {key for _, row in CORRECTNESS_ROWS for key in row}
    for column, counts in table["columns"].items():
        assert set(counts) >= keys, column
        for key, value in counts.items():
            assert value is None or (isinstance(value, int) and value >= 0), (column, key)
        assert counts["points_sent"] > 0, column

    report = (tmp_path / "benchmarks.md").read_text(encoding="utf-8")
    for heading in (
        "## Headline",
        "## 1. Ceilings",
        "## 2. Agents",
        "## 3. Archiver",
        "## 4. Latency",
        "## 5. Scaling",
        "## 6. Baseline",
        "## 7. Memory",
        "## 8. Monitors",
        "## 9. Telegraf side by side",
    ):
        assert heading in report
    for _, _, _, label in TARGETS:
        assert label in report
    assert results["date"] in report
