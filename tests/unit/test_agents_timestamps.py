from __future__ import annotations

import calendar
from datetime import UTC, datetime, timedelta, timezone

import pytest
from hypothesis import given
from hypothesis import strategies as st

from agents.timestamps import TimestampError, to_nanoseconds


@given(
    moment=st.datetimes(
        min_value=datetime(1700, 1, 1), max_value=datetime(2200, 1, 1), timezones=st.just(UTC)
    ),
    nanos=st.integers(min_value=0, max_value=999),
    offset_minutes=st.integers(min_value=-23 * 60, max_value=23 * 60),
)
def test_agrees_with_datetime_to_the_nanosecond(
    moment: datetime, nanos: int, offset_minutes: int
) -> None:
    local = moment.astimezone(timezone(timedelta(minutes=offset_minutes)))
    text = local.strftime("%Y-%m-%dT%H:%M:%S") + f".{local.microsecond:06d}{nanos:03d}"
    sign = "+" if offset_minutes >= 0 else "-"
    text += f"{sign}{abs(offset_minutes) // 60:02d}:{abs(offset_minutes) % 60:02d}"
    expected = calendar.timegm(moment.utctimetuple()) * 10**9 + moment.microsecond * 1000 + nanos
    assert to_nanoseconds(text) == expected


@pytest.mark.parametrize(
    "text",
    [
        "2024-05-01",
        "2024-05-01T12:00:00",
        "2024-05-01T12:00Z",
        "2024-05-01T24:00:00Z",
        "2023-02-29T00:00:00Z",
        "2024-04-31T00:00:00Z",
        "2024-05-01T12:00:60Z",
        "0000-01-01T00:00:00Z",
        "2262-04-12T00:00:00Z",
        "2024-05-01T12:00:00+24:00",
        " 2024-05-01T12:00:00Z",
    ],
)
def test_rejects_what_is_not_rfc3339(text: str) -> None:
    with pytest.raises(TimestampError):
        to_nanoseconds(text)


def test_leap_second_folds_into_the_last_second() -> None:
    assert to_nanoseconds("2016-12-31T23:59:60Z") == to_nanoseconds("2016-12-31T23:59:59Z")
