"""enginewatch workers as real subprocesses, the way an operator runs them."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Mapping, Sequence
from pathlib import Path

from tests.support.services import BROKER_URL, INFLUX_URL


def enginewatch_command() -> list[str]:
    return [sys.executable, "-m", "enginewatch.cli"]


class Worker:
    """One `enginewatch ...` process with its own environment and log file."""

    def __init__(self, args: Sequence[str], env: Mapping[str, str], log_path: Path) -> None:
        self.args = list(args)
        self.env = dict(env)
        self.log_path = log_path
        self.process: subprocess.Popen[bytes] | None = None

    def start(self) -> Worker:
        environ = {**os.environ, **self.env, "PYTHONUNBUFFERED": "1"}
        log = self.log_path.open("ab")
        self.process = subprocess.Popen(
            [*enginewatch_command(), *self.args],
            env=environ,
            # Faust keeps an `{app id}-data` folder in its working directory.
            cwd=self.log_path.parent,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        log.close()
        return self

    def stop(self, sig: int = signal.SIGTERM, timeout: float = 30) -> int | None:
        if self.process is None:
            return None
        if self.process.poll() is None:
            self.process.send_signal(sig)
            try:
                self.process.wait(timeout)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(10)
        code = self.process.returncode
        self.process = None
        return code

    def kill(self) -> None:
        self.stop(signal.SIGKILL)

    def running(self) -> bool:
        return self.process is not None and self.process.poll() is None

    def wait_for_log(self, text: str, timeout: float = 60.0) -> None:
        """Wait until the worker's log holds `text`; fail if it exits or time is up."""
        deadline = time.monotonic() + timeout
        while text not in self.log():
            if not self.running():
                raise AssertionError(
                    f"worker exited before logging {text!r}:\n{self.log()[-3000:]}"
                )
            if time.monotonic() > deadline:
                raise AssertionError(f"worker did not log {text!r} in {timeout}s")
            time.sleep(0.2)

    def log(self) -> str:
        return self.log_path.read_text(errors="replace") if self.log_path.exists() else ""


def base_env(app_id: str, **settings: str) -> dict[str, str]:
    """ENGINEWATCH_* settings for a test: its own app id, the local services."""
    env = {
        "ENGINEWATCH_APP_ID": app_id,
        "ENGINEWATCH_BROKER": BROKER_URL,
        "ENGINEWATCH_INFLUX_URL": INFLUX_URL,
    }
    env.update({f"ENGINEWATCH_{k.upper()}": v for k, v in settings.items()})
    return env
