"""Workers as real subprocesses, started the way an operator starts them, and their memory."""

from __future__ import annotations

import os
import signal
import subprocess
import time
from collections.abc import Mapping, Sequence
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


class WorkerError(RuntimeError):
    """A worker exited or did not get ready; the message holds the end of its log."""


class Process:
    """One subprocess with its own environment and log file."""

    def __init__(
        self,
        argv: Sequence[str],
        env: Mapping[str, str],
        log_path: Path,
        name: str,
        cwd: Path = ROOT,
    ) -> None:
        self.argv = list(argv)
        self.cwd = cwd
        self.env = dict(env)
        self.log_path = log_path
        self.name = name
        self.peak_rss_bytes: int | None = None
        self._popen: subprocess.Popen[bytes] | None = None

    def start(self) -> Process:
        environ = {**os.environ, **self.env, "PYTHONUNBUFFERED": "1"}
        with self.log_path.open("ab") as log:
            self._popen = subprocess.Popen(
                self.argv,
                env=environ,
                cwd=self.cwd,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        return self

    @property
    def pid(self) -> int:
        assert self._popen is not None, "not started"
        return self._popen.pid

    def running(self) -> bool:
        return self._popen is not None and self._popen.poll() is None

    def log(self) -> str:
        return self.log_path.read_text(errors="replace") if self.log_path.exists() else ""

    def wait_for_log(self, text: str, timeout: float = 90.0) -> None:
        deadline = time.monotonic() + timeout
        while text not in self.log():
            if not self.running():
                raise WorkerError(f"{self.name} exited before logging {text!r}:\n{self.tail()}")
            if time.monotonic() > deadline:
                raise WorkerError(f"{self.name} did not log {text!r} in {timeout}s:\n{self.tail()}")
            time.sleep(0.1)

    def wait(self, timeout: float) -> int:
        assert self._popen is not None, "not started"
        return self._popen.wait(timeout)

    def stop(self, timeout: float = 30.0) -> None:
        """SIGTERM (a clean Faust shutdown), SIGKILL if it hangs; keeps the peak RSS."""
        if self._popen is None:
            return
        if self._popen.poll() is None:
            self.peak_rss_bytes = peak_rss(self._popen.pid)
            self._popen.send_signal(signal.SIGTERM)
            try:
                self._popen.wait(timeout)
            except subprocess.TimeoutExpired:
                self._popen.kill()
                self._popen.wait(10)
        self._popen = None

    def tail(self, chars: int = 3000) -> str:
        return self.log()[-chars:]


def peak_rss(pid: int) -> int | None:
    """The process's peak resident set size (VmHWM) in bytes, where /proc has it."""
    try:
        status = Path(f"/proc/{pid}/status").read_text()
    except OSError:
        return None
    for line in status.splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) * 1024
    return None
