"""A recording with invalid lines put in among its messages: pure, deterministic.

The correctness table (benchmarks/correctness.py) feeds enginewatch and
Telegraf the same input, and a topic in production holds more than valid
notifications: text that is not JSON, JSON cut short, JSON that is not an
object, and messages whose fields are missing or of the wrong type. Each
kind here is one that the agents turn into a dead letter; the objects name
an engine of their own (`INVALID_ENGINE`), so whatever a pipeline makes of
them can be found again in InfluxDB.
"""

from __future__ import annotations

from collections.abc import Callable

import orjson

from benchmarks.workload import Recording

INVALID_ENGINE = "bench-invalid-line"  # in no engine map: its points are the invalid lines'
INVALID_KEY = INVALID_ENGINE.encode()


def _not_json(stamp: str, n: int) -> bytes:
    return f"engine {n}: sensor-report manifold.0.records.count 12".encode()


def _truncated(stamp: str, n: int) -> bytes:
    whole = _message(stamp, tap="manifold.0.records.count", data=n % 50)
    return whole[: len(whole) // 2]


def _array(stamp: str, n: int) -> bytes:
    return b"[" + _message(stamp, tap="manifold.0.records.count", data=n % 50) + b"]"


def _null(stamp: str, n: int) -> bytes:
    return b"null"


def _no_timestamp(stamp: str, n: int) -> bytes:
    value = orjson.loads(_message(stamp, tap="sys.memory", data=1e9 + n))
    del value["timestamp"]
    return orjson.dumps(value)


def _string_data(stamp: str, n: int) -> bytes:
    return _message(stamp, tap="sys.cpu.utilization", data="n/a")


def _numeric_state(stamp: str, n: int) -> bytes:
    return orjson.dumps(
        {"type": "engine-state", "timestamp": stamp, "src": INVALID_ENGINE, "state": 3}
    )


# kind -> how its n-th line is made, given the timestamp of the message it follows.
KINDS: dict[str, Callable[[str, int], bytes]] = {
    "not JSON": _not_json,
    "truncated JSON": _truncated,
    "a JSON array": _array,
    "null": _null,
    "no timestamp": _no_timestamp,
    "a string where a number belongs": _string_data,
    "a number where a string belongs": _numeric_state,
}


def with_invalid_lines(recording: Recording, count: int) -> Recording:
    """The recording with `count` invalid lines spread evenly among its messages,
    the kinds taking turns; each is stamped like the message before it."""
    values, keys = list(recording.values), list(recording.keys)
    makers = list(KINDS.values())
    total = len(recording)
    # From the back, so the positions still ahead stay where they were computed.
    for n in reversed(range(count)):
        at = (n + 1) * total // (count + 1)
        stamp = orjson.loads(recording.values[max(0, at - 1)])["timestamp"]
        values.insert(at, makers[n % len(makers)](stamp, n))
        keys.insert(at, INVALID_KEY)
    return Recording(values, keys, recording.models)


def kinds_of(count: int) -> dict[str, int]:
    """How many lines of each kind `with_invalid_lines(..., count)` puts in."""
    names = list(KINDS)
    return {name: len(range(i, count, len(names))) for i, name in enumerate(names)}


def _message(stamp: str, *, tap: str, data: object) -> bytes:
    return orjson.dumps(
        {
            "type": "sensor-report",
            "timestamp": stamp,
            "src": INVALID_ENGINE,
            "tap": tap,
            "data": data,
        }
    )
