"""Receivers over real HTTP (a webhook receiver in this process): every notice
until it is taken, through a receiver that is down or failing; a refusal
is not retried; reminders are tried once."""

from __future__ import annotations

import asyncio
import threading
import time
from typing import Any

from alerts.payloads import FIRST, RESOLVED, Notice
from alerts.receivers import Backoff, Outcome, Receiver, receivers
from tests.support.webhooks import WebhookReceiver
from tests.unit.test_alerts_delivery import LIFE, transition

FAST = Backoff(initial=0.05, cap=0.2)


def webhook(server: WebhookReceiver) -> Receiver:
    return Receiver("webhook", server.url, backoff=FAST)


def deliver(receiver: Receiver, notices: list[Notice]) -> Outcome:
    async def run() -> Outcome:
        try:
            return await receiver.deliver(notices)
        finally:
            await receiver.close()

    return asyncio.run(run())


def remind(receiver: Receiver, notices: list[Notice]) -> bool:
    async def run() -> bool:
        try:
            return await receiver.remind(notices)
        finally:
            await receiver.close()

    return asyncio.run(run())


def notices() -> list[Notice]:
    e2 = transition("e2", 2, "firing", "pending", 10, 10)
    return [
        Notice(LIFE[1], FIRST),
        Notice(e2, FIRST),
        Notice(LIFE[4], RESOLVED),
    ]


def sent(server: WebhookReceiver) -> list[tuple[str, int, str]]:
    return [
        (b["alerts"][0]["labels"]["engine"], b["alerts"][0]["transition"]["sequence"], b["status"])
        for b in server.bodies()
    ]


def test_a_webhook_gets_one_payload_per_notice_in_order_per_alert() -> None:
    server = WebhookReceiver().start()
    try:
        outcome = deliver(webhook(server), notices())
    finally:
        server.stop()
    assert (outcome.taken, outcome.refused, outcome.failed_attempts) == (3, 0, 0)
    assert sorted(sent(server)) == [("e1", 2, "firing"), ("e1", 5, "resolved"), ("e2", 2, "firing")]
    e1 = [entry for entry in sent(server) if entry[0] == "e1"]
    assert e1 == [("e1", 2, "firing"), ("e1", 5, "resolved")]
    assert {r.path for r in server.received()} == {"/hook"}


def test_a_receiver_that_is_down_gets_everything_once_it_is_up() -> None:
    server = WebhookReceiver()  # not listening yet: connections are refused
    threading.Timer(0.5, server.start).start()
    try:
        outcome = deliver(webhook(server), notices())
    finally:
        time.sleep(0.1)
        server.stop()
    assert outcome.taken == 3
    assert outcome.failed_attempts > 0
    assert len(sent(server)) == 3


def test_a_failing_receiver_is_tried_again_and_a_refusal_is_not() -> None:
    server = WebhookReceiver().start()
    server.status = 503

    def recover() -> None:
        server.status = 200

    threading.Timer(0.4, recover).start()
    try:
        outcome = deliver(webhook(server), notices()[:1])
        assert (outcome.taken, outcome.failed_attempts > 0) == (1, True)
        server.status = 400
        refused = deliver(webhook(server), notices()[1:2])
        assert (refused.taken, refused.refused, refused.failed_attempts) == (0, 1, 0)
        server.status = 429
        assert remind(webhook(server), notices()[:1]) is False
        server.status = 200
        assert remind(webhook(server), notices()[:1]) is True
    finally:
        server.stop()
    assert sent(server) == [("e1", 2, "firing"), ("e1", 2, "firing")]


def test_alertmanager_gets_the_batch_as_postable_alerts() -> None:
    server = WebhookReceiver().start()
    base = f"http://127.0.0.1:{server.port}/hook"  # the API path is appended
    try:
        outcome = deliver(Receiver("alertmanager", base, resend=1.0, backoff=FAST), notices())
    finally:
        server.stop()
    assert outcome.taken == 1
    (request,) = server.received()
    assert request.path == "/hook/api/v2/alerts"
    body: list[dict[str, Any]] = request.body
    assert [(a["labels"]["engine"], a["endsAt"] > a["startsAt"]) for a in body] == [
        ("e1", True),
        ("e2", True),
        ("e1", True),
    ]
    assert set(body[0]) == {"labels", "annotations", "startsAt", "endsAt"}


def test_receivers_are_named_without_credentials_and_known_by_their_url() -> None:
    found = receivers(
        ["http://am:9093", "http://am:9093/", "http://am2:9093/api/v2/alerts"],
        ["https://user:secret@hooks.example/x?token=t", "https://hooks.example/x?token=t"],
        60.0,
    )
    assert [r.name for r in found] == [
        "alertmanager http://am:9093",
        "alertmanager http://am2:9093/api/v2/alerts",
        "webhook https://hooks.example/x",
    ]
    assert [r.endpoint for r in found[:2]] == [
        "http://am:9093/api/v2/alerts",
        "http://am2:9093/api/v2/alerts",
    ]
    # The same endpoint, with or without credentials, is the same receiver (and records).
    assert found[2].url == "https://user:secret@hooks.example/x?token=t"
    assert found[0].id.startswith("alertmanager-")
    assert found[2].id.startswith("webhook-")
