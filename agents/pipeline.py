"""One input message value -> its points, or its dead-letter reason.

`handle` parses, resolves and derives (for the derive stage); `engine_of` only
parses, which checks the whole message (for the route stage).

The carried amounts live in any mutable mapping keyed by engine: a dict in
tests, the agents' Faust table in production. Values are replaced, never
mutated in place, so a changelog-backed table records every change.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, MutableMapping
from dataclasses import dataclass, replace

from agents.derive import Carried, Derived, derive
from agents.messages import InvalidMessage, Message, OtherMessage, parse
from enginewatch.core.points import Point
from enginewatch.core.settings import UnknownTypes

log = logging.getLogger(__name__)

CarryStore = MutableMapping[str, dict[str, float]]


@dataclass(frozen=True, slots=True)
class Accepted:
    engine: str
    points: list[Point]


@dataclass(frozen=True, slots=True)
class Rejected:
    reason: str


Outcome = Accepted | Rejected


def parse_input(raw: bytes | None, unknown: UnknownTypes = "count") -> Message | Rejected:
    """The valid message a value holds, or why it is invalid.

    A well-formed message of a type the contract does not name is counted, a
    dead letter or ignored, as `unknown` (ENGINEWATCH_UNKNOWN_TYPES) says.
    """
    try:
        message = parse(raw)
    except InvalidMessage as exc:
        return Rejected(str(exc))
    except Exception as exc:  # a bug must cost one dead letter, never the message
        return _unexpected(exc)
    if isinstance(message, OtherMessage) and unknown != "count":
        if unknown == "dead-letter":
            return Rejected(f"unknown message type {message.type!r}")
        return replace(message, counted=False)
    return message


def derive_input(
    message: Message, model_of: Callable[[str], str], carried: Carried
) -> Derived | Rejected:
    """A valid message's points and new carried amounts, or why they overflow."""
    try:
        return derive(message, model_of(message.src), carried)
    except InvalidMessage as exc:
        return Rejected(str(exc))
    except Exception as exc:  # a bug must cost one dead letter, never the message
        return _unexpected(exc)


def handle(
    raw: bytes | None,
    model_of: Callable[[str], str],
    carry: CarryStore,
    unknown: UnknownTypes = "count",
) -> Outcome:
    """Parse, resolve and derive one message value, keeping its carried amounts in `carry`."""
    message = parse_input(raw, unknown)
    if isinstance(message, Rejected):
        return message
    derived = derive_input(message, model_of, carry.get(message.src) or {})
    if isinstance(derived, Rejected):
        return derived
    if derived.carried is not None:
        carry[message.src] = derived.carried
    return Accepted(message.src, derived.points)


def engine_of(raw: bytes | None, unknown: UnknownTypes = "count") -> str | Rejected:
    """The engine a valid message comes from, or why the message is invalid.

    Used before repartitioning, so bad input is dead-lettered at the edge and
    only valid messages take the extra hop. `parse` checks all a message
    holds, so this rejects exactly what `handle` rejects with nothing carried.
    """
    message = parse_input(raw, unknown)
    return message if isinstance(message, Rejected) else message.src


def _unexpected(exc: Exception) -> Rejected:
    log.exception("unexpected error while processing a message; it goes to the dead letters")
    return Rejected(f"unexpected error: {type(exc).__name__}: {exc}")
