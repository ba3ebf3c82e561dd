"""A batch's items grouped per engine, in their order, into bounded groups.

Both stages send one message per engine and batch rather than one per input:
Faust and the archiver pay mostly per message, not per byte.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Generic, TypeVar

from agents.records import Message
from enginewatch.core.points import Origin

T = TypeVar("T")


@dataclass(slots=True)
class _Group(Generic[T]):
    entries: list[tuple[Origin, T]] = field(default_factory=list)
    input_bytes: int = 0


class EngineGroups(Generic[T]):
    """One batch's items, grouped per engine in their order.

    An engine's group is closed, and a new one begun, when it holds
    `max_inputs` items or the input behind it would pass `max_input_bytes`.
    `messages` returns an engine's groups in order, so, sent keyed by engine,
    they stay in order on its partition.
    """

    def __init__(self, max_inputs: int, max_input_bytes: int) -> None:
        self.max_inputs = max_inputs
        self.max_input_bytes = max_input_bytes
        self._open: dict[str, _Group[T]] = {}
        self._closed: list[tuple[str, _Group[T]]] = []

    def add(self, engine: str, origin: Origin, item: T, input_bytes: int) -> None:
        group = self._open.get(engine)
        if group is not None and (
            len(group.entries) == self.max_inputs
            or group.input_bytes + input_bytes > self.max_input_bytes
        ):
            self._closed.append((engine, group))
            group = None
        if group is None:
            group = self._open[engine] = _Group()
        group.entries.append((origin, item))
        group.input_bytes += input_bytes

    def groups(self) -> list[tuple[str, list[tuple[Origin, T]]]]:
        """Each group's engine and entries, an engine's groups in order."""
        return [(engine, group.entries) for engine, group in [*self._closed, *self._open.items()]]

    def messages(self, encode: Callable[[str, list[tuple[Origin, T]]], Message]) -> list[Message]:
        return [encode(engine, entries) for engine, entries in self.groups()]
