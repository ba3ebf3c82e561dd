"""How long to wait before writing again: capped exponential backoff with jitter,
for the archiver's sinks and the alerts' receivers.

A server's Retry-After (429, 503) is honoured, but never below `initial`, so a
`Retry-After: 0` cannot turn a worker into a busy loop, and never above
ENGINEWATCH_RETRY_AFTER_MAX (the sinks apply it as they read the header,
`cap_retry_after`; a `Backoff` may have a `max_retry_after` of its own), so a
date far in the future (a misconfigured proxy) cannot stall the archiver for as
long as it says; the cap is logged each time it applies. Otherwise the wait
doubles from `initial` up to `cap`, and each wait is drawn between half and
all of that bound, so workers that failed together do not retry together.
"""

from __future__ import annotations

import logging
import random
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime

logger = logging.getLogger(__name__)

# ENGINEWATCH_RETRY_AFTER_MAX's default (enginewatch/core/settings.py, RetryConfig).
RETRY_AFTER_MAX = 60.0


def cap_retry_after(seconds: float | None, limit: float) -> float | None:
    """The Retry-After to honour: at most `limit` seconds, logged when cut."""
    if seconds is not None and seconds > limit:
        logger.warning("Retry-After of %.0f s capped at %.0f s", seconds, limit)
        return limit
    return seconds


@dataclass(frozen=True, slots=True)
class Backoff:
    initial: float = 0.5
    cap: float = 30.0
    # None: the Retry-After as the sink passed it (already capped there).
    max_retry_after: float | None = None

    def delay(
        self,
        attempt: int,
        retry_after: float | None = None,
        rand: Callable[[], float] = random.random,
    ) -> float:
        """Seconds to wait before retry number `attempt` (1 for the first retry)."""
        if retry_after is not None:
            if self.max_retry_after is not None:
                retry_after = cap_retry_after(retry_after, self.max_retry_after)
                assert retry_after is not None
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
