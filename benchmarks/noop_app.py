"""The Faust ceilings: agents that do nothing with their events.

    python -m benchmarks.noop_app consume|forward [FAUST WORKER OPTIONS]

`consume` iterates the input and drops every event: what Faust costs per event
before any work. `forward` sends each value unchanged to the archive topic:
the same shape as the agents' `derive` (one message in, one out) without the
derivation. Both use the app settings every enginewatch worker shares
(enginewatch.core.faustapp), and read ENGINEWATCH_* like the real workers.
"""

from __future__ import annotations

import sys
from collections.abc import AsyncIterator

import faust

from enginewatch.core.faustapp import RAW_BYTES, create_faust_app, run_worker, use_uvloop
from enginewatch.core.settings import Settings, load_settings

MODES = ("consume", "forward")


def create_noop_app(settings: Settings, mode: str) -> faust.App:
    # Commit often: the consume-only ceiling is read from outside through the
    # group's committed offsets, and they should follow the stream closely.
    app = create_faust_app(settings.kafka, f"noop-{mode}", broker_commit_every=1000)
    source = app.topic(settings.topics.input_topic, **RAW_BYTES)
    sink = app.topic(
        settings.topics.archive_topic, partitions=settings.topics.partitions, **RAW_BYTES
    )

    async def consume(stream: faust.StreamT[bytes]) -> AsyncIterator[None]:
        async for _event in stream.events():
            yield None

    async def forward(stream: faust.StreamT[bytes]) -> AsyncIterator[None]:
        async for event in stream.events():
            await sink.send(key=event.key, value=event.value)
            yield None

    app.agent(source, name=mode)(consume if mode == "consume" else forward)
    return app


def main(argv: list[str]) -> None:
    if not argv or argv[0] not in MODES:
        sys.exit(f"usage: python -m benchmarks.noop_app {'|'.join(MODES)} [worker options]")
    use_uvloop()  # as the enginewatch workers do (enginewatch/cli.py)
    app = create_noop_app(load_settings(), argv[0])
    run_worker(app, f"benchmarks.noop_app {argv[0]}", argv[1:])


if __name__ == "__main__":
    main(sys.argv[1:])
