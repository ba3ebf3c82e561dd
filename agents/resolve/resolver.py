"""The current engine -> model mapping, merged from its sources and kept fresh.

Precedence: the map file over Composer over Connect. Each source is refreshed
on a timer; a failed source is retried with backoff while its last good
mapping stays in use. An engine nobody knows yet is `unknown`, and asks for
an early (rate-limited) refresh. HTTP runs in a thread, off the event loop.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from functools import partial

import requests

from agents.resolve.sources import SourceError, fetch_composer, fetch_connect, read_map_file
from enginewatch.settings import Settings

log = logging.getLogger(__name__)

UNKNOWN = "unknown"
# Sources from the lowest precedence to the highest.
PRECEDENCE = ("connect", "composer", "map-file")
BACKOFF_FIRST = 1.0


@dataclass(frozen=True, slots=True)
class Entry:
    model: str
    source: str


@dataclass
class _SourceState:
    fetch: Callable[[], dict[str, str]]
    last_good: dict[str, str] = field(default_factory=dict)
    failures: int = 0
    next_try: float = 0.0
    error: str | None = None


class Resolver:
    """Engine UUID -> model name, from the sources the settings name."""

    def __init__(
        self,
        fetchers: dict[str, Callable[[], dict[str, str]]],
        interval: float = 60.0,
        unknown_interval: float = 5.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        unknown_names = set(fetchers) - set(PRECEDENCE)
        if unknown_names:
            raise ValueError(f"unknown sources: {sorted(unknown_names)}")
        self._sources = {
            name: _SourceState(fetchers[name]) for name in PRECEDENCE if name in fetchers
        }
        self.interval = interval
        self.unknown_interval = unknown_interval
        self._clock = clock
        self._entries: dict[str, Entry] = {}
        self._last_refresh: float | None = None
        self._unknown_seen = False

    @property
    def entries(self) -> dict[str, Entry]:
        return self._entries

    @property
    def errors(self) -> dict[str, str]:
        """The sources whose last attempt failed, with why."""
        return {name: s.error for name, s in self._sources.items() if s.error is not None}

    def model_for(self, engine: str) -> str:
        entry = self._entries.get(engine)
        if entry is None:
            self._unknown_seen = True
            return UNKNOWN
        return entry.model

    def refresh(self) -> None:
        """Ask every source that is due; blocking, so call it off the event loop."""
        now = self._clock()
        for name, state in self._sources.items():
            if now < state.next_try:
                continue
            try:
                state.last_good = state.fetch()
            except SourceError as exc:
                state.failures += 1
                state.error = str(exc)
                delay = min(self.interval, BACKOFF_FIRST * 2 ** (state.failures - 1))
                state.next_try = now + delay
                log.warning(
                    "model source %s failed (keeping %d last good entries, retry in %.0fs): %s",
                    name,
                    len(state.last_good),
                    delay,
                    exc,
                )
            else:
                state.failures, state.error, state.next_try = 0, None, 0.0
        merged: dict[str, Entry] = {}
        for name, state in self._sources.items():
            merged.update((uuid, Entry(model, name)) for uuid, model in state.last_good.items())
        self._entries = merged  # one assignment: readers see the old or the new map
        self._last_refresh = now
        self._unknown_seen = False

    def refresh_due(self) -> bool:
        if not self._sources:
            return False
        if self._last_refresh is None:
            return True
        since = self._clock() - self._last_refresh
        retrying = any(
            s.error is not None and self._clock() >= s.next_try for s in self._sources.values()
        )
        return (
            since >= self.interval
            or (self._unknown_seen and since >= self.unknown_interval)
            or (retrying and since >= BACKOFF_FIRST)
        )

    async def keep_fresh(self, tick: float = 0.5) -> None:
        """Refresh whenever due, forever; the HTTP calls run in a thread."""
        while True:
            if self.refresh_due():
                await asyncio.to_thread(self.refresh)
            await asyncio.sleep(tick)


def resolver_from_settings(
    settings: Settings, clock: Callable[[], float] = time.monotonic
) -> Resolver:
    """A resolver over the sources the settings configure (possibly none)."""
    fetchers: dict[str, Callable[[], dict[str, str]]] = {}
    session = requests.Session()
    if settings.engine_map is not None:
        fetchers["map-file"] = partial(read_map_file, settings.engine_map)
    if settings.composer_url and settings.workflow_names:
        fetchers["composer"] = partial(
            fetch_composer,
            session,
            settings.composer_url,
            settings.workflow_names,
            settings.resolve_timeout,
        )
    if settings.connect_url:
        fetchers["connect"] = partial(
            fetch_connect, session, settings.connect_url, settings.resolve_timeout
        )
    return Resolver(fetchers, interval=settings.resolve_interval, clock=clock)
