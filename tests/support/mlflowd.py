"""A private MLflow tracking server for tests, and reading back what it holds.

The real `mlflow server` (installed once into the user's cache by
services/mlflow.sh), on a free port of loopback, its SQLite database and
artifacts under the test's directory. One worker, and no job runner (the
server's own background jobs, which the tracking API does not need), to stay
light on a machine shared with Kafka and the workers under test. With
`admin_password`, it runs MLflow's basic-auth app (users in a SQLite database
of its own, the admin made at the first start).

`mlflow server` starts uvicorn as a child: both run in a session of their
own, and stopping signals the whole process group.
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import time
from pathlib import Path
from typing import Any

import requests

from enginewatch.harness.processes import Process
from tests.support.services import built
from tests.support.webhooks import free_port

# A first install on a fresh machine downloads MLflow and its dependencies.
INSTALL_TIMEOUT = 900.0
START_TIMEOUT = 240.0  # a cold start (imports, the database's migrations) takes 20-60 s here
API = "/api/2.0/mlflow"

AUTH_CONFIG = """\
[mlflow]
default_permission = EDIT
database_uri = sqlite:///{database}
admin_username = admin
authorization_function = mlflow.server.auth:authenticate_request_basic_auth
"""


def mlflow_binary() -> Path:
    """The `mlflow` executable, installed first when missing (services/mlflow.sh)."""
    return built("mlflow.sh", timeout=INSTALL_TIMEOUT)


class PrivateMlflow:
    """`start()`, `stop()`; `get`/`post` call its REST API (as admin when it has auth)."""

    def __init__(self, directory: Path, admin_password: str | None = None) -> None:
        self.directory = directory
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.log_path = directory / "mlflow.log"
        self.admin_password = admin_password
        self.process: Process | None = None

    def start(self, timeout: float = START_TIMEOUT) -> PrivateMlflow:
        self.directory.mkdir(parents=True, exist_ok=True)
        argv = [
            str(mlflow_binary()),
            "server",
            "--backend-store-uri",
            f"sqlite:///{self.directory / 'mlflow.db'}",
            "--default-artifact-root",
            str(self.directory / "artifacts"),
            "--host",
            "127.0.0.1",
            "--port",
            str(self.port),
            "--workers",
            "1",
        ]
        env = {"MLFLOW_SERVER_ENABLE_JOB_EXECUTION": "false"}
        if self.admin_password is not None:
            config = self.directory / "basic_auth.ini"
            config.write_text(AUTH_CONFIG.format(database=self.directory / "auth.db"))
            argv += ["--app-name", "basic-auth"]
            env |= {
                "MLFLOW_AUTH_CONFIG_PATH": str(config),
                "MLFLOW_AUTH_ADMIN_PASSWORD": self.admin_password,
                # The basic-auth app's CSRF protection needs a key (any, for one server).
                "MLFLOW_FLASK_SERVER_SECRET_KEY": os.urandom(16).hex(),
            }
        # Its working directory: anything it writes beside its stores stays the test's.
        self.process = Process(argv, env, self.log_path, cwd=self.directory).start()
        deadline = time.monotonic() + timeout
        while not self._ready():
            if not self.process.running():
                raise RuntimeError(f"mlflow server exited; see {self.log_path}")
            if time.monotonic() > deadline:
                self.stop()
                raise RuntimeError(f"mlflow server not ready in {timeout:g}s; see {self.log_path}")
            time.sleep(0.3)
        return self

    def stop(self) -> None:
        if self.process is None:
            return
        pid = self.process.pid
        for sig in (signal.SIGTERM, signal.SIGKILL):
            try:
                os.killpg(pid, sig)
            except ProcessLookupError:
                break
            try:
                self.process.wait(20)
                break
            except subprocess.TimeoutExpired:
                continue
        # uvicorn may outlive its parent by a moment: the group goes too.
        with contextlib.suppress(ProcessLookupError):
            os.killpg(pid, signal.SIGKILL)
        self.process = None

    def get(self, endpoint: str, **params: str) -> dict[str, Any]:
        response = requests.get(
            f"{self.url}{API}/{endpoint}", params=params, auth=self._auth(), timeout=30
        )
        response.raise_for_status()
        answer: dict[str, Any] = response.json()
        return answer

    def post(self, endpoint: str, body: dict[str, Any]) -> dict[str, Any]:
        response = requests.post(
            f"{self.url}{API}/{endpoint}", json=body, auth=self._auth(), timeout=30
        )
        response.raise_for_status()
        answer: dict[str, Any] = response.json()
        return answer

    def experiment_names(self) -> set[str]:
        found = self.post("experiments/search", {"max_results": 1000})
        return {e["name"] for e in found.get("experiments", [])}

    def runs(self, experiment_name: str) -> list[dict[str, Any]]:
        """Every active run of the experiment, whole (info, data with tags and latest
        metrics); none while there is no such experiment."""
        if experiment_name not in self.experiment_names():
            return []
        experiment = self.get("experiments/get-by-name", experiment_name=experiment_name)
        experiment_id = experiment["experiment"]["experiment_id"]
        found = self.post("runs/search", {"experiment_ids": [experiment_id], "max_results": 1000})
        runs: list[dict[str, Any]] = found.get("runs", [])
        return runs

    def history(self, run_id: str, key: str) -> list[tuple[int, int, float]]:
        """Every logged value of a metric as (timestamp, step, value), as stored."""
        entries: list[tuple[int, int, float]] = []
        token = ""
        while True:
            page = self.get(
                "metrics/get-history",
                run_id=run_id,
                metric_key=key,
                max_results="25000",
                **({"page_token": token} if token else {}),
            )
            entries += [
                (int(m["timestamp"]), int(m.get("step", 0)), float(m["value"]))
                for m in page.get("metrics", [])
            ]
            token = page.get("next_page_token", "")
            if not token:
                return entries

    def log(self) -> str:
        return self.log_path.read_text(errors="replace") if self.log_path.exists() else ""

    def _auth(self) -> tuple[str, str] | None:
        return ("admin", self.admin_password) if self.admin_password is not None else None

    def _ready(self) -> bool:
        try:
            response = requests.post(
                f"{self.url}{API}/experiments/search",
                json={"max_results": 1},
                auth=self._auth(),
                timeout=2,
            )
        except requests.RequestException:
            return False
        return response.status_code == 200
