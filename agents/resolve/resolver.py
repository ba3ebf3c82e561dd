"""The current engine -> model mapping, merged from its sources and kept fresh.

Precedence: the map file over Composer over Connect. Each source is refreshed
on a timer; a failed source is retried with backoff while its last good
mapping stays in use, or, refused for a setting to fix (an untrusted
certificate, a refused token), at the next interval only. An engine nobody
knows yet is `unknown`, and asks for an early (rate-limited) refresh. HTTP
runs in a thread, off the event loop.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from functools import partial

from agents.resolve.sources import (
    SourceError,
    SourceSession,
    fetch_composer,
    fetch_connect,
    read_map_file,
)
from enginewatch.core.points import tag_value_problem
from enginewatch.core.settings import ResolveConfig

log = logging.getLogger(__name__)

UNKNOWN = "unknown"
# Sources from the lowest precedence to the highest.
PRECEDENCE = ("connect", "composer", "map-file")
BACKOFF_FIRST = 1.0


@dataclass(frozen=True, slots=True)
class Entry:
    model: str
    source: str


# A source's fetch function is given the source's last good mapping, so a
# partial failure can keep what it could not refresh.
Fetcher = Callable[[Mapping[str, str]], dict[str, str]]


@dataclass
class _SourceState:
    fetch: Fetcher
    last_good: dict[str, str] = field(default_factory=dict)
    failures: int = 0
    next_try: float = 0.0
    error: str | None = None
    lasting: bool = False  # the error is a setting to fix (SourceError.lasting)


class Resolver:
    """Engine UUID -> model name, from the sources the settings name."""

    def __init__(
        self,
        fetchers: dict[str, Fetcher],
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
        # When every source was last asked: an unknown engine asks again at
        # most every unknown_interval after that.
        self._last_full_refresh: float | None = None
        self._unknown_seen = False

    @property
    def entries(self) -> dict[str, Entry]:
        return self._entries

    @property
    def errors(self) -> dict[str, str]:
        """The sources whose last attempt failed, with why."""
        return {name: s.error for name, s in self._sources.items() if s.error is not None}

    @property
    def lasting_errors(self) -> dict[str, str]:
        """The failed sources that a setting must fix (a certificate, a token)."""
        return {n: e for n, e in self.errors.items() if self._sources[n].lasting}

    def model_for(self, engine: str) -> str:
        entry = self._entries.get(engine)
        if entry is None:
            self._unknown_seen = True
            return UNKNOWN
        return entry.model

    def refresh(self, log_failures: bool = True) -> None:
        """Ask every source that is due; blocking, so call it off the event loop.

        A source is due at its next refresh time (after the interval, or after
        its backoff when it failed); while an unknown engine waits for a name,
        every healthy source is due too. `log_failures=False` is for a caller
        that reports `errors` itself.
        """
        now = self._clock()
        for_unknown = self._unknown_wanted(now)
        asked_all = True
        for name, state in self._sources.items():
            if now < state.next_try and not (for_unknown and state.error is None):
                asked_all = False
                continue
            try:
                state.last_good = state.fetch(state.last_good)
            except SourceError as exc:
                state.failures += 1
                state.error, state.lasting = str(exc), exc.lasting
                delay = self._retry_delay(state.failures, exc)
                state.next_try = now + delay
                if log_failures:
                    log.log(
                        logging.ERROR if exc.lasting else logging.WARNING,
                        "model source %s failed (keeping %d last good entries, retry in %.0fs): %s",
                        name,
                        len(state.last_good),
                        delay,
                        exc,
                    )
            else:
                state.failures, state.error, state.next_try = 0, None, now + self.interval
                state.lasting = False
        self._entries = self._merge()  # one assignment: readers see the old or the new map
        if for_unknown or asked_all:
            self._last_full_refresh = now
            self._unknown_seen = False

    def _retry_delay(self, failures: int, exc: SourceError) -> float:
        """Backoff for an outage; the full interval for a setting to fix, which
        asking again sooner would only repeat in the log."""
        if exc.lasting:
            return self.interval
        backoff: float = BACKOFF_FIRST * 2 ** (failures - 1)
        return min(self.interval, backoff)

    def _merge(self) -> dict[str, Entry]:
        merged: dict[str, Entry] = {}
        for name, state in self._sources.items():
            for uuid, model in state.last_good.items():
                problem = tag_value_problem(model)
                if problem is None:
                    merged[uuid] = Entry(model, name)
                else:
                    log.warning("source %s: model name of %s %s; ignored", name, uuid, problem)
        return merged

    def _unknown_wanted(self, now: float) -> bool:
        return self._unknown_seen and (
            self._last_full_refresh is None
            or now - self._last_full_refresh >= self.unknown_interval
        )

    def refresh_due(self) -> bool:
        now = self._clock()
        return bool(self._sources) and (
            self._unknown_wanted(now) or any(now >= s.next_try for s in self._sources.values())
        )

    async def keep_fresh(self, tick: float = 0.5) -> None:
        """Refresh whenever due, forever; the HTTP calls run in a thread."""
        while True:
            if self.refresh_due():
                await asyncio.to_thread(self.refresh)
            await asyncio.sleep(tick)


def resolver_from_config(
    settings: ResolveConfig, clock: Callable[[], float] = time.monotonic
) -> Resolver:
    """A resolver over the sources the settings configure (possibly none)."""
    fetchers: dict[str, Fetcher] = {}
    session = SourceSession(settings.resolve_ssl_cafile, settings.resolve_token)
    engine_map, composer_url, connect_url = (
        settings.engine_map,
        settings.composer_url,
        settings.connect_url,
    )
    timeout = settings.resolve_timeout
    if engine_map is not None:
        fetchers["map-file"] = lambda _previous: read_map_file(engine_map)
    if composer_url and settings.workflow_names:
        workflows = settings.workflow_names
        fetchers["composer"] = lambda _previous: fetch_composer(
            session, composer_url, workflows, timeout
        )
    if connect_url:
        fetchers["connect"] = partial(fetch_connect, session, connect_url, timeout)
    return Resolver(fetchers, interval=settings.resolve_interval, clock=clock)
