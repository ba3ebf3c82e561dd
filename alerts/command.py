"""`enginewatch alerts [FAUST WORKER OPTIONS]`: run the alerts worker.
`enginewatch alerts deliver [FAUST WORKER OPTIONS]`: run the delivery worker.
`enginewatch alerts check [RULES]`: check a rules file and list its rules.
`enginewatch alerts replay RECORDING [--rules RULES]`: what would have fired.

The worker needs ENGINEWATCH_ALERT_RULES; a wrong rule stops its start with
one line naming the file, the rule and the field (exit 2). The delivery
worker needs ENGINEWATCH_ALERTMANAGER_URL or ENGINEWATCH_ALERT_WEBHOOKS (exit
2 without). `check` exits 0 when the file is good, 1 when it is not, 2 when
no file is named; `replay` 0, or 1 when the rules or the recording cannot be
read.
"""

from __future__ import annotations

import argparse
import logging
import sys
from pathlib import Path
from typing import Any

import orjson

from alerts.app import create_alerts_app
from alerts.delivery import DELIVERIES_TABLE
from alerts.delivery_app import create_delivery_app
from alerts.receivers import receivers
from alerts.rules import DEFAULT_FORGET, Rules, RulesError, format_duration, load_rules
from alerts.state import ALERT_STATES_TABLE
from enginewatch.core.faustapp import (
    TopicSpec,
    accept_worker_options,
    app_topics,
    ensure_topics,
    run_worker,
)
from enginewatch.core.kafka import ToolError
from enginewatch.core.settings import Settings, load_settings

PROG = "enginewatch alerts"
DEFAULT_RULES = Path(__file__).with_name("default-rules.yaml")

logger = logging.getLogger(__name__)


def configure(parser: argparse.ArgumentParser) -> None:
    # Faust's worker options pass through untouched, and argparse cannot tell
    # the value of one (`-l info`) from a subcommand: so everything after the
    # options is taken as it comes, and `check` is parsed by its own parser.
    parser.add_argument(
        "words",
        nargs=argparse.REMAINDER,
        metavar="deliver | check [RULES] | replay RECORDING [--rules RULES]",
        help="deliver: run the delivery worker instead (the transitions to Alertmanager and "
        "webhooks); check: check a rules file and list its rules (default: "
        "ENGINEWATCH_ALERT_RULES); replay: print what the rules would have fired on a recording",
    )
    accept_worker_options(parser)
    parser.usage = (
        f"{PROG} [FAUST WORKER OPTIONS] | {PROG} deliver [FAUST WORKER OPTIONS] | "
        f"{PROG} check [RULES] | {PROG} replay RECORDING [--rules RULES]"
    )
    parser.description = (
        "Run the alerts worker: the rules of ENGINEWATCH_ALERT_RULES over the archive topic's "
        "points, their transitions on ENGINEWATCH_ALERTS_TOPIC. `deliver` delivers them to "
        "ENGINEWATCH_ALERTMANAGER_URL and ENGINEWATCH_ALERT_WEBHOOKS; `check` checks a rules "
        "file; `replay` tries rules on a recording, offline."
    )


def check_parser() -> argparse.ArgumentParser:
    """`enginewatch alerts check`'s own parser."""
    parser = argparse.ArgumentParser(
        prog=f"{PROG} check",
        description="Check an alert rules file and list its rules: exit 0 when it is good, "
        "1 (with one line saying what is wrong) when it is not.",
    )
    parser.add_argument(
        "rules",
        nargs="?",
        type=Path,
        metavar="RULES",
        help=f"a rules file (default: ENGINEWATCH_ALERT_RULES; {DEFAULT_RULES} is a start)",
    )
    return parser


def replay_parser() -> argparse.ArgumentParser:
    """`enginewatch alerts replay`'s own parser."""
    parser = argparse.ArgumentParser(
        prog=f"{PROG} replay",
        description="Print what the rules would have fired on a recording of the engines' "
        "topic (`enginewatch record` writes one), offline: the agents' derivation and the "
        "alerts stage in this process, in event time.",
    )
    parser.add_argument("recording", type=Path, metavar="RECORDING", help="a JSON Lines recording")
    parser.add_argument(
        "--rules",
        type=Path,
        metavar="RULES",
        help=f"the rules file (default: ENGINEWATCH_ALERT_RULES, else {DEFAULT_RULES.name})",
    )
    parser.add_argument(
        "--partitions",
        type=int,
        metavar="N",
        help="the archive topic's partitions, whose clocks the engines share "
        "(default: ENGINEWATCH_PARTITIONS)",
    )
    parser.add_argument(
        "--engine-map",
        type=Path,
        metavar="FILE",
        help="engine UUID -> model name (default: ENGINEWATCH_ENGINE_MAP)",
    )
    parser.add_argument(
        "--json", action="store_true", help="print the transitions as the alerts topic holds them"
    )
    return parser


def run(args: argparse.Namespace) -> int:
    words = list(args.words)
    if words[:1] in (["check"], ["replay"]):
        if args.extra:
            print(
                f"{PROG} {words[0]}: unrecognized arguments: {' '.join(args.extra)}",
                file=sys.stderr,
            )
            return 2
        if words[0] == "replay":
            return replay_command(replay_parser().parse_args(words[1:]), load_settings())
        options = check_parser().parse_args(words[1:])
        return check(options.rules or load_settings().alerts.alert_rules)
    settings = load_settings()
    if words[:1] == ["deliver"]:
        return deliver(settings, [*args.extra, *words[1:]])
    path = settings.alerts.alert_rules
    if path is None:
        print(
            f"{PROG}: ENGINEWATCH_ALERT_RULES is not set: name a rules file "
            f"({DEFAULT_RULES} is a starting point)",
            file=sys.stderr,
        )
        return 2
    try:
        rules = load_rules(path)
    except RulesError as exc:
        print(f"{PROG}: {exc}", file=sys.stderr)
        return 2
    try:
        app, problem = _prepare(settings, rules)
    except ToolError as exc:
        print(f"{PROG}: {exc}", file=sys.stderr)
        return 1
    if problem:
        print(f"{PROG}: {problem}", file=sys.stderr)
        return 2
    logger.info("evaluating %d rule(s) of %s", len(rules), path)
    # The options before the first word were not argparse's; the rest came as they are.
    run_worker(app, PROG, [*args.extra, *words])


def _prepare(settings: Settings, rules: Rules) -> tuple[Any, str | None]:
    """The app, once every topic it uses is there; or why it cannot run.

    The table must have the archive topic's partition count, whatever created
    the topic: so the archive topic is made ready first (with
    ENGINEWATCH_PARTITIONS when missing), and its count sizes the table.
    """
    topics, kafka = settings.topics, settings.kafka
    archive = topics.archive_topic
    partitions = ensure_topics(kafka, {archive: TopicSpec(topics.partitions)})[archive]
    app = create_alerts_app(settings, rules, partitions)
    counts = ensure_topics(
        kafka,
        {**app_topics(app), settings.alerts.alerts_topic: TopicSpec(topics.partitions)},
    )
    changelog = f"{app.conf.id}-{ALERT_STATES_TABLE}-changelog"
    return app, changelog_problem(changelog, counts[changelog], archive, partitions)


def deliver(settings: Settings, worker_args: list[str]) -> int:
    """Run the delivery worker: the alerts topic to every configured receiver."""
    prog = f"{PROG} deliver"
    alerts = settings.alerts
    configured = receivers(alerts.alertmanager_urls, alerts.webhook_urls, alerts.alerts_resend)
    if not configured:
        print(
            f"{prog}: neither ENGINEWATCH_ALERTMANAGER_URL nor ENGINEWATCH_ALERT_WEBHOOKS is "
            "set: nothing to deliver to",
            file=sys.stderr,
        )
        return 2
    topic = alerts.alerts_topic
    try:
        partitions = ensure_topics(settings.kafka, {topic: TopicSpec(settings.topics.partitions)})[
            topic
        ]
        app = create_delivery_app(settings, configured, partitions)
        counts = ensure_topics(settings.kafka, app_topics(app))
    except ToolError as exc:
        print(f"{prog}: {exc}", file=sys.stderr)
        return 1
    changelog = f"{app.conf.id}-{DELIVERIES_TABLE}-changelog"
    problem = changelog_problem(
        changelog,
        counts[changelog],
        topic,
        partitions,
        kind="alerts topic",
        state="the delivery records",
    )
    if problem:
        print(f"{prog}: {problem}", file=sys.stderr)
        return 2
    for receiver in configured:
        logger.info("delivering the transitions of %s to %s", topic, receiver.name)
    run_worker(app, prog, worker_args)


def changelog_problem(
    changelog: str,
    changelog_partitions: int,
    topic: str,
    topic_partitions: int,
    kind: str = "archive topic",
    state: str = "the alert states",
) -> str | None:
    """Why the table's changelog cannot hold its values, if it cannot: a value
    lives in the changelog partition of the partition of the topic it follows
    (a series' state: its engine's archive partition), so both must have as
    many partitions."""
    if changelog_partitions == topic_partitions:
        return None
    return (
        f"the table's changelog {changelog!r} has {changelog_partitions} partition(s), "
        f"the {kind} {topic!r} {topic_partitions}; they must be equal "
        f"(the {kind} was repartitioned: delete the changelog, and {state} with it)"
    )


def replay_command(options: argparse.Namespace, settings: Settings) -> int:
    """`enginewatch alerts replay`: the recording through the rules, printed."""
    # Only here: the workers need none of the agents' derivation.
    from agents.resolve.resolver import UNKNOWN
    from agents.resolve.sources import SourceError, read_map_file
    from alerts.replay import recording_values, replay, report

    prog = f"{PROG} replay"
    path = options.rules or settings.alerts.alert_rules or DEFAULT_RULES
    partitions = options.partitions or settings.topics.partitions
    if partitions < 1:
        print(f"{prog}: --partitions must be at least 1", file=sys.stderr)
        return 2
    try:
        rules = load_rules(path)
    except RulesError as exc:
        print(f"{prog}: {exc}", file=sys.stderr)
        return 1
    engine_map = options.engine_map or settings.resolve.engine_map
    try:
        models = read_map_file(engine_map) if engine_map is not None else {}
    except SourceError as exc:
        print(f"{prog}: {exc}", file=sys.stderr)
        return 1
    try:
        with options.recording.open("rb") as stream:
            result = replay(
                recording_values(stream),
                rules,
                partitions,
                lambda engine: models.get(engine, UNKNOWN),
                settings.agents.unknown_types,
                settings.agents.tutorial_names,
            )
    except OSError as exc:
        print(f"{prog}: cannot read {options.recording}: {exc}", file=sys.stderr)
        return 1
    if options.json:
        for transition in result.transitions:
            print(orjson.dumps(transition).decode())
    else:
        print(report(result, rules))
    return 0


def check(path: Path | None) -> int:
    """Check a rules file and list its rules on stdout."""
    if path is None:
        print(
            f"{PROG} check: name a rules file, or set ENGINEWATCH_ALERT_RULES "
            f"({DEFAULT_RULES} is a starting point)",
            file=sys.stderr,
        )
        return 2
    try:
        rules = load_rules(path)
    except RulesError as exc:
        print(f"{PROG} check: {exc}", file=sys.stderr)
        return 1
    print(listing(rules))
    return 0


def listing(rules: Rules) -> str:
    """The rules, one line each: name, severity, grouping, what fires it."""
    width = max(len(rule.name) for rule in rules)
    lines = [f"{rules.path}: {len(rules)} rule(s)"]
    for rule in rules:
        extra = (
            ""
            if rule.forget == DEFAULT_FORGET
            else f"; forgotten after {format_duration(rule.forget)}"
        )
        lines.append(
            f"  {rule.name:<{width}}  {rule.severity:<8}  by {','.join(rule.group_by)}: "
            f"{rule.describe()}{extra}"
        )
    return "\n".join(lines)
