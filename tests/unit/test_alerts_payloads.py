"""What receivers are sent: Alertmanager's postable alerts and its webhook
payload (version 4), field by field, as Alertmanager v0.35.0's source writes
them (tests/integration/test_alert_delivery.py compares them with what a real
Alertmanager sends)."""

from __future__ import annotations

from typing import Any

import pytest

from alerts.labels import fingerprint
from alerts.payloads import (
    ENDS_AHEAD,
    FIRST,
    RESOLVED,
    ZERO_TIME,
    Notice,
    alertmanager_alerts,
    go_quote,
    group_key,
    rfc3339,
    webhook_message,
)

S = 1_000_000_000
T0 = 1_767_225_600 * S  # 2026-01-01T00:00:00Z
LABELS = {"alertname": "HighCPU", "severity": "warning", "engine": "e1", "model": "iris"}

# The keys of Alertmanager v0.35.0's webhook message (notify/webhook/webhook.go
# `Message`, embedding template.Data) and of each of its alerts (template.Alert).
MESSAGE_KEYS = {
    "receiver",
    "status",
    "alerts",
    "notification_reason",
    "groupLabels",
    "commonLabels",
    "commonAnnotations",
    "routeLabels",
    "externalURL",
    "version",
    "groupKey",
    "truncatedAlerts",
}
ALERT_KEYS = {
    "status",
    "labels",
    "annotations",
    "startsAt",
    "endsAt",
    "generatorURL",
    "fingerprint",
}


def transition(**changes: Any) -> dict[str, Any]:
    t = {
        "version": 1,
        "fingerprint": fingerprint(LABELS),
        "alertname": "HighCPU",
        "severity": "warning",
        "state": "firing",
        "previous": "pending",
        "firing": True,
        "time": T0 + 10 * S,
        "fired_at": T0 + 10 * S,
        "sequence": 2,
        "value": 97.0,
        "tags": {"engine": "e1", "model": "iris"},
        "labels": LABELS,
        "annotations": {"summary": "CPU of iris on e1 at 97 %"},
        "origin": None,
    }
    t.update(changes)
    return t


@pytest.mark.parametrize(
    ("ns", "text"),
    [
        (0, "1970-01-01T00:00:00Z"),
        (T0, "2026-01-01T00:00:00Z"),
        (T0 + 123_000_000, "2026-01-01T00:00:00.123Z"),
        (T0 + 1, "2026-01-01T00:00:00.000000001Z"),
        (T0 + 10 * S + 500_000, "2026-01-01T00:00:10.0005Z"),
    ],
)
def test_times_are_gos_rfc3339_with_nanoseconds(ns: int, text: str) -> None:
    assert rfc3339(ns) == text


def test_labels_are_quoted_and_grouped_as_alertmanager_does() -> None:
    assert go_quote("iris") == '"iris"'
    assert go_quote('a "b" \\ c') == '"a \\"b\\" \\\\ c"'
    assert go_quote("Prévision\n\t\x01\x7f") == '"Prévision\\n\\t\\x01\\x7f"'
    assert go_quote("\u0085\U000e0001") == '"\\u0085\\U000e0001"'
    # What Alertmanager v0.35.0 sent for these labels with group_by ['...'].
    assert group_key(LABELS) == (
        '{}:{alertname="HighCPU", engine="e1", model="iris", severity="warning"}'
    )
    assert group_key({}) == "{}:{}"


def test_a_firing_alert_ends_four_resends_ahead_of_now() -> None:
    now = (T0 + 60 * S) / S
    (alert,) = alertmanager_alerts([Notice(transition(), FIRST)], now, resend=60.0)
    assert alert == {
        "labels": LABELS,
        "annotations": {"summary": "CPU of iris on e1 at 97 %"},
        "startsAt": "2026-01-01T00:00:10Z",
        "endsAt": rfc3339(T0 + 60 * S + ENDS_AHEAD * 60 * S),
    }
    # An alert that began firing after now (an engine clock ahead) still ends after it began.
    (ahead,) = alertmanager_alerts([Notice(transition(), FIRST)], (T0 - 100 * S) / S, 1.0)
    assert ahead["endsAt"] == rfc3339(T0 + 10 * S + ENDS_AHEAD * S)


def test_an_alert_that_ended_is_sent_with_its_end() -> None:
    ended = transition(state="resolved", previous="firing", firing=False, time=T0 + 30 * S)
    now = (T0 + 3600 * S) / S
    (alert,) = alertmanager_alerts([Notice(ended, RESOLVED)], now, 60.0)
    assert (alert["startsAt"], alert["endsAt"]) == ("2026-01-01T00:00:10Z", "2026-01-01T00:00:30Z")
    # Never an end after now: Alertmanager would keep it firing until then.
    (early,) = alertmanager_alerts([Notice(ended, RESOLVED)], (T0 + 20 * S) / S, 60.0)
    assert early["endsAt"] == "2026-01-01T00:00:20Z"
    # Nor before it began.
    (before,) = alertmanager_alerts([Notice(ended, RESOLVED)], (T0 + 5 * S) / S, 60.0)
    assert before["endsAt"] == "2026-01-01T00:00:10Z"


def test_the_webhook_payload_is_alertmanagers_version_4() -> None:
    message = webhook_message(Notice(transition(), FIRST))
    assert set(message) == MESSAGE_KEYS
    (alert,) = message["alerts"]
    assert set(alert) == {*ALERT_KEYS, "transition"}
    assert message == {
        "receiver": "enginewatch",
        "status": "firing",
        "alerts": [
            {
                "status": "firing",
                "labels": LABELS,
                "annotations": {"summary": "CPU of iris on e1 at 97 %"},
                "startsAt": "2026-01-01T00:00:10Z",
                "endsAt": ZERO_TIME,
                "generatorURL": "",
                "fingerprint": fingerprint(LABELS),
                "transition": {
                    "sequence": 2,
                    "time": "2026-01-01T00:00:10Z",
                    "state": "firing",
                    "previous": "pending",
                    "value": 97.0,
                },
            }
        ],
        "notification_reason": "first notification",
        "groupLabels": LABELS,
        "commonLabels": LABELS,
        "commonAnnotations": {"summary": "CPU of iris on e1 at 97 %"},
        "routeLabels": {},
        "externalURL": "",
        "version": "4",
        "groupKey": group_key(LABELS),
        "truncatedAlerts": 0,
    }


def test_a_resolve_in_the_webhook_payload() -> None:
    ended = transition(
        state="no-data", previous="firing", firing=False, time=T0 + 40 * S, sequence=3
    )
    message = webhook_message(Notice(ended, RESOLVED), external_url="http://grafana:3000")
    (alert,) = message["alerts"]
    assert (message["status"], alert["status"]) == ("resolved", "resolved")
    assert (alert["startsAt"], alert["endsAt"]) == ("2026-01-01T00:00:10Z", "2026-01-01T00:00:40Z")
    assert alert["transition"]["state"] == "no-data"
    assert message["notification_reason"] == "all alerts resolved"
    assert message["externalURL"] == "http://grafana:3000"
