"""What receivers are sent, pure: transitions (the alerts topic's messages,
alert-v1.schema.json) as Alertmanager's postable alerts and as Alertmanager's
webhook payload, version 4.

Both follow Alertmanager v0.35.0's source: `api/v2/openapi.yaml`
(`postableAlert`: labels, annotations, startsAt, endsAt) and
`notify/webhook/webhook.go` (`Message`: the template's `Data`, then version,
groupKey, truncatedAlerts). An alert is identified as Alertmanager identifies
it: its labels' fingerprint and its `startsAt`, the time it began firing
(`fired_at`); so one alert seen by both ways has the same fingerprint and the
same `startsAt` in both.

Times are Go's RFC 3339 with nanoseconds (trailing zeros dropped), in UTC, as
Alertmanager writes them; Go's zero time stands for "no end" in a firing
alert's webhook `endsAt`, as in Alertmanager's own payloads.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

# The webhook payload's receiver (Alertmanager's: the receiver's name in its config).
RECEIVER = "enginewatch"
WEBHOOK_VERSION = "4"
ZERO_TIME = "0001-01-01T00:00:00Z"
# A firing alert sent to Alertmanager ends this many re-send intervals ahead
# unless re-sent (Prometheus: 4 times its resend delay).
ENDS_AHEAD = 4
# Alertmanager's notification reasons (notify/notify.go `NotifyReason`).
FIRST = "first notification"
RESOLVED = "all alerts resolved"
REPEAT = "repeat interval elapsed"
# A firing alert whose state changed (firing <-> flapping, say) has no reason
# of its own in Alertmanager, which would not notify it; this is its "unknown".
UPDATE = "unknown"


@dataclass(frozen=True, slots=True)
class Notice:
    """One transition a receiver is told of, and why."""

    transition: Mapping[str, Any]
    reason: str

    @property
    def fingerprint(self) -> str:
        return str(self.transition["fingerprint"])

    @property
    def firing(self) -> bool:
        return bool(self.transition["firing"])

    @property
    def starts_at(self) -> int:
        """When the alert began firing (ns): Alertmanager's startsAt."""
        return int(self.transition["fired_at"])

    @property
    def time(self) -> int:
        return int(self.transition["time"])


def rfc3339(ns: int) -> str:
    """Nanoseconds since the epoch as Go's time.RFC3339Nano spells them in UTC."""
    seconds, fraction = divmod(ns, 1_000_000_000)
    stamp = datetime.fromtimestamp(seconds, UTC).strftime("%Y-%m-%dT%H:%M:%S")
    digits = f"{fraction:09d}".rstrip("0")
    return f"{stamp}.{digits}Z" if digits else f"{stamp}Z"


def alertmanager_alerts(
    notices: Sequence[Notice], now: float, resend: float
) -> list[dict[str, Any]]:
    """The body of `POST /api/v2/alerts` for these notices, in order, at wall
    time `now` (s). A firing alert ends ENDS_AHEAD re-sends ahead, so
    Alertmanager ends it by itself only if enginewatch stops sending; an alert
    that ended, at its transition's time (never after `now`: an engine clock
    ahead would keep it firing there)."""
    now_ns = int(now * 1e9)
    alerts = []
    for notice in notices:
        starts = notice.starts_at
        if notice.firing:
            ends = max(now_ns, starts) + int(ENDS_AHEAD * resend * 1e9)
        else:
            ends = max(starts, min(notice.time, now_ns))
        t = notice.transition
        alerts.append(
            {
                "labels": dict(t["labels"]),
                "annotations": dict(t["annotations"]),
                "startsAt": rfc3339(starts),
                "endsAt": rfc3339(ends),
            }
        )
    return alerts


def webhook_message(notice: Notice, external_url: str = "") -> dict[str, Any]:
    """Alertmanager's webhook payload (version 4) for one notice: a group of
    one alert, as Alertmanager sends with `group_by: ['...']`, so its groupKey
    names the alert (a receiver that opens an incident per groupKey opens one
    per alert). Each alert also carries `transition`, the transition's
    identity beside what Alertmanager sends: with the fingerprint, its
    `sequence` and `time` are the key a receiver deduplicates by (a reminder,
    or a notice sent again after a crash, has the same key)."""
    t = notice.transition
    labels = {str(k): str(v) for k, v in t["labels"].items()}
    annotations = {str(k): str(v) for k, v in t["annotations"].items()}
    status = "firing" if notice.firing else "resolved"
    alert = {
        "status": status,
        "labels": labels,
        "annotations": annotations,
        "startsAt": rfc3339(notice.starts_at),
        "endsAt": ZERO_TIME if notice.firing else rfc3339(max(notice.time, notice.starts_at)),
        "generatorURL": "",
        "fingerprint": notice.fingerprint,
        "transition": {
            "sequence": t["sequence"],
            "time": rfc3339(notice.time),
            "state": t["state"],
            "previous": t["previous"],
            "value": t.get("value"),
        },
    }
    return {
        "receiver": RECEIVER,
        "status": status,
        "alerts": [alert],
        "notification_reason": notice.reason,
        "groupLabels": labels,
        "commonLabels": labels,
        "commonAnnotations": annotations,
        "routeLabels": {},
        "externalURL": external_url,
        "version": WEBHOOK_VERSION,
        "groupKey": group_key(labels),
        "truncatedAlerts": 0,
    }


def group_key(group_labels: Mapping[str, str]) -> str:
    """Alertmanager's groupKey for the root route: `{}:` and the group's labels
    as Prometheus prints a label set (sorted, Go-quoted values)."""
    pairs = ", ".join(f"{name}={go_quote(group_labels[name])}" for name in sorted(group_labels))
    return "{}:{" + pairs + "}"


def go_quote(text: str) -> str:
    """A string quoted as Go's strconv.Quote quotes it (printable text kept)."""
    out = ['"']
    for char in text:
        if char in '"\\':
            out.append("\\" + char)
        elif char.isprintable():
            out.append(char)
        elif char in _GO_ESCAPES:
            out.append(_GO_ESCAPES[char])
        elif ord(char) < 0x80:
            out.append(f"\\x{ord(char):02x}")
        else:
            code = ord(char)
            out.append(f"\\u{code:04x}" if code <= 0xFFFF else f"\\U{code:08x}")
    out.append('"')
    return "".join(out)


_GO_ESCAPES = {
    "\a": "\\a",
    "\b": "\\b",
    "\f": "\\f",
    "\n": "\\n",
    "\r": "\\r",
    "\t": "\\t",
    "\v": "\\v",
}
