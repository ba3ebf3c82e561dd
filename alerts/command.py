"""`enginewatch alerts [FAUST WORKER OPTIONS]`: run the alerts worker.
`enginewatch alerts check [RULES]`: check a rules file and list its rules.

The worker needs ENGINEWATCH_ALERT_RULES; a wrong rule stops its start with
one line naming the file, the rule and the field (exit 2). `check` exits 0
when the file is good, 1 when it is not, 2 when no file is named.
"""

from __future__ import annotations

import argparse
import logging
import sys
from pathlib import Path
from typing import Any

from alerts.app import create_alerts_app
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
        metavar="check [RULES]",
        help="check a rules file and list its rules (default: ENGINEWATCH_ALERT_RULES), "
        "instead of running the worker",
    )
    accept_worker_options(parser)
    parser.usage = f"{PROG} [FAUST WORKER OPTIONS] | {PROG} check [RULES]"
    parser.description = (
        "Run the alerts worker: the rules of ENGINEWATCH_ALERT_RULES over the archive topic's "
        "points, their transitions on ENGINEWATCH_ALERTS_TOPIC. `check` checks a rules file."
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


def run(args: argparse.Namespace) -> int:
    words = list(args.words)
    if words[:1] == ["check"]:
        if args.extra:
            print(f"{PROG} check: unrecognized arguments: {' '.join(args.extra)}", file=sys.stderr)
            return 2
        options = check_parser().parse_args(words[1:])
        return check(options.rules or load_settings().alerts.alert_rules)
    settings = load_settings()
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


def changelog_problem(
    changelog: str, changelog_partitions: int, archive: str, archive_partitions: int
) -> str | None:
    """Why the table's changelog cannot hold the states, if it cannot: a series'
    state lives in the changelog partition of its engine's archive partition,
    so both must have as many partitions."""
    if changelog_partitions == archive_partitions:
        return None
    return (
        f"the table's changelog {changelog!r} has {changelog_partitions} partition(s), "
        f"the archive topic {archive!r} {archive_partitions}; they must be equal "
        "(the archive topic was repartitioned: delete the changelog, and the alert states with it)"
    )


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
