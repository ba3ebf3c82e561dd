"""Alerts delivered, end to end, on the real broker: a recording through the
agents, the alerts worker and the delivery worker, to a real Alertmanager
(v0.35.0, which sends to a webhook receiver of its own) and to a webhook.

    recording -> agents -> archive -> alerts -> alerts topic -> deliver -> Alertmanager -> webhook
                                                                      `-> webhook

The recording (tests/support/alert_fleet.py) comes in three parts: alerts
fire; then, while both receivers are down (the webhook's socket closed,
Alertmanager stopped) and the delivery worker is SIGKILLed and started again,
one resolves and another fires; then, after the alerts worker is SIGKILLed
(having committed nothing) and started again, the rest resolve. Every
transition that fires or ends an alert reaches the webhook; Alertmanager
holds exactly the alerts that fire (those it forgot when it restarted come
back with the re-sends), and its own webhook hears of them; no alert arrives
twice as a new one (the same fingerprint and startsAt are the same alert),
and the webhook payloads are Alertmanager's own, key for key.
"""

from __future__ import annotations

import re
import time
from collections.abc import Callable, Iterator
from datetime import datetime
from pathlib import Path
from typing import Any

import orjson
import pytest

from alerts.labels import fingerprint
from alerts.payloads import rfc3339
from enginewatch.harness import kafka
from enginewatch.harness.processes import Process, run_enginewatch
from tests.integration.test_alerts import FAST_FAULTS, _deduplicated, _transitions
from tests.support.alert_fleet import E1, E2, E3, PARTS, RULES, T0_NS, S, write_recording
from tests.support.alertmanager import PrivateAlertmanager
from tests.support.services import ROOT, base_env
from tests.support.waiting import wait_until
from tests.support.webhooks import WebhookReceiver

PARTITIONS = 2
MS = 1_000_000
HIGH_CPU = fingerprint(
    {"alertname": "HighCPU", "severity": "warning", "engine": E1, "model": "unknown"}
)
E2_ERROR = fingerprint(
    {"alertname": "EngineError", "severity": "critical", "engine": E2, "model": "unknown"}
)
E3_ERROR = fingerprint(
    {"alertname": "EngineError", "severity": "critical", "engine": E3, "model": "unknown"}
)
# Each alert fires once: its startsAt.
STARTS = {HIGH_CPU: T0_NS + 10 * S, E2_ERROR: T0_NS + 12 * S, E3_ERROR: T0_NS + 30 * S}

Key = tuple[str, int, str]  # fingerprint, sequence, time: a transition's identity


@pytest.fixture
def hook() -> Iterator[WebhookReceiver]:
    """The webhook enginewatch delivers to."""
    receiver = WebhookReceiver().start()
    yield receiver
    receiver.stop()


@pytest.fixture
def am_hook() -> Iterator[WebhookReceiver]:
    """The webhook Alertmanager sends its notifications to."""
    receiver = WebhookReceiver().start()
    yield receiver
    receiver.stop()


@pytest.fixture
def alertmanager(tmp_path: Path, am_hook: WebhookReceiver) -> Iterator[PrivateAlertmanager]:
    manager = PrivateAlertmanager(tmp_path / "alertmanager", am_hook.url).start()
    yield manager
    manager.stop()
    print(f"--- alertmanager.log ---\n{manager.log()[-6000:]}")


def _notifiable(alerts: str) -> set[Key]:
    """The transitions on the alerts topic that fire or end an alert."""
    return {
        (t["fingerprint"], t["sequence"], rfc3339(t["time"]))
        for t in _deduplicated(_transitions(alerts))
        if t["fired_at"] is not None
    }


def _told(receiver: WebhookReceiver) -> list[Key]:
    """Each notice the webhook got, repeats included."""
    keys = []
    for body in receiver.bodies():
        for alert in body["alerts"]:
            transition = alert["transition"]
            keys.append((alert["fingerprint"], transition["sequence"], transition["time"]))
    return keys


def _active(alertmanager: PrivateAlertmanager) -> dict[str, int]:
    """Alertmanager's active alerts: fingerprint -> startsAt (ns, to the
    millisecond: its API says no more)."""
    return {
        a["fingerprint"]: round(datetime.fromisoformat(a["startsAt"]).timestamp() * 1000) * MS
        for a in alertmanager.alerts()
    }


def _ms(ns: int) -> int:
    return ns - ns % MS


def _heard(receiver: WebhookReceiver) -> set[tuple[str, str, str]]:
    """(fingerprint, status, startsAt) of each alert Alertmanager's webhook got."""
    return {
        (a["fingerprint"], a["status"], a["startsAt"])
        for body in receiver.bodies()
        for a in body["alerts"]
    }


def _waiting(deliverer: Process) -> int:
    """How many of the delivery worker's requests found their receiver down."""
    return len(re.findall(r": not delivered \(", deliverer.log()))


def _ready(worker: Process, topic: str) -> None:
    worker.wait_for_log("Ready", timeout=120)
    assert wait_until(lambda: f"| {topic} " in worker.log(), timeout=60), worker.tail()


@pytest.mark.timeout(900)
def test_every_transition_reaches_alertmanager_and_a_webhook_through_outages_and_kills(
    workers: Callable[..., Process],
    unique: Callable[[str], str],
    tmp_path: Path,
    hook: WebhookReceiver,
    am_hook: WebhookReceiver,
    alertmanager: PrivateAlertmanager,
) -> None:
    notify, archive, alerts = unique("notify"), unique("archive"), unique("alerts")
    for topic in (notify, archive, alerts):
        kafka.create_topic(topic, PARTITIONS)
    rules = tmp_path / "rules.yaml"
    rules.write_text(RULES, encoding="utf-8")
    env = base_env(
        unique("app"),
        input_topic=notify,
        archive_topic=archive,
        alerts_topic=alerts,
        dead_letter_topic=unique("dead"),
        alert_rules=str(rules),
        partitions=str(PARTITIONS),
        alerts_idle="3600",  # event time only: no idle partition follows the wall clock
        alertmanager_url=alertmanager.url,
        alert_webhooks=hook.url,
        alerts_resend="1",  # re-sent every second, Alertmanager ends them 4 s ahead
    )
    env.update(FAST_FAULTS)

    def replay(part: int) -> None:
        recording = write_recording(tmp_path / f"part-{part}.jsonl", PARTS[part])
        done = run_enginewatch(
            "replay", str(recording), "--topic", notify, "--key", "src", env=env, cwd=ROOT
        )
        assert done.returncode == 0, done.stderr

    def delivered(count: int, timeout: float = 120.0) -> set[Key]:
        """The notifiable transitions, once there are `count` and the webhook has them all."""
        assert wait_until(lambda: len(_notifiable(alerts)) >= count, timeout), _transitions(alerts)
        wanted = _notifiable(alerts)
        assert len(wanted) == count, wanted
        assert wait_until(lambda: set(_told(hook)) >= wanted, timeout), (wanted, _told(hook))
        return wanted

    agents = workers(["agents", "-l", "info"], env, name="agents")
    # The first alerts worker commits nothing: killed, its whole input comes again.
    evaluator = workers(
        ["alerts", "-l", "info"], {**env, "BROKER_COMMIT_INTERVAL": "3600"}, name="alerts-0"
    )
    deliverer = workers(["alerts", "deliver", "-l", "info"], env, name="deliver-0")
    _ready(agents, notify)
    _ready(evaluator, archive)
    _ready(deliverer, alerts)

    # 1. HighCPU fires on E1, EngineError on E2: both receivers hear of it.
    replay(0)
    delivered(2)
    both = {HIGH_CPU: _ms(STARTS[HIGH_CPU]), E2_ERROR: _ms(STARTS[E2_ERROR])}
    assert wait_until(lambda: _active(alertmanager) == both, 60), alertmanager.alerts()
    assert wait_until(
        lambda: {(fp, "firing", rfc3339(STARTS[fp])) for fp in both} <= _heard(am_hook), 60
    ), am_hook.bodies()
    # Re-sent every second while they fire, each time ending 4 s ahead.
    first = {a["fingerprint"]: a for a in alertmanager.alerts()}
    time.sleep(2.5)
    later = {a["fingerprint"]: a for a in alertmanager.alerts()}
    for fp in both:
        assert later[fp]["updatedAt"] > first[fp]["updatedAt"]
        assert later[fp]["endsAt"] > first[fp]["endsAt"]

    # 2. Both receivers down; E2 recovers and E3 falls into error meanwhile,
    # and the delivery worker is killed while it waits for them.
    hook.stop()
    alertmanager.stop()
    told_before = len(_told(hook))
    replay(1)
    assert wait_until(lambda: len(_notifiable(alerts)) >= 4, 120), _transitions(alerts)
    assert wait_until(lambda: _waiting(deliverer) >= 2, 60), deliverer.tail()
    deliverer.kill()
    deliverer = workers(["alerts", "deliver", "-l", "info"], env, name="deliver-1")
    _ready(deliverer, alerts)
    # Its input came again, uncommitted: it waits for the receivers in turn.
    assert wait_until(lambda: _waiting(deliverer) >= 2, 60), deliverer.tail()
    assert len(_told(hook)) == told_before
    hook.start()
    alertmanager.start()
    delivered(4)
    # Alertmanager restarted empty: E3 came with the stuck batch, E1 with a re-send.
    e1_e3 = {HIGH_CPU: _ms(STARTS[HIGH_CPU]), E3_ERROR: _ms(STARTS[E3_ERROR])}
    assert wait_until(lambda: _active(alertmanager) == e1_e3, 60), alertmanager.alerts()
    assert wait_until(
        lambda: (E3_ERROR, "firing", rfc3339(STARTS[E3_ERROR])) in _heard(am_hook), 60
    ), am_hook.bodies()

    # 3. The alerts worker killed while E1 and E3 fire, before it committed
    # anything (its whole input is the next one's); started again, E1 cools
    # and E3 recovers.
    assert kafka.committed(f"{env['ENGINEWATCH_APP_ID']}-alerts", archive) == 0
    evaluator.kill()
    evaluator = workers(["alerts", "-l", "info"], env, name="alerts-1")
    _ready(evaluator, archive)
    replay(2)
    wanted = delivered(6)
    assert wait_until(lambda: _active(alertmanager) == {}, 60), alertmanager.alerts()
    ends = {(fp, "resolved", rfc3339(STARTS[fp])) for fp in (HIGH_CPU, E3_ERROR)}
    assert wait_until(lambda: ends <= _heard(am_hook), 60), am_hook.bodies()
    time.sleep(3)  # anything more, or twice, would show now

    # Every transition that fires or ends an alert, and nothing else, reached the webhook.
    assert set(_told(hook)) == wanted
    # HighCPU: pending (1, no notice), firing (2), resolved (3); each EngineError: 1 and 2.
    firing_and_ended = [
        (HIGH_CPU, 2),
        (HIGH_CPU, 3),
        *((fp, n) for fp in (E2_ERROR, E3_ERROR) for n in (1, 2)),
    ]
    assert sorted((fp, seq) for fp, seq, _ in wanted) == sorted(firing_and_ended)
    # None twice as a new alert: one startsAt per fingerprint, the time it began firing.
    for receiver in (hook, am_hook):
        starts: dict[str, set[str]] = {}
        for body in receiver.bodies():
            for alert in body["alerts"]:
                starts.setdefault(alert["fingerprint"], set()).add(alert["startsAt"])
        assert starts == {fp: {rfc3339(at)} for fp, at in STARTS.items() if fp in starts}
    # Alertmanager told its webhook of each alert firing and resolved: E2's resolve
    # too, sent to it once it was back (it kept its notification log through its restart).
    assert _heard(am_hook) == {
        (fp, status, rfc3339(at)) for fp, at in STARTS.items() for status in ("firing", "resolved")
    }
    # A notice repeated only after the delivery worker was killed: at most the
    # batch it was waiting with.
    assert len(_told(hook)) - len(set(_told(hook))) <= 2
    # It said what it waited for, and when it got through.
    assert "delivered after" in deliverer.log()

    # The webhook payload is Alertmanager's own, key for key, for the same alert.
    ours = {b["alerts"][0]["fingerprint"]: b for b in hook.bodies() if b["status"] == "firing"}
    theirs = {b["alerts"][0]["fingerprint"]: b for b in am_hook.bodies() if b["status"] == "firing"}
    for fp in STARTS:
        mine, real = ours[fp], theirs[fp]
        assert set(mine) == set(real)
        (alert,), (real_alert,) = mine["alerts"], real["alerts"]
        assert set(alert) - {"transition"} == set(real_alert)
        same = ("receiver", "status", "groupKey", "groupLabels", "commonLabels", "version")
        assert {k: mine[k] for k in same} == {k: real[k] for k in same}
        assert {k: alert[k] for k in real_alert} == real_alert


def test_re_sends_and_reminders_go_on_after_a_restart(
    workers: Callable[..., Process],
    unique: Callable[[str], str],
    hook: WebhookReceiver,
    alertmanager: PrivateAlertmanager,
) -> None:
    """An alert that fires is re-sent to Alertmanager every ENGINEWATCH_ALERTS_RESEND
    and the webhook is reminded of it every ENGINEWATCH_ALERTS_REPEAT, from the
    table: after the delivery worker is killed and started again, and to an
    Alertmanager that restarted empty, too. One that ended is neither."""
    alerts = unique("alerts")
    kafka.create_topic(alerts, PARTITIONS)
    labels = {"alertname": "HighCPU", "severity": "warning", "engine": E1, "model": "m"}
    ended = {**labels, "engine": E2}
    fired = T0_NS + 10 * S
    transitions = [
        _transition(labels, 1, "firing", "pending", fired, fired),
        _transition(ended, 1, "firing", "pending", fired, fired),
        _transition(ended, 2, "resolved", "firing", fired + 5 * S, fired),
    ]
    kafka.produce(
        alerts,
        [orjson.dumps(t) for t in transitions],
        keys=[t["fingerprint"].encode() for t in transitions],
    )
    env = base_env(
        unique("app"),
        alerts_topic=alerts,
        partitions=str(PARTITIONS),
        alertmanager_url=alertmanager.url,
        alert_webhooks=hook.url,
        alerts_resend="1",
        alerts_repeat="2",
    )
    env.update(FAST_FAULTS)
    firing = fingerprint(labels)

    def reminders() -> list[dict[str, Any]]:
        return [b for b in hook.bodies() if b["notification_reason"] == "repeat interval elapsed"]

    deliverer = workers(["alerts", "deliver", "-l", "info"], env, name="deliver-0")
    _ready(deliverer, alerts)
    assert wait_until(lambda: len(reminders()) >= 2, 60), hook.bodies()
    assert wait_until(lambda: _active(alertmanager) == {firing: _ms(fired)}, 30)
    deliverer.kill()
    alertmanager.stop()
    alertmanager.start()
    assert _active(alertmanager) == {}
    before = len(reminders())
    deliverer = workers(["alerts", "deliver", "-l", "info"], env, name="deliver-1")
    _ready(deliverer, alerts)
    # Back in Alertmanager with no transition: a re-send, from the recovered table.
    assert wait_until(lambda: _active(alertmanager) == {firing: _ms(fired)}, 60)
    assert wait_until(lambda: len(reminders()) >= before + 2, 60), hook.bodies()
    for body in reminders():
        (alert,) = body["alerts"]
        assert alert["fingerprint"] == firing
        assert alert["startsAt"] == rfc3339(fired)
        assert (alert["transition"]["sequence"], alert["transition"]["time"]) == (1, rfc3339(fired))
    # Besides the reminders (of the same transition), each transition that fires
    # or ends an alert was told (maybe once more after the kill: the same one).
    assert set(_told(hook)) == {
        (firing, 1, rfc3339(fired)),
        (fingerprint(ended), 1, rfc3339(fired)),
        (fingerprint(ended), 2, rfc3339(fired + 5 * S)),
    }


def _transition(
    labels: dict[str, str], sequence: int, state: str, previous: str, time: int, fired_at: int
) -> dict[str, Any]:
    return {
        "version": 1,
        "fingerprint": fingerprint(labels),
        "alertname": labels["alertname"],
        "severity": labels["severity"],
        "state": state,
        "previous": previous,
        "firing": state == "firing",
        "time": time,
        "fired_at": fired_at,
        "sequence": sequence,
        "value": 95.0,
        "tags": {"engine": labels["engine"], "model": labels["model"]},
        "labels": labels,
        "annotations": {"summary": "hot"},
        "origin": None,
    }
