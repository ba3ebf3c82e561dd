"""`enginewatch agents [FAUST WORKER OPTIONS]`: run the stream agents."""

from __future__ import annotations

import argparse

from agents.app import create_agents_app
from agents.resolve.resolver import resolver_from_config
from enginewatch.core.faustapp import accept_worker_options, ensure_topics, run_worker
from enginewatch.core.settings import load_settings


def configure(parser: argparse.ArgumentParser) -> None:
    accept_worker_options(parser)


def run(args: argparse.Namespace) -> int:
    settings = load_settings()
    resolver = resolver_from_config(settings.resolve)
    resolver.refresh()  # name the engines from the first message on
    ensure_topics(
        settings.kafka,
        {
            settings.topics.input_topic: settings.topics.partitions,
            settings.topics.archive_topic: settings.topics.partitions,
            settings.topics.dead_letter_topic: 1,
        },
    )
    run_worker(create_agents_app(settings, resolver), "enginewatch agents", args.extra)
