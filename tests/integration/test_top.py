"""`enginewatch top` on a real terminal after a recording went through the real pipeline.

tests/recordings/dashboards.jsonl goes through the agents, the alerts worker
and the archiver (test_dashboards' helper) into the local Kafka and InfluxDB;
then `enginewatch top` runs in a pseudo-terminal of 80 x 30 (pexpect) whose
output a terminal emulator (pyte) turns into the screen an operator would
see. The screen must show each model's figures as of the recording's last
second, the firing alert, and the workers' consumer lag caught up to the
topics' ends; `q` must quit it with status 0.
"""

from __future__ import annotations

import contextlib
import os
import time
from collections.abc import Callable
from pathlib import Path

import pexpect
import pyte

from enginewatch.harness import influx
from enginewatch.harness.processes import Process as Worker
from enginewatch.harness.processes import enginewatch_command
from tests.integration.test_dashboards import FRAUD, RECORDING, load_through_the_pipeline
from tests.support.services import base_env

COLUMNS, LINES = 80, 30
GROUPS = ("agents", "archiver", "alerts")
RECORDED = len(RECORDING.read_bytes().splitlines())

# As of the recording's last point (12:01:00.233), each engine's latest report
# within 60 s: fraud's two engines add up (10 + 5 records in per second, 9 + 4
# out, CPU 30 + 40, memory 500 + 600 MB), one of them is in error; churn's one
# engine came back from its pause; the unmapped engine only reports input.
MODEL_LINES = {
    FRAUD: ["fraud/score", "v2.1", "15.0", "13.0", "12", "error", "1/2", "70", "1.1", "GB", "1"],
    "churn": ["churn", "4.0", "4.0", "1", "running", "10", "210.0", "MB"],
    "unknown": ["unknown", "2.0", "-", "-", "warming-up", "-", "-"],
}


class Terminal:
    """A command in a pseudo-terminal, and the screen its output draws."""

    def __init__(self, argv: list[str], env: dict[str, str]) -> None:
        self.screen = pyte.Screen(COLUMNS, LINES)
        self.stream = pyte.Stream(self.screen)
        self.child = pexpect.spawn(
            argv[0],
            argv[1:],
            env={**os.environ, **env, "TERM": "xterm"},
            encoding="utf-8",
            dimensions=(LINES, COLUMNS),
        )

    def lines(self) -> list[str]:
        return [line.rstrip() for line in self.screen.display]

    def read(self, timeout: float = 0.5) -> None:
        # EOF: the command ended; the caller sees it from the screen and isalive().
        with contextlib.suppress(pexpect.TIMEOUT, pexpect.EOF):
            self.stream.feed(self.child.read_nonblocking(65536, timeout=timeout))

    def wait_for(self, shown: Callable[[list[str]], bool], within: float) -> list[str]:
        """Read the screen until `shown` says it holds what is wanted (or the time is up)."""
        deadline = time.monotonic() + within
        while time.monotonic() < deadline and self.child.isalive():
            self.read()
            if shown(self.lines()):
                break
        return self.lines()


def words(lines: list[str], start: str) -> list[str] | None:
    found = [line.split() for line in lines if line.startswith(start)]
    return found[0] if len(found) == 1 else None


def lag_rows(lines: list[str]) -> dict[tuple[str, str], list[int]]:
    """The lag panel's rows: (group, topic) -> committed, end, lag."""
    rows = {}
    for line in lines:
        cells = line.split()
        if len(cells) == 5 and cells[0] in GROUPS and all(c.isdigit() for c in cells[2:]):
            rows[(cells[0], cells[1])] = [int(c) for c in cells[2:]]
    return rows


def caught_up(lines: list[str], notify: str, archive: str) -> bool:
    """The agents committed every recorded line of the input; the archiver and the
    alerts worker every message of the archive topic."""
    rows = lag_rows(lines)
    archived = rows.get(("archiver", archive))
    return (
        rows.get(("agents", notify)) == [RECORDED, RECORDED, 0]
        and archived is not None
        and archived[0] == archived[1] > 0
        and archived[2] == 0
        and rows.get(("alerts", archive)) == archived
    )


def test_top_shows_the_models_the_alert_and_the_lag_and_quits_on_q(
    workers: Callable[..., Worker],
    unique: Callable[[str], str],
    database: str,
    tmp_path: Path,
) -> None:
    expected_points = load_through_the_pipeline(workers, unique, database, tmp_path)
    assert influx.wait_for_points(database, expected_points, timeout=120) == expected_points
    # The names the helper gave (the fixture's names are the same for one test).
    notify, archive = unique("notify"), unique("archive")
    env = base_env(unique("app"), influx_bucket=database)

    terminal = Terminal(enginewatch_command("top", "--interval", "0.5"), env)
    try:
        screen = terminal.wait_for(
            lambda lines: (
                all(words(lines, m) == w for m, w in MODEL_LINES.items())
                and caught_up(lines, notify, archive)
            ),
            within=60,
        )
        text = "\n".join(screen)
        assert all(len(line) <= COLUMNS for line in screen)
        assert screen[0].startswith("enginewatch top"), text
        assert "Models, as of 2024-05-01 12:01:00 UTC" in text, text
        for model, shown in MODEL_LINES.items():
            assert words(screen, model) == shown, text
        assert (words(screen, "EngineError") or [])[:3] == [
            "EngineError",
            "critical",
            "fraud/score",
        ]
        assert caught_up(screen, notify, archive), text

        terminal.child.send("q")
        terminal.child.expect(pexpect.EOF, timeout=15)
        terminal.child.close()
        assert terminal.child.exitstatus == 0
    finally:
        if terminal.child.isalive():
            terminal.child.terminate(force=True)
