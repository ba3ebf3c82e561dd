"""A local HTTP server answering as InfluxDB 2's `/ping` and `/api/v2/write` do.

No InfluxDB 2 runs on these machines, so the v2 contract tests talk to this.
It follows the documented API and the order in which InfluxDB 2's write
handler checks a request (http/write_handler.go, http/points/points_parser.go):

1. token (`Authorization: Token ...`): 401 {"code":"unauthorized", ...}
2. precision: 400 {"code":"invalid", ...}; no bucket parameter: 404
3. organization, then bucket: 404 {"code":"not found","message":"... not found"}
4. body: gzip when Content-Encoding says so, 413 beyond `max_body_bytes`,
   400 "writing requires points" when empty
5. lines: a line `malformed` flags is a 400 naming it (nothing written); lines
   `unprocessable` flags are dropped with a 422 "partial write" while the
   others are written, as InfluxDB 2 OSS does
6. 204 No Content

`answer_next(...)` scripts answers (429 with Retry-After, 503, ...) for the
next write requests, before any of the checks. Every request is recorded.
"""

from __future__ import annotations

import gzip
import json
import threading
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlsplit

LineRule = Callable[[str], str | None]


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


class FakeInfluxV2:
    """Run with `with FakeInfluxV2() as server:`; `server.url` is its base URL."""

    def __init__(
        self,
        token: str = "s3cret-token",
        org: str = "acme",
        bucket: str = "metrics",
        version: str = "v2.7.11",
        max_body_bytes: int | None = None,
    ) -> None:
        self.token = token
        self.orgs = {org}
        self.buckets = {(org, bucket)}
        self.version = version
        self.max_body_bytes = max_body_bytes
        self.malformed: LineRule = lambda line: None
        self.unprocessable: LineRule = lambda line: None
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
        if org not in self.orgs:
            return _error(404, "not found", f'organization name "{org}" not found')
        if (org, bucket) not in self.buckets:
            return _error(404, "not found", f'bucket "{bucket}" not found')
        if request.body is None:
            return _error(400, "invalid", "unable to read data: gzip: invalid header")
        if self.max_body_bytes is not None and len(request.body) > self.max_body_bytes:
            return _error(
                413, "request too large", "unable to read data: points batch is too large"
            )
        lines = [line for line in request.lines if line.strip()]
        if not lines:
            return _error(400, "invalid", "writing requires points")
        for line in lines:
            reason = self.malformed(line)
            if reason is not None:
                return _error(400, "invalid", f"unable to parse '{line}': {reason}")
        dropped = [(line, reason) for line in lines if (reason := self.unprocessable(line))]
        self.written.extend(line for line in lines if not self.unprocessable(line))
        if dropped:
            return _error(
                422,
                "unprocessable entity",
                f"failure writing points to database: partial write: {dropped[0][1]} "
                f"dropped={len(dropped)}",
            )
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
    return Answer(status, {"code": code, "message": message})
