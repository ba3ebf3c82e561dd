"""A local HTTP server answering as InfluxDB 2.7's `/ping` and `/api/v2/write` do.

The v2 sink is tested against real InfluxDB 1.8.10 and 2.7.12
(tests/integration/test_archiver_influx_v2_real.py); this stands in for them
only where a real server cannot be made to answer at will: a 429 with
Retry-After, a 503, an answer that takes longer than the client waits (a hang),
and for unit tests that need no server at all. Its answers follow InfluxDB
2.7.12's write handler, in the order it checks a request (as measured against
the real server):

1. token (`Authorization: Token ...`): 401 {"code":"unauthorized", ...}
2. precision: 400 {"code":"invalid", ...}; no bucket parameter: 404
3. a body marked gzip that is not gzip: 500 {"code":"internal error", ...}
   (2.7.12 opens the gzip stream before it looks the organization up, and
   answers as for a failure of its own)
4. organization, then bucket: 404 {"code":"not found","message":"... not found"}
5. 204 No Content, the lines kept in `written`; an empty body too (2.7.12
   writes nothing and says 204, as 1.8.10 does)

Bad points, partial writes and 413 are left to the real servers.
`answer_next(...)` scripts answers (429 with Retry-After, 503, a delay) for
the next write requests, before any of the checks. Every request is recorded.
"""

from __future__ import annotations

import contextlib
import gzip
import json
import threading
import time
from collections import deque
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlsplit


@dataclass(frozen=True)
class Request:
    method: str
    path: str
    query: dict[str, list[str]]
    headers: dict[str, str]
    raw_body: bytes
    body: bytes | None  # decompressed; None when the gzip was bad

    @property
    def lines(self) -> list[str]:
        return (self.body or b"").decode().splitlines()


@dataclass(frozen=True)
class Answer:
    status: int
    body: dict[str, str] | None = None
    headers: dict[str, str] = field(default_factory=dict)
    delay: float = 0.0  # seconds before answering: longer than a client's timeout, a hang


class FakeInfluxV2:
    """Run with `with FakeInfluxV2() as server:`; `server.url` is its base URL."""

    def __init__(
        self,
        token: str = "s3cret-token",
        org: str = "acme",
        bucket: str = "metrics",
        version: str = "v2.7.12",
    ) -> None:
        self.token = token
        self.orgs = {org}
        self.buckets = {(org, bucket)}
        self.version = version
        self.requests: list[Request] = []
        self.written: list[str] = []
        self._scripted: deque[Answer] = deque()
        self._lock = threading.Lock()
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), self._handler_class())
        self._thread = threading.Thread(
            target=self._server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
        )

    @property
    def url(self) -> str:
        host, port = self._server.server_address[:2]
        return f"http://{host!s}:{port}"

    def answer_next(self, *answers: Answer) -> None:
        with self._lock:
            self._scripted.extend(answers)

    @property
    def writes(self) -> list[Request]:
        return [r for r in self.requests if r.path == "/api/v2/write"]

    def __enter__(self) -> FakeInfluxV2:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(10)

    def handle(self, request: Request) -> Answer:
        with self._lock:
            self.requests.append(request)
            if request.path == "/ping":
                return Answer(204, headers=self._version_headers())
            if request.path != "/api/v2/write" or request.method != "POST":
                return Answer(404, {"code": "not found", "message": "path not found"})
            if self._scripted:
                return self._scripted.popleft()
            return self._write(request)

    def _write(self, request: Request) -> Answer:
        if request.headers.get("authorization") != f"Token {self.token}":
            return Answer(401, {"code": "unauthorized", "message": "unauthorized access"})
        query = {key: values[0] for key, values in request.query.items()}
        precision = query.get("precision", "ns")
        if precision not in ("ns", "us", "ms", "s"):
            return _error(
                400, "invalid", "invalid precision; valid precision units are ns, us, ms, and s"
            )
        bucket, org = query.get("bucket", ""), query.get("org", "")
        if not bucket:
            return _error(404, "not found", "bucket not found")
        if request.body is None:
            # 2.7.12 says no more than this; its log has "gzip: invalid header".
            return _error(
                500, "internal error", "An internal error has occurred - check server logs"
            )
        if org not in self.orgs:
            return _error(404, "not found", f'organization name "{org}" not found')
        if (org, bucket) not in self.buckets:
            return _error(404, "not found", f'bucket "{bucket}" not found')
        self.written.extend(line for line in request.lines if line.strip())
        return Answer(204)

    def _version_headers(self) -> dict[str, str]:
        return {"X-Influxdb-Version": self.version, "X-Influxdb-Build": "OSS"}

    def _handler_class(self) -> type[BaseHTTPRequestHandler]:
        fake = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def do_GET(self) -> None:
                self._serve()

            def do_POST(self) -> None:
                self._serve()

            def log_message(self, format: str, *args: object) -> None:
                pass

            def _serve(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                raw = self.rfile.read(length)
                headers = {key.lower(): value for key, value in self.headers.items()}
                body: bytes | None = raw
                if headers.get("content-encoding") == "gzip":
                    try:
                        body = gzip.decompress(raw)
                    except (OSError, EOFError):
                        body = None
                url = urlsplit(self.path)
                answer = fake.handle(
                    Request(self.command, url.path, parse_qs(url.query), headers, raw, body)
                )
                time.sleep(answer.delay)
                # The client may have given up waiting, as a client of a hung server does.
                with contextlib.suppress(BrokenPipeError, ConnectionResetError):
                    self._send(answer)

            def _send(self, answer: Answer) -> None:
                payload = b"" if answer.body is None else json.dumps(answer.body).encode()
                self.send_response(answer.status)
                for key, value in answer.headers.items():
                    self.send_header(key, value)
                if payload:
                    self.send_header("Content-Type", "application/json; charset=utf-8")
                self.send_header("Content-Length", str(len(payload)))
                self.end_headers()
                self.wfile.write(payload)

        return Handler


def _error(status: int, code: str, message: str) -> Answer:
    return Answer(status, {"code": code, "message": message}, {"X-Platform-Error-Code": code})
