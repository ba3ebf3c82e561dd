"""`enginewatch agents [FAUST WORKER OPTIONS]`: run the stream agents."""

from __future__ import annotations

import argparse
import logging
import sys

from agents.app import create_agents_app
from agents.resolve.resolver import resolver_from_config
from enginewatch.core.faustapp import (
    accept_worker_options,
    ensure_worker_topics,
    run_worker,
)
from enginewatch.core.kafka import ToolError
from enginewatch.core.settings import TopicsConfig, load_settings

PROG = "enginewatch agents"

logger = logging.getLogger(__name__)


def configure(parser: argparse.ArgumentParser) -> None:
    accept_worker_options(parser)


def run(args: argparse.Namespace) -> int:
    settings = load_settings()
    resolver = resolver_from_config(settings.resolve)
    resolver.refresh(log_failures=False)  # name the engines from the first message on
    for name, error in resolver.lasting_errors.items():
        # A refused token or an untrusted certificate: asking again will not help.
        print(f"{PROG}: model source {name} failed: {error}", file=sys.stderr)
        return 2
    for name, error in resolver.errors.items():
        logger.warning("model source %s failed (asked again soon): %s", name, error)
    app = create_agents_app(settings, resolver)
    topics = settings.topics
    try:
        counts = ensure_worker_topics(app, settings.kafka, topics)
    except ToolError as exc:
        print(f"{PROG}: {exc}", file=sys.stderr)
        return 1
    if problem := keyed_input_problem(topics, counts[topics.input_topic]):
        print(f"{PROG}: {problem}", file=sys.stderr)
        return 2
    run_worker(app, PROG, args.extra)


def keyed_input_problem(topics: TopicsConfig, input_partitions: int) -> str | None:
    """Why an input said to be keyed by engine cannot be read directly, if it cannot.

    Read directly, the input's partitions are the carried-amounts table's
    partitions: with another count, an engine's state would live in one
    partition and its messages arrive in another.
    """
    if not topics.input_keyed_by_engine or input_partitions == topics.partitions:
        return None
    return (
        f"ENGINEWATCH_INPUT_KEYED_BY_ENGINE: the input topic {topics.input_topic!r} has "
        f"{input_partitions} partition(s), ENGINEWATCH_PARTITIONS is {topics.partitions}; "
        "they must be equal"
    )
