"""Subprocesses with a log file each: `enginewatch ...` workers, started the way an
operator starts them, and other servers (a private influxd).

Used by `enginewatch demo` (its agents, archiver, simulator and snapshot), the
integration tests (workers under test) and the benchmarks (measured workers and
their peak memory). Each process runs in a session of its own, so a Ctrl-C on the
terminal reaches only the parent, which then stops its children in order: SIGTERM
first (a clean Faust shutdown), SIGKILL when it hangs.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Mapping, Sequence
from pathlib import Path


class ProcessFailed(RuntimeError):
    """A process ended or did not get ready; the message says which and ends with its log's end."""


def enginewatch_command(*args: str) -> list[str]:
    """`enginewatch ARGS`: the console script beside this interpreter, as an operator runs
    it, or `python -m enginewatch.cli` where there is none."""
    script = Path(sys.executable).with_name("enginewatch")
    if script.exists():
        return [str(script), *args]
    return [sys.executable, "-m", "enginewatch.cli", *args]


def run_enginewatch(
    *args: str, env: Mapping[str, str], cwd: Path | None = None, timeout: float = 120.0
) -> subprocess.CompletedProcess[str]:
    """Run one `enginewatch ARGS` to its end, `env` on top of this environment;
    its output captured as text, its exit status for the caller to judge."""
    return subprocess.run(
        enginewatch_command(*args),
        env={**os.environ, **env},
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )


def settings_env(**settings: str) -> dict[str, str]:
    """ENGINEWATCH_* variables by setting name: `app_id="x"` is `ENGINEWATCH_APP_ID=x`."""
    return {f"ENGINEWATCH_{name.upper()}": value for name, value in settings.items()}


class Process:
    """One subprocess: its command line, environment (on top of this one's), log file
    (stdout and stderr, appended) and working directory (this one's by default)."""

    def __init__(
        self,
        argv: Sequence[str],
        env: Mapping[str, str],
        log_path: Path,
        *,
        name: str | None = None,
        cwd: Path | None = None,
    ) -> None:
        self.argv = list(argv)
        self.env = dict(env)
        self.log_path = log_path
        self.name = name or log_path.stem
        self.cwd = cwd
        self.peak_rss_bytes: int | None = None  # taken when it is stopped
        self._popen: subprocess.Popen[bytes] | None = None

    def start(self) -> Process:
        self.log_path.parent.mkdir(parents=True, exist_ok=True)
        with self.log_path.open("ab") as log:
            self._popen = subprocess.Popen(
                self.argv,
                env={**os.environ, **self.env, "PYTHONUNBUFFERED": "1"},
                cwd=self.cwd,
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        return self

    @property
    def pid(self) -> int:
        return self._started().pid

    def running(self) -> bool:
        return self._popen is not None and self._popen.poll() is None

    def exit_code(self) -> int | None:
        """None while it runs (or before it started)."""
        return None if self._popen is None else self._popen.poll()

    def wait(self, timeout: float) -> int:
        """Its exit status once it ended; subprocess.TimeoutExpired after `timeout` seconds."""
        return self._started().wait(timeout)

    def check(self) -> None:
        """Raise ProcessFailed if it has ended."""
        code = self.exit_code()
        if code is not None:
            raise ProcessFailed(f"{self.name} stopped (status {code}); {self._log_ends()}")

    def wait_for_log(self, text: str, timeout: float = 60.0) -> None:
        """Return once its log holds `text`; ProcessFailed if it ends or time is up first."""
        deadline = time.monotonic() + timeout
        while text not in self.log():
            code = self.exit_code()
            if code is not None:
                raise ProcessFailed(
                    f"{self.name} exited with status {code} before logging {text!r}; "
                    + self._log_ends()
                )
            if time.monotonic() > deadline:
                raise ProcessFailed(
                    f"{self.name} did not log {text!r} in {timeout:g}s; " + self._log_ends()
                )
            time.sleep(0.1)

    def stop(self, timeout: float = 30.0) -> int | None:
        """SIGTERM, then SIGKILL after `timeout` seconds; its exit status (None if never
        started). Keeps its peak RSS first."""
        return self._end(signal.SIGTERM, timeout)

    def kill(self) -> int | None:
        """SIGKILL: no chance to clean up (a crash); its exit status."""
        return self._end(signal.SIGKILL, 10.0)

    def log(self) -> str:
        try:
            return self.log_path.read_text(encoding="utf-8", errors="replace")
        except FileNotFoundError:
            return ""

    def tail(self, lines: int = 30) -> str:
        return "\n".join(self.log().splitlines()[-lines:])

    def _end(self, sig: signal.Signals, timeout: float) -> int | None:
        process = self._popen
        if process is None:
            return None
        if process.poll() is None:
            self.peak_rss_bytes = peak_rss(process.pid)
            process.send_signal(sig)
            try:
                process.wait(timeout)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait(10)
        return process.returncode

    def _started(self) -> subprocess.Popen[bytes]:
        if self._popen is None:
            raise ProcessFailed(f"{self.name} was not started")
        return self._popen

    def _log_ends(self) -> str:
        return f"its log ({self.log_path}) ends with:\n{self.tail()}"


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
