"""`enginewatch resolve`: print the engine -> model mapping and where each entry came from.

The configured sources (map file, Composer, Connect) are asked; the names the
engines' own output reports gave come from the agents' table changelog.
"""

from __future__ import annotations

import argparse
import asyncio
import sys

import orjson
from aiokafka.errors import KafkaError

from agents.resolve.resolver import Entry, resolver_from_config
from agents.state import CarryState, carried_changelog
from enginewatch.core.kafka import ToolError, bootstrap_servers, describe, read_topic
from enginewatch.core.kafkasecurity import KafkaSecurity
from enginewatch.core.settings import KafkaConfig, load_settings

# The name `enginewatch resolve` gives the model names engines report themselves.
REPORTED = "output-report"
# How long reading the agents' changelog may take.
READ_WITHIN = 30.0


def configure(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--json", action="store_true", help="print JSON instead of a table")
    parser.add_argument(
        "--reported",
        action="store_true",
        help="also the names the engines' output reports gave, as the agents keep them "
        "(read from their table's changelog on ENGINEWATCH_BROKER)",
    )


def run(args: argparse.Namespace) -> int:
    settings = load_settings()
    resolver = resolver_from_config(settings.resolve)
    # Each failed source is printed once, below; no log line says it first.
    resolver.refresh(log_failures=False)
    errors = dict(resolver.errors)
    found = dict(resolver.entries)
    try:
        reported = reported_models(settings.kafka) if args.reported else {}
    except (ToolError, KafkaError, OSError) as exc:
        errors[REPORTED] = describe(exc, settings.kafka.broker)
    else:
        # The engines' own reports name a model only where no configured source does.
        found |= {
            uuid: Entry(model, REPORTED) for uuid, model in reported.items() if uuid not in found
        }
    entries = sorted(found.items(), key=lambda item: (item[1].model, item[0]))
    if args.json:
        out = {uuid: {"model": e.model, "source": e.source} for uuid, e in entries}
        print(orjson.dumps(out, option=orjson.OPT_INDENT_2).decode())
    else:
        width = max((len(uuid) for uuid, _ in entries), default=6)
        print(f"{'engine':<{width}}  {'source':<8}  model")
        for uuid, entry in entries:
            print(f"{uuid:<{width}}  {entry.source:<8}  {entry.model}")
    for source, error in errors.items():
        print(f"enginewatch resolve: source {source} failed: {error}", file=sys.stderr)
    return 1 if errors else 0


def reported_models(kafka: KafkaConfig) -> dict[str, str]:
    """Engine -> the model its output reports named, as the agents keep it: the
    latest value of each key of their table's changelog (compacted)."""
    bootstrap = bootstrap_servers(kafka.broker)
    topic = carried_changelog(kafka.app_id)
    latest: dict[str, object] = {}
    security = KafkaSecurity.from_config(kafka)
    for key, value in asyncio.run(read_topic(bootstrap, topic, READ_WITHIN, security=security)):
        if key is not None:
            latest[orjson.loads(key)] = None if value is None else orjson.loads(value)
    models = {
        engine: CarryState.from_table(value).reported_model for engine, value in latest.items()
    }
    return {engine: model for engine, model in models.items() if model is not None}
