"""Local HTTP servers answering as FastScore's Composer and Connect are documented to.

Composer: `GET /1/workflow/{name}/status` -> {model name: {"Engine": {"ID": uuid, ...}, ...}}.
Connect:  `GET /api/1/service/connect/1/connect` -> the fleet, a list of instances
          ({id, name, api, health, host, port, release, built_on});
          `GET /api/1/service/{engine}/1/job/status` -> {"model": {"name", "type"}, "jets", ...}.
A test sets what they answer, makes them fail, or slows them down.
"""

from __future__ import annotations

import json
import re
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any


@dataclass
class FleetState:
    workflows: dict[str, dict[str, str]] = field(default_factory=dict)  # workflow -> model -> uuid
    engines: dict[str, tuple[str, str | None]] = field(
        default_factory=dict
    )  # name -> (uuid, model)
    fail_with: int | None = None
    failing_engines: set[str] = field(default_factory=set)  # their job status answers 503
    delay: float = 0.0
    requests: list[str] = field(default_factory=list)
    # Which field of a fleet entry holds the engine's UUID: Connect's API
    # specification says `id`; FastScore's tutorial reads `src`.
    uuid_field: str = "id"


_WORKFLOW = re.compile(r"/1/workflow/([^/]+)/status")
_JOB = re.compile(r"/api/1/service/([^/]+)/1/job/status")


class _Handler(BaseHTTPRequestHandler):
    state: FleetState

    def log_message(self, *args: Any) -> None:
        pass

    def do_GET(self) -> None:
        state = self.state
        state.requests.append(self.path)
        time.sleep(state.delay)
        if state.fail_with is not None:
            return self._send(state.fail_with, {"error": "unavailable"})
        if match := _WORKFLOW.fullmatch(self.path):
            models = state.workflows.get(match.group(1))
            if models is None:
                return self._send(404, {"error": f"no workflow {match.group(1)}"})
            body = {
                model: {"Engine": {"ID": uuid, "Name": f"engine-{i}"}, "Status": "running"}
                for i, (model, uuid) in enumerate(models.items())
            }
            return self._send(200, body)
        if self.path == "/api/1/service/connect/1/connect":
            fleet = [{"id": "c0", "name": "connect", "api": "connect", "health": "ok"}]
            fleet += [
                {
                    "id": uuid if state.uuid_field == "id" else f"instance-{name}",
                    state.uuid_field: uuid,
                    "name": name,
                    "api": "engine",
                    "health": "ok",
                    "host": name,
                    "port": 8003,
                    "release": "1.10",
                    "built_on": "Mon Jan 1 2024",
                }
                for name, (uuid, _) in state.engines.items()
            ]
            return self._send(200, fleet)
        if match := _JOB.fullmatch(self.path):
            if match.group(1) in state.failing_engines:
                return self._send(503, {"error": "engine unavailable"})
            engine = state.engines.get(match.group(1))
            if engine is None:
                return self._send(404, {"error": "no such instance"})
            _, model = engine
            if model is None:
                return self._send(404, {"error": "no model loaded"})
            job = {"model": {"name": model, "type": "python3"}, "jets": [{"pid": 1}]}
            return self._send(200, job)
        return self._send(404, {"error": "not found"})

    def _send(self, status: int, body: Any) -> None:
        data = json.dumps(body).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)


@contextmanager
def fleet_server(state: FleetState) -> Iterator[str]:
    """Serve Composer and Connect for `state` on a free loopback port; yield its URL."""
    handler = type("Handler", (_Handler,), {"state": state})
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()
