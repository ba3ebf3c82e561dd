"""The receivers notices are delivered to, over HTTP, with retries.

    Alertmanager  POST {url}/api/v2/alerts, the batch's notices as postable alerts
    Webhook       POST {url}, one webhook payload (version 4) per notice

`deliver` returns once the receiver took everything (2xx), trying again with
capped exponential backoff and jitter (0.5 s doubling up to 10 s, a
Retry-After honoured up to a minute) for as long as it is unreachable, times out,
or answers 408, 429 or 5xx: a receiver that is down holds its notices back,
it loses none. Another answer (a 400 for an alert Alertmanager finds invalid,
a 404 for a wrong URL) is the receiver refusing them, as Alertmanager's own
notifiers take it: logged as an error with what the receiver said, counted,
not tried again (it never would be taken). `remind` tries once: a reminder
missed is sent at the next round.

A webhook's notices go out in order per alert, several alerts at once. A
receiver is named in logs by its URL without credentials or query; its id
(the table's key prefix) is its kind and the fingerprint of its endpoint
without credentials: URLs of one endpoint are one receiver, and two
endpoints never share records.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from functools import partial
from urllib.parse import urlsplit

import aiohttp
import orjson

from alerts.labels import fingerprint
from alerts.payloads import Notice, alertmanager_alerts, webhook_message
from enginewatch.core.retry import Backoff, parse_retry_after

logger = logging.getLogger(__name__)

USER_AGENT = "enginewatch-alerts"
TIMEOUT = aiohttp.ClientTimeout(total=10.0)
RETRIED_STATUSES = frozenset({408, 429})
# A webhook's alerts posted at once; Alertmanager takes a batch in requests of this many.
CONCURRENCY = 8
ALERTMANAGER_CHUNK = 500
# After the first failure, one warning every this many attempts.
WARN_EVERY = 10
CONNECTION_ERRORS = (aiohttp.ClientError, asyncio.TimeoutError, OSError)


# Receivers are near and few: retried sooner than InfluxDB, at most every 10 s.
BACKOFF = Backoff(initial=0.5, cap=10.0, max_retry_after=60.0)


@dataclass(slots=True)
class Outcome:
    """What became of a delivery: requests the receiver took, refused, and the
    attempts that failed before it took them."""

    taken: int = 0
    refused: int = 0
    failed_attempts: int = 0


@dataclass
class Receiver:
    """One receiver: its kind, URL, and HTTP session (made on first use, in the
    event loop that uses it)."""

    kind: str  # "alertmanager" or "webhook"
    url: str
    resend: float = 60.0  # ENGINEWATCH_ALERTS_RESEND: how far ahead a firing alert ends
    backoff: Backoff = BACKOFF
    _session: aiohttp.ClientSession | None = field(default=None, init=False, repr=False)
    _missed: int = field(default=0, init=False, repr=False)  # re-send rounds failed in a row

    @property
    def id(self) -> str:
        """Stable per URL (credentials aside): the table's records of it are keyed by it."""
        return f"{self.kind}-{fingerprint({'url': _without_credentials(self.endpoint)})[:12]}"

    @property
    def name(self) -> str:
        """The receiver for a log line: kind and URL without credentials or query."""
        parts = urlsplit(self.url)
        host = parts.hostname or ""
        port = f":{parts.port}" if parts.port else ""
        return f"{self.kind} {parts.scheme}://{host}{port}{parts.path}"

    @property
    def endpoint(self) -> str:
        if self.kind != "alertmanager":
            return self.url
        base = self.url.rstrip("/")
        return base if base.endswith("/api/v2/alerts") else f"{base}/api/v2/alerts"

    async def deliver(self, notices: Sequence[Notice]) -> Outcome:
        """Every notice, until the receiver took (or refused) it."""
        outcome = Outcome()
        if not notices:
            return outcome
        if self.kind == "alertmanager":
            for start in range(0, len(notices), ALERTMANAGER_CHUNK):
                chunk = notices[start : start + ALERTMANAGER_CHUNK]
                await self._until_taken(partial(self._alertmanager_body, chunk), outcome)
            return outcome
        await self._webhooks(notices, outcome)
        return outcome

    async def remind(self, notices: Sequence[Notice]) -> bool:
        """One try at sending the notices again; whether all were taken."""
        if not notices:
            return True
        try:
            if self.kind == "alertmanager":
                for start in range(0, len(notices), ALERTMANAGER_CHUNK):
                    chunk = notices[start : start + ALERTMANAGER_CHUNK]
                    status, text, _ = await self._post(self._alertmanager_body(chunk))
                    if not 200 <= status < 300:
                        raise _Failed(f"HTTP {status}: {_short(text)}")
            else:
                for notice in notices:
                    status, text, _ = await self._post(orjson.dumps(webhook_message(notice)))
                    if not 200 <= status < 300:
                        raise _Failed(f"HTTP {status}: {_short(text)}")
        except (_Failed, *CONNECTION_ERRORS) as exc:
            self._missed += 1
            if self._missed % WARN_EVERY == 1:
                logger.warning(
                    "%s: re-sends not delivered (%s), %d round(s) in a row; next round",
                    self.name,
                    _say(exc),
                    self._missed,
                )
            return False
        if self._missed:
            logger.info("%s: re-sends delivered again after %d round(s)", self.name, self._missed)
            self._missed = 0
        return True

    async def close(self) -> None:
        if self._session is not None:
            await self._session.close()
            self._session = None

    def _alertmanager_body(self, notices: Sequence[Notice]) -> bytes:
        # Made at each attempt: a firing alert's endsAt counts from the time it is sent.
        return orjson.dumps(alertmanager_alerts(notices, time.time(), self.resend))

    async def _webhooks(self, notices: Sequence[Notice], outcome: Outcome) -> None:
        chains: dict[str, list[Notice]] = {}
        for notice in notices:
            chains.setdefault(notice.fingerprint, []).append(notice)
        gate = asyncio.Semaphore(CONCURRENCY)

        async def chain(alert: list[Notice]) -> None:
            async with gate:
                for notice in alert:
                    body = orjson.dumps(webhook_message(notice))
                    await self._until_taken(partial(bytes, body), outcome)

        await asyncio.gather(*(chain(alert) for alert in chains.values()))

    async def _until_taken(self, body: Callable[[], bytes], outcome: Outcome) -> None:
        attempt = 0
        started = time.monotonic()
        while True:
            attempt += 1
            retry_after = None
            try:
                status, text, retry_after = await self._post(body())
            except CONNECTION_ERRORS as exc:
                problem = _say(exc)
            else:
                if 200 <= status < 300:
                    outcome.taken += 1
                    if attempt > 1:
                        logger.info(
                            "%s: delivered after %d attempts over %.1f s",
                            self.name,
                            attempt,
                            time.monotonic() - started,
                        )
                    return
                if status not in RETRIED_STATUSES and status < 500:
                    outcome.refused += 1
                    logger.error(
                        "%s: refused (HTTP %d: %s); not sent again", self.name, status, _short(text)
                    )
                    return
                problem = f"HTTP {status}: {_short(text)}"
            outcome.failed_attempts += 1
            if attempt == 1 or attempt % WARN_EVERY == 0:
                logger.warning(
                    "%s: not delivered (%s), attempt %d; trying again", self.name, problem, attempt
                )
            await asyncio.sleep(self.backoff.delay(attempt, retry_after))

    async def _post(self, body: bytes) -> tuple[int, str, float | None]:
        if self._session is None:
            self._session = aiohttp.ClientSession(
                timeout=TIMEOUT, headers={"User-Agent": USER_AGENT}
            )
        headers = {"Content-Type": "application/json"}
        async with self._session.post(self.endpoint, data=body, headers=headers) as response:
            text = await response.text(errors="replace")
            retry_after = parse_retry_after(response.headers.get("Retry-After"))
            return response.status, text, retry_after


def receivers(
    alertmanagers: Sequence[str], webhooks: Sequence[str], resend: float
) -> list[Receiver]:
    """The configured receivers (ENGINEWATCH_ALERTMANAGER_URL, ENGINEWATCH_ALERT_WEBHOOKS),
    each URL once."""
    found: dict[str, Receiver] = {}
    for kind, urls in (("alertmanager", alertmanagers), ("webhook", webhooks)):
        for url in urls:
            receiver = Receiver(kind, url, resend)
            found.setdefault(receiver.id, receiver)
    return list(found.values())


class _Failed(Exception):
    pass


def _without_credentials(url: str) -> str:
    parts = urlsplit(url)
    netloc = parts.netloc.rpartition("@")[2]
    return parts._replace(netloc=netloc).geturl()


def _short(text: str, limit: int = 200) -> str:
    flat = " ".join(text.split())
    return flat if len(flat) <= limit else flat[:limit] + "..."


def _say(exc: BaseException) -> str:
    return str(exc) or type(exc).__name__
