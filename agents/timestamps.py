"""RFC 3339 timestamps to integer nanoseconds since the epoch (UTC), exactly.

datetime keeps microseconds only; engines may send nanoseconds, and a point's
time must be its message's time to the nanosecond, so the fraction is parsed
by hand.
"""

from __future__ import annotations

import calendar
import re

_RFC3339 = re.compile(
    r"(\d{4})-(\d{2})-(\d{2})[Tt ](\d{2}):(\d{2}):(\d{2})(?:\.(\d+))?"
    r"(?:([Zz])|([+-])(\d{2}):(\d{2}))",
    re.ASCII,  # digits are 0-9 only
)
# InfluxDB stores times as int64 nanoseconds: 1677-09-21T00:12:43.145224192Z to
# 2262-04-11T23:47:16.854775807Z.
NANOS_MIN = -(2**63)
NANOS_MAX = 2**63 - 1
_DAYS_IN_MONTH = (31, 29, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31)


class TimestampError(ValueError):
    pass


def to_nanoseconds(text: str) -> int:
    """Parse an RFC 3339 date-time ('2024-05-01T12:00:00.5Z', '...+02:00')."""
    match = _RFC3339.fullmatch(text)
    if match is None:
        raise TimestampError(f"not an RFC 3339 timestamp: {text!r}")
    year, month, day, hour, minute, second = (int(g) for g in match.groups()[:6])
    fraction, zulu, sign, offset_hours, offset_minutes = match.groups()[6:]
    if year < 1 or not (1 <= month <= 12 and 1 <= day <= _DAYS_IN_MONTH[month - 1]):
        raise TimestampError(f"no such date: {text!r}")
    if month == 2 and day == 29 and not calendar.isleap(year):
        raise TimestampError(f"no such date: {text!r}")
    # Second 60 is a leap second, which ends a minute 59; like most clocks we
    # fold it into :59.
    if hour > 23 or minute > 59 or second > 60 or (second == 60 and minute != 59):
        raise TimestampError(f"no such time: {text!r}")
    seconds = calendar.timegm((year, month, day, hour, minute, min(second, 59), 0, 0, 0))
    if not zulu:
        offset = int(offset_hours) * 3600 + int(offset_minutes) * 60
        if int(offset_hours) > 23 or int(offset_minutes) > 59:
            raise TimestampError(f"no such UTC offset: {text!r}")
        seconds -= offset if sign == "+" else -offset
    # Digits beyond nanoseconds are dropped: a point's time has nanoseconds.
    nanos = int(fraction[:9].ljust(9, "0")) if fraction else 0
    total = seconds * 1_000_000_000 + nanos
    if not NANOS_MIN < total <= NANOS_MAX:
        raise TimestampError(f"outside the years 1677 to 2262 that InfluxDB can store: {text!r}")
    return total
