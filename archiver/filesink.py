"""The file sink: line protocol appended to files, rotated by size and by age.

The file being written is `archive-<opened, UTC>.lp.part`; at rotation it is
renamed to `.lp`, so whatever picks files up (`influx write`, a backup job)
only ever sees complete ones. Every batch is flushed and fsynced before the
batch's messages are acknowledged. A `.part` file left by a killed archiver is
completed at start-up: cut after its last whole line (a batch torn by the kill
is consumed and written again) and renamed. One directory per file archiver.
"""

from __future__ import annotations

import asyncio
import os
import time
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import BinaryIO

from archiver.sink import Unavailable

PART = ".part"
SUFFIX = ".lp"


class FileSink:
    """Appends line protocol bodies to rotating files in one directory."""

    def __init__(
        self,
        directory: Path,
        max_bytes: int,
        max_seconds: float,
        clock: Callable[[], float] = time.monotonic,
        now: Callable[[], datetime] = lambda: datetime.now(UTC),
    ) -> None:
        self.directory = directory
        self.max_bytes = max_bytes
        self.max_seconds = max_seconds
        self.clock = clock
        self.now = now
        self.description = f"files in {directory}"
        self._file: BinaryIO | None = None
        self._path: Path | None = None
        self._opened = 0.0
        self._size = 0

    async def check(self) -> None:
        """At start-up: the directory exists and leftovers of a kill are completed."""
        await asyncio.to_thread(self._recover)

    async def write(self, body: bytes) -> None:
        await asyncio.to_thread(self._write, body)

    async def close(self) -> None:
        await asyncio.to_thread(self._finish)

    def _write(self, body: bytes) -> None:
        try:
            if self._file is not None and self._rotation_due(len(body)):
                self._finish()
            if self._file is None:
                self._open()
            assert self._file is not None
            try:
                self._file.write(body)
                self._file.flush()
                os.fsync(self._file.fileno())
            except OSError:
                # Cut a torn body off, so the retry does not leave half a line behind.
                self._file.truncate(self._size)
                self._file.seek(self._size)
                raise
            self._size += len(body)
        except OSError as exc:
            raise Unavailable(f"cannot write to {self._path or self.directory}: {exc}") from None

    def _rotation_due(self, incoming: int) -> bool:
        too_big = self._size > 0 and self._size + incoming > self.max_bytes
        return too_big or self.clock() - self._opened >= self.max_seconds

    def _open(self) -> None:
        stamp = self.now().strftime("%Y%m%dT%H%M%S.%fZ")
        for attempt in range(1000):
            suffix = f"-{attempt}" if attempt else ""
            complete = self.directory / f"archive-{stamp}{suffix}{SUFFIX}"
            path = complete.with_name(complete.name + PART)
            if complete.exists():  # renaming onto it later would replace it
                continue
            try:
                self._file = path.open("xb")
            except FileExistsError:
                continue
            self._path, self._opened, self._size = path, self.clock(), 0
            return
        raise OSError(f"no free file name for {stamp} in {self.directory}")

    def _finish(self) -> None:
        if self._file is None or self._path is None:
            return
        self._file.close()
        self._path.rename(self._path.with_name(self._path.name.removesuffix(PART)))
        self._file, self._path = None, None

    def _recover(self) -> None:
        self.directory.mkdir(parents=True, exist_ok=True)
        for path in sorted(self.directory.glob(f"*{SUFFIX}{PART}")):
            complete_part_file(path)


def complete_part_file(path: Path) -> None:
    """Cut a `.part` file after its last whole line and rename it (drop it if empty)."""
    data = path.read_bytes()
    keep = data.rfind(b"\n") + 1
    if keep == 0:
        path.unlink()
        return
    if keep < len(data):
        with path.open("r+b") as file:
            file.truncate(keep)
            os.fsync(file.fileno())
    path.rename(path.with_name(path.name.removesuffix(PART)))
