"""Delivering one batch: write it whole, or learn exactly which points cannot be.

Requests of at most `max_points` lines are written one at a time and in
order, while the next one is prepared (decoding and encoding overlap with
InfluxDB's work on the request in flight). For each request:

- Unavailable: wait (enginewatch/core/retry.py) and send the same body again, for as
  long as it takes. The caller has not acknowledged the batch's messages, so
  consumption waits and Kafka keeps everything: lag grows, nothing is dropped;
- TooLarge or Rejected: split the request in halves and write each; a single
  line that is still refused is dead-lettered with the server's message (so
  are all lines of a request InfluxDB says it dropped entirely, `dropped=N`).
  Halves that were partly written before are simply written again: a point
  written twice is one row, as its measurement, tags and time are its own.

`deliver` returns only when every line is either written or dead-lettered, so
the caller may then acknowledge the batch's messages.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field

from archiver.batch import Record, Reject, Request, Requests
from archiver.sink import Rejected, Sink, TooLarge, Unavailable, describe
from archiver.transcode import Transcoder
from enginewatch.core.retry import Backoff
from enginewatch.core.selfmetrics import SinkStats

logger = logging.getLogger(__name__)

DeadLetter = Callable[[Reject], Awaitable[None]]
Sleep = Callable[[float], Awaitable[None]]


@dataclass(slots=True)
class BatchReport:
    """What one batch cost; logged as one key=value line."""

    messages: int = 0
    points: int = 0
    bytes: int = 0
    requests: int = 0
    retries: int = 0
    rejected: int = 0
    dead_letter_reasons: list[str] = field(default_factory=list)
    duration: float = 0.0

    @property
    def dead_letters(self) -> int:
        return len(self.dead_letter_reasons)

    def log_line(self) -> str:
        return (
            f"batch messages={self.messages} points={self.points} bytes={self.bytes} "
            f"requests={self.requests} retries={self.retries} rejected={self.rejected} "
            f"dead_letters={self.dead_letters} duration={self.duration:.3f}s"
        )


class Delivery:
    """Writes batches to a sink with retries, splitting and dead letters."""

    def __init__(
        self,
        sink: Sink,
        dead_letter: DeadLetter,
        max_points: int,
        backoff: Backoff | None = None,
        sleep: Sleep = asyncio.sleep,
        stats: SinkStats | None = None,
    ) -> None:
        self.sink = sink
        # What the worker reports of its sink (enginewatch/core/selfmetrics.py).
        self.stats = stats or SinkStats("archiver", sink.description)
        self.dead_letter = dead_letter
        self.max_points = max_points
        self.backoff = backoff or Backoff()
        self.sleep = sleep
        self.transcoder = Transcoder()
        self._waiting_for: str | None = None
        self._waiting_subject = ""
        self._waiting_since = 0.0
        self._waiting_retries = 0

    async def deliver(self, records: Sequence[Record]) -> BatchReport:
        started = time.monotonic()
        report = BatchReport(messages=len(records))
        self.stats.pending = len(records)
        requests = Requests(self.max_points, self.transcoder)
        writing: asyncio.Future[None] | None = None
        try:
            for record in records:
                requests.add(record)
                while (request := requests.full()) is not None:
                    writing = await self._write_next(writing, request, requests.rejects, report)
                if writing is not None and not writing.done():
                    # Let the request in flight go on while the next one fills.
                    await asyncio.sleep(0)
            request = requests.rest()
            if request is not None:
                writing = await self._write_next(writing, request, requests.rejects, report)
            if writing is not None:
                await writing
        finally:
            if writing is not None:
                writing.cancel()  # only still running when deliver itself was cancelled
        report.rejected = len(requests.rejects)
        for reject in requests.rejects:
            await self._send_dead_letter(reject)
            report.dead_letter_reasons.append(reject.error)
        report.duration = time.monotonic() - started
        self.stats.pending = 0
        if report.messages:
            logger.info("%s", report.log_line())
        return report

    async def _write_next(
        self,
        writing: asyncio.Future[None] | None,
        request: Request,
        rejects: list[Reject],
        report: BatchReport,
    ) -> asyncio.Future[None]:
        """Start writing `request` once the one before it is written: one in flight, in order."""
        if writing is not None:
            await writing
        return asyncio.ensure_future(self._write_request(request, rejects, report))

    async def _write_request(
        self, request: Request, rejects: list[Reject], report: BatchReport
    ) -> None:
        pending = [(0, len(request.lines))]
        while pending:
            low, high = pending.pop()
            body = request.body(low, high)
            refusal = await self._write_until_answered(body, report)
            if refusal is None:
                report.points += high - low
                report.bytes += len(body)
                self.stats.wrote(high - low, len(body))
            elif high - low == 1 or (
                isinstance(refusal, Rejected) and refusal.dropped == high - low
            ):
                # One point, or InfluxDB says it dropped them all: nothing to isolate.
                for line, source in zip(
                    request.lines[low:high], request.sources[low:high], strict=True
                ):
                    rejects.append(
                        Reject(str(refusal), source.origin, source.key, line[:-1].encode())
                    )
            else:
                middle = (low + high) // 2
                pending.extend([(middle, high), (low, middle)])

    async def _write_until_answered(
        self, body: bytes, report: BatchReport
    ) -> Rejected | TooLarge | None:
        """None once the body is written, else the server's refusal (400, 413, 422)."""
        attempt = 0
        while True:
            report.requests += 1
            self.stats.request()
            try:
                await self.sink.write(body)
            except (Rejected, TooLarge) as exc:
                self._recovered()
                return exc
            except Unavailable as exc:
                attempt += 1
                report.retries += 1
                self.stats.retry()
                self._waiting(self.sink.description, str(exc))
                await self.sleep(self.backoff.delay(attempt, exc.retry_after))
                continue
            self._recovered()
            return None

    async def _send_dead_letter(self, reject: Reject) -> None:
        attempt = 0
        while True:
            try:
                await self.dead_letter(reject)
            except Exception as exc:  # the producer's errors vary; all mean "not yet"
                attempt += 1
                self._waiting("the dead-letter topic", describe(exc))
                await self.sleep(self.backoff.delay(attempt))
                continue
            self._recovered()
            return

    def _waiting(self, subject: str, reason: str) -> None:
        if self._waiting_for is None:
            self._waiting_since = time.monotonic()
            self._waiting_retries = 0
        self._waiting_retries += 1
        if reason != self._waiting_for:
            logger.warning(
                "waiting for %s: %s; retrying with backoff up to %gs (or as Retry-After "
                "says); consumption is paused, nothing is dropped",
                subject,
                reason,
                self.backoff.cap,
            )
            self._waiting_for = reason
            self._waiting_subject = subject

    def _recovered(self) -> None:
        if self._waiting_for is not None:
            logger.info(
                "%s takes writes again after %d retries in %.1fs",
                self._waiting_subject,
                self._waiting_retries,
                time.monotonic() - self._waiting_since,
            )
            self._waiting_for = None
