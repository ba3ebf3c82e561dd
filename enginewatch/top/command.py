"""`enginewatch top [--interval S] [--window S] [--once]`: the fleet and the pipeline, live.

Every refresh asks InfluxDB (through the InfluxQL client, as the dashboards
do) for the models' figures, the firing alerts and the stages' times, and the
broker for the workers' consumer lag, then redraws the screen. It runs in the
terminal's alternate screen, so the shell's screen comes back on exit; keys are
read unbuffered (`q` quits; Ctrl-C too), nothing needs a mouse, and it works
over SSH. A service that does not answer is said on the screen, and the next
refresh asks again.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import logging
import os
import signal
import sys
import termios
import tty
from collections.abc import Iterator

from aiokafka.errors import KafkaError
from rich.console import Console
from rich.live import Live

from enginewatch.core.influxql import InfluxQLClient, InfluxQueryError
from enginewatch.core.kafka import bootstrap_servers
from enginewatch.core.kafkasecurity import KafkaSecurity
from enginewatch.core.settings import load_settings
from enginewatch.tools.arguments import positive_float
from enginewatch.top.influx import InfluxFigures, read_figures
from enginewatch.top.lag import LagReader
from enginewatch.top.render import models_room, render
from enginewatch.top.snapshot import LagRow, Snapshot

QUIT_KEYS = (b"q", b"Q")
# A broker that does not answer within this long is reported, not waited for.
KAFKA_TIMEOUT = 5.0


def configure(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--interval",
        type=positive_float,
        default=1.0,
        metavar="S",
        help="seconds between refreshes (default 1)",
    )
    parser.add_argument(
        "--window",
        type=positive_float,
        default=60.0,
        metavar="S",
        help="seconds before the newest engine point that rates, resources and rejections "
        "are taken from (default 60)",
    )
    parser.add_argument(
        "--once", action="store_true", help="print one screen to standard output and exit"
    )


def run(args: argparse.Namespace) -> int:
    settings = load_settings()
    client = InfluxQLClient.from_config(settings.influx)
    lag = LagReader(
        bootstrap_servers(settings.kafka.broker),
        settings.kafka.app_id,
        security=KafkaSecurity.from_config(settings.kafka),
    )
    gatherer = Gatherer(
        f"{settings.kafka.app_id} · {settings.influx.database}", client, lag, args.window
    )
    try:
        if args.once:
            Console().print(render(asyncio.run(gatherer.once()), live=False))
            return 0
        # Log lines would scribble over the screen; what goes wrong is shown on it instead.
        logging.getLogger().setLevel(logging.CRITICAL)
        asyncio.run(live(gatherer, args.interval, Console()))
        return 0
    finally:
        client.close()


class Gatherer:
    """Asks InfluxDB and the broker for one refresh's figures."""

    def __init__(self, title: str, client: InfluxQLClient, lag: LagReader, window_s: float) -> None:
        self.title = title
        self.client = client
        self.lag = lag
        self.window_s = window_s
        self._lag_started = False

    async def snapshot(self) -> Snapshot:
        figures, lag = await asyncio.gather(self._figures(), self._lag())
        influx_problem, found = figures
        kafka_problem, lag_rows = lag
        return Snapshot(
            title=self.title,
            engines_at_ms=found.engines_at_ms if found else None,
            models=found.models if found else (),
            lag=lag_rows,
            stages=found.stages if found else (),
            alerts=found.alerts if found else (),
            problems=tuple(p for p in (influx_problem, kafka_problem) if p),
        )

    async def once(self) -> Snapshot:
        try:
            return await self.snapshot()
        finally:
            await self.close()

    async def close(self) -> None:
        if self._lag_started:
            self._lag_started = False
            await self.lag.close()

    async def _figures(self) -> tuple[str | None, InfluxFigures | None]:
        try:
            return None, await asyncio.to_thread(read_figures, self.client, self.window_s)
        except InfluxQueryError as exc:
            return str(exc), None

    async def _lag(self) -> tuple[str | None, list[LagRow] | None]:
        try:
            async with asyncio.timeout(KAFKA_TIMEOUT):
                if not self._lag_started:
                    await self.lag.start()
                    self._lag_started = True
                return None, await self.lag.read()
        except (KafkaError, OSError, TimeoutError) as exc:
            # Start afresh next time: the clients may be half-open.
            await self.close()
            return f"Kafka at {self.lag.bootstrap}: {exc or type(exc).__name__}", None


async def live(gatherer: Gatherer, interval: float, console: Console) -> None:
    """Redraw every `interval` seconds until `q`, Ctrl-C or SIGTERM."""
    loop = asyncio.get_running_loop()
    quit_ = asyncio.Event()
    for signum in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(signum, quit_.set)
    try:
        with keys_read(loop, quit_), Live(console=console, screen=True, auto_refresh=False) as view:
            while not quit_.is_set():
                gathering = asyncio.ensure_future(gatherer.snapshot())
                quitting = asyncio.ensure_future(quit_.wait())
                await asyncio.wait({gathering, quitting}, return_when=asyncio.FIRST_COMPLETED)
                if not gathering.done():
                    gathering.cancel()
                    break
                snapshot = gathering.result()
                view.update(render(snapshot, models_room(snapshot, console.height)), refresh=True)
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(quitting, interval)
                quitting.cancel()
    finally:
        for signum in (signal.SIGINT, signal.SIGTERM):
            loop.remove_signal_handler(signum)
        await gatherer.close()


@contextlib.contextmanager
def keys_read(loop: asyncio.AbstractEventLoop, quit_: asyncio.Event) -> Iterator[None]:
    """Read the terminal's keys one by one (no Enter needed) while inside; a quit key sets
    `quit_`. Standard input that is not a terminal is left alone: Ctrl-C still quits."""
    if not sys.stdin.isatty():
        yield
        return
    fd = sys.stdin.fileno()
    saved = termios.tcgetattr(fd)

    def on_key() -> None:
        pressed = os.read(fd, 64)
        if not pressed or any(key in pressed for key in QUIT_KEYS):
            quit_.set()

    tty.setcbreak(fd)
    loop.add_reader(fd, on_key)
    try:
        yield
    finally:
        loop.remove_reader(fd)
        termios.tcsetattr(fd, termios.TCSADRAIN, saved)
