"""The agents' wiring as it was before the batching change, kept to measure that change.

    python -m benchmarks.before_app [FAUST WORKER OPTIONS]

Input keyed by engine only (one hop): every event is taken on its own,
resolved and derived by the same pure pipeline as today, and its points are
sent as one archive message through `Topic.send`, on asyncio's own event loop.
`python -m benchmarks` runs it beside today's `enginewatch agents` on the same
recording, so the effect of the change is measured in every run.
"""

from __future__ import annotations

import sys
from collections.abc import AsyncIterator

import faust

from agents.pipeline import Accepted, handle
from agents.resolve.resolver import Resolver, resolver_from_config
from enginewatch.core.deadletters import dead_letter
from enginewatch.core.faustapp import RAW_BYTES, create_faust_app
from enginewatch.core.points import Origin, encode_archive
from enginewatch.core.settings import Settings, load_settings


def create_previous_app(settings: Settings, resolver: Resolver) -> faust.App:
    app = create_faust_app(settings.kafka, "agents", topic_partitions=settings.topics.partitions)
    input_topic = app.topic(settings.topics.input_topic, **RAW_BYTES)
    archive = app.topic(settings.topics.archive_topic, **RAW_BYTES)
    dead_letters = app.topic(settings.topics.dead_letter_topic, **RAW_BYTES)
    carried = app.Table("carried-amounts", default=dict, partitions=settings.topics.partitions)

    async def derive(stream: faust.StreamT[bytes]) -> AsyncIterator[None]:
        async for event in stream.events():
            message = event.message
            origin = Origin(message.topic, message.partition, message.offset)
            outcome = handle(event.value, resolver.model_for, carried)
            if isinstance(outcome, Accepted):
                if outcome.points:
                    await archive.send(
                        key=outcome.engine.encode(), value=encode_archive(outcome.points, origin)
                    )
            else:
                await dead_letters.send(
                    value=dead_letter(outcome.reason, origin, event.value, "agents")
                )
            yield None

    app.agent(input_topic, name="derive")(derive)
    return app


def main(argv: list[str]) -> None:
    settings = load_settings()
    resolver = resolver_from_config(settings.resolve)
    resolver.refresh()
    app = create_previous_app(settings, resolver)
    # Faust's worker on asyncio's default loop, as before.
    sys.argv = ["benchmarks.before_app", "worker", *argv, "--without-web"]
    app.main()


if __name__ == "__main__":
    main(sys.argv[1:])
