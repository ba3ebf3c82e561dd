"""Batches written two at a time, acknowledged one at a time and in order.

A batch is encoded on the event loop and then mostly waits for InfluxDB: while
the last request of one batch is written, the next can be taken and encoded.
The order of acknowledgements is what keeps commits correct: a batch is
acknowledged only once it and every batch before it are written, and none
after a batch whose write failed.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections import deque
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any, TypeVar

B = TypeVar("B")
R = TypeVar("R")

# Batches being written at once.
IN_FLIGHT = 2


async def write_overlapped(
    batches: AsyncIterator[B],
    write: Callable[[B], Awaitable[R]],
    acknowledge: Callable[[B, R], Awaitable[None]],
    in_flight: int = IN_FLIGHT,
) -> None:
    """Write each batch as it comes, up to `in_flight` at once, and acknowledge
    each, with what its write returned, once it and all before it are written.
    The first failed write raises here at once (even while the next batch is
    awaited), and nothing after it is acknowledged; writes still running are
    cancelled."""
    writing: deque[tuple[B, asyncio.Future[R]]] = deque()
    taking: asyncio.Future[B] | None = None
    try:
        while True:
            if taking is None and len(writing) < in_flight:
                taking = asyncio.ensure_future(anext(batches))
            waiting_for: set[asyncio.Future[Any]] = set()
            if writing:
                waiting_for.add(writing[0][1])
            if taking is not None:
                waiting_for.add(taking)
            await asyncio.wait(waiting_for, return_when=asyncio.FIRST_COMPLETED)
            while writing and writing[0][1].done():
                batch, written = writing.popleft()
                await acknowledge(batch, written.result())  # a failed write raises here
            if taking is not None and taking.done():
                try:
                    batch = taking.result()
                except StopAsyncIteration:
                    taking = None
                    break
                taking = None
                writing.append((batch, asyncio.ensure_future(write(batch))))
        while writing:
            batch, written = writing[0]
            result = await written
            writing.popleft()
            await acknowledge(batch, result)
    finally:
        for _, written in writing:
            written.cancel()
        if taking is not None:
            taking.cancel()
            with contextlib.suppress(BaseException):
                await taking
