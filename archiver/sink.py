"""What a sink is, and how a write can fail.

A sink writes one request body of newline-terminated line protocol. It says
how a write failed with one of three exceptions, and the delivery loop
(archiver/delivery.py) decides what to do about it:

- Unavailable: try the same body again later (connection errors, timeouts,
  5xx, 429); its kind Refused (credentials refused, bucket missing, a TLS
  certificate not trusted) stops the start-up but is waited out while
  running, as an operator can fix it without losing anything;
- TooLarge (413): split the body;
- Rejected (400, 422): some points are bad; find them by bisection.

Bodies go to InfluxDB gzip-compressed when ENGINEWATCH_INFLUX_GZIP is on.
"""

from __future__ import annotations

import asyncio
import gzip
import re
from typing import Protocol

import aiohttp

from enginewatch.core.redact import mask_urls
from enginewatch.core.tls import certificate_problem

# Fast and still ~10x smaller on line protocol; level 9 costs far more CPU for little.
GZIP_LEVEL = 5
USER_AGENT = "enginewatch-archiver"
# InfluxDB's partial writes end in `dropped=N`; 2.7's beyond the retention add
# where the points were to go: "... dropped=3 for database: 0a1b... for retention policy: autogen".
_DROPPED = re.compile(r"\bdropped=(\d+)(?: for database: \S+ for retention policy: \S+)?\s*$")
# Errors that mean "no answer from InfluxDB".
CONNECTION_ERRORS = (aiohttp.ClientError, asyncio.TimeoutError, OSError)


class Sink(Protocol):
    """Where a batch goes: InfluxDB (either API) or files."""

    description: str

    async def check(self) -> None:
        """At start-up: raise Refused (or OSError) if the sink can never take writes."""

    async def write(self, body: bytes) -> None: ...

    async def close(self) -> None: ...


class SinkError(Exception):
    """A write did not go through; the message is meant for the operator."""


class Unavailable(SinkError):
    """Transient: the same write should be tried again later."""

    def __init__(self, message: str, retry_after: float | None = None) -> None:
        super().__init__(message)
        self.retry_after = retry_after


class Refused(Unavailable):
    """Credentials refused or destination missing: fatal at start-up; while running,
    waited out like any outage, as an operator can fix it without losing anything."""


class TooLarge(SinkError):
    """The request body is too large for the server: send smaller ones."""


class Rejected(SinkError):
    """The server refused some points of the body (InfluxDB's message says why).

    `dropped` is how many points InfluxDB says it dropped (its partial-write
    messages end in `dropped=N`), when it says so.
    """

    def __init__(self, message: str) -> None:
        super().__init__(message)
        match = _DROPPED.search(message)
        self.dropped = int(match[1]) if match else None


class ConfigurationError(Exception):
    """A setting is wrong in a way only an operator can fix; stops the start-up."""


def describe(exc: BaseException) -> str:
    """An exception for the log: its message, or its type when it has none."""
    return str(exc) or type(exc).__name__


def unreachable(exc: BaseException, where: str) -> Unavailable:
    """No answer from `where`: an outage to wait out, unless the server's TLS
    certificate is not trusted, a setting to fix (Refused)."""
    problem = certificate_problem(exc)
    if problem is not None:
        return Refused(
            f"the TLS certificate of {where} is not trusted ({problem}; "
            "give its CA in ENGINEWATCH_INFLUX_SSL_CAFILE)"
        )
    return Unavailable(f"cannot reach {where}: {mask_urls(describe(exc))}")


def content(body: bytes, compressed: bool) -> tuple[bytes, str]:
    """The request body as sent, and its Content-Encoding (gzip or identity)."""
    if compressed:
        return gzip.compress(body, compresslevel=GZIP_LEVEL), "gzip"
    return body, "identity"


def classify(status: int, message: str, retry_after: float | None, where: str) -> SinkError:
    """The failure an unsuccessful HTTP answer from InfluxDB stands for."""
    detail = f"InfluxDB answered {status} at {where}: {message}"
    if status in (400, 422):
        return Rejected(message)
    if status == 413:
        return TooLarge(message)
    if status in (401, 403):
        return Refused(f"{detail} (check ENGINEWATCH_INFLUX_TOKEN)")
    if status == 404:
        return Refused(f"{detail} (check ENGINEWATCH_INFLUX_BUCKET and ENGINEWATCH_INFLUX_ORG)")
    return Unavailable(detail, retry_after)
