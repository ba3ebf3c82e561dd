"""enginewatch subprocesses a command starts, watches and stops (the demo's workers)."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Mapping, Sequence
from pathlib import Path


class ChildFailed(RuntimeError):
    """A child process ended or did not come up; the message says which and where its log is."""


class Child:
    """One `enginewatch ...` process, its output in a log file.

    It runs in a session of its own, so a Ctrl-C on the terminal reaches only
    the parent, which then stops its children in order.
    """

    def __init__(self, name: str, args: Sequence[str], env: Mapping[str, str], log: Path) -> None:
        self.name = name
        self.args = [sys.executable, "-m", "enginewatch.cli", *args]
        self.env = {**os.environ, **env, "PYTHONUNBUFFERED": "1"}
        self.log_path = log
        self.process: subprocess.Popen[bytes] | None = None

    def start(self) -> Child:
        self.log_path.parent.mkdir(parents=True, exist_ok=True)
        with self.log_path.open("ab") as log:
            self.process = subprocess.Popen(
                self.args,
                env=self.env,
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        return self

    def exit_code(self) -> int | None:
        """None while it runs."""
        return None if self.process is None else self.process.poll()

    def log(self) -> str:
        try:
            return self.log_path.read_text(encoding="utf-8", errors="replace")
        except FileNotFoundError:
            return ""

    def tail(self, lines: int = 20) -> str:
        return "\n".join(self.log().splitlines()[-lines:])

    def wait_for_log(self, text: str, timeout: float) -> None:
        """Return once the log holds `text`; raise if the child ends or time is up."""
        deadline = time.monotonic() + timeout
        while text not in self.log():
            if self.exit_code() is not None:
                raise ChildFailed(
                    f"{self.name} exited with status {self.exit_code()} before it was ready; "
                    f"its log ({self.log_path}) ends with:\n{self.tail()}"
                )
            if time.monotonic() > deadline:
                raise ChildFailed(
                    f"{self.name} was not ready after {timeout:.0f}s; see {self.log_path}"
                )
            time.sleep(0.25)

    def stop(self, timeout: float = 30.0) -> int | None:
        """SIGTERM, then SIGKILL after `timeout` seconds; the exit status."""
        process = self.process
        if process is None:
            return None
        if process.poll() is None:
            process.send_signal(signal.SIGTERM)
            try:
                process.wait(timeout)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait(10)
        return process.returncode
