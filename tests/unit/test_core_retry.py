"""The retry policy: capped exponential backoff with jitter, Retry-After honoured."""

from __future__ import annotations

import logging
from datetime import UTC, datetime

import pytest

from enginewatch.core.retry import Backoff, parse_retry_after


def test_backoff_doubles_up_to_the_cap() -> None:
    backoff = Backoff(initial=0.5, cap=30.0)
    highest = [backoff.delay(attempt, rand=lambda: 1.0) for attempt in range(1, 10)]
    assert highest == [0.5, 1.0, 2.0, 4.0, 8.0, 16.0, 30.0, 30.0, 30.0]


def test_jitter_spreads_each_wait_over_the_upper_half() -> None:
    backoff = Backoff(initial=1.0, cap=60.0)
    assert backoff.delay(4, rand=lambda: 0.0) == 4.0
    assert backoff.delay(4, rand=lambda: 0.5) == 6.0
    assert backoff.delay(4, rand=lambda: 1.0) == 8.0


def test_very_many_attempts_stay_at_the_cap() -> None:
    assert Backoff(cap=30.0).delay(10_000, rand=lambda: 1.0) == 30.0


def test_retry_after_wins_over_the_backoff() -> None:
    assert Backoff(cap=30.0).delay(1, retry_after=42.0) == 42.0


def test_retry_after_zero_still_waits_the_initial_delay() -> None:
    assert Backoff(initial=0.5).delay(3, retry_after=0.0) == 0.5


def test_a_retry_after_far_in_the_future_is_capped_and_logged(
    caplog: pytest.LogCaptureFixture,
) -> None:
    backoff = Backoff(max_retry_after=300.0)
    with caplog.at_level(logging.WARNING, logger="enginewatch.core.retry"):
        assert backoff.delay(1, retry_after=86_400.0 * 365) == 300.0
        assert backoff.delay(1, retry_after=300.0) == 300.0
    assert [r.getMessage() for r in caplog.records] == ["Retry-After of 31536000 s capped at 300 s"]


@pytest.mark.parametrize(
    ("header", "seconds"),
    [
        (None, None),
        ("7", 7.0),
        (" 0 ", 0.0),
        ("Wed, 21 Oct 2026 07:28:30 GMT", 30.0),
        ("Wed, 21 Oct 2026 07:27:00 GMT", 0.0),  # in the past: no wait
        ("soon", None),
    ],
)
def test_parse_retry_after(header: str | None, seconds: float | None) -> None:
    now = datetime(2026, 10, 21, 7, 28, 0, tzinfo=UTC)
    assert parse_retry_after(header, now) == seconds
