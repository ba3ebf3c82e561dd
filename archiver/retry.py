"""How long to wait before writing again: capped exponential backoff with jitter.

A server's Retry-After (429, 503) is honoured, but never below `initial`, so a
`Retry-After: 0` cannot turn the archiver into a busy loop, and never above
`max_retry_after`, so a date far in the future (a misconfigured proxy) cannot
stall the archiver for as long as it says; the cap is logged. Otherwise the wait
doubles from `initial` up to `cap`, and each wait is drawn between half and
all of that bound, so archivers that failed together do not retry together.
"""

from __future__ import annotations

import logging
import random
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime

logger = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class Backoff:
    initial: float = 0.5
    cap: float = 30.0
    max_retry_after: float = 300.0

    def delay(
        self,
        attempt: int,
        retry_after: float | None = None,
        rand: Callable[[], float] = random.random,
    ) -> float:
        """Seconds to wait before retry number `attempt` (1 for the first retry)."""
        if retry_after is not None:
            if retry_after > self.max_retry_after:
                logger.warning(
                    "Retry-After of %.0f s capped at %.0f s", retry_after, self.max_retry_after
                )
                return self.max_retry_after
            return max(retry_after, self.initial)
        bound = min(self.cap, self.initial * 2.0 ** min(attempt - 1, 62))
        return bound / 2 + rand() * bound / 2


def parse_retry_after(header: str | None, now: datetime | None = None) -> float | None:
    """Retry-After as seconds: either delay-seconds or an HTTP date (RFC 9110)."""
    if header is None:
        return None
    text = header.strip()
    if text.isdigit():
        return float(text)
    try:
        when = parsedate_to_datetime(text)
    except (TypeError, ValueError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    now = now or datetime.now(UTC)
    return max(0.0, (when - now).total_seconds())
