"""The file sink: rotation by size and age, complete files only, recovery after a kill."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from archiver.filesink import FileSink, complete_part_file
from archiver.sink import Unavailable


class Clock:
    def __init__(self) -> None:
        self.seconds = 0.0
        self.wall = datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC)

    def monotonic(self) -> float:
        return self.seconds

    def now(self) -> datetime:
        return self.wall

    def advance(self, seconds: float) -> None:
        self.seconds += seconds
        self.wall += timedelta(seconds=seconds)


def sink(directory: Path, clock: Clock, max_bytes: int = 1000, max_seconds: float = 60) -> FileSink:
    return FileSink(directory, max_bytes, max_seconds, clock=clock.monotonic, now=clock.now)


def run(coroutine: object) -> None:
    asyncio.run(coroutine)  # type: ignore[arg-type]


def test_bodies_are_appended_to_one_part_file_then_completed(tmp_path: Path) -> None:
    clock = Clock()
    files = sink(tmp_path, clock)
    run(files.check())
    run(files.write(b"m f=1.0 1\n"))
    run(files.write(b"m f=2.0 2\n"))
    (part,) = tmp_path.iterdir()
    assert part.name == "archive-20260102T030405.000000Z.lp.part"
    assert part.read_bytes() == b"m f=1.0 1\nm f=2.0 2\n"
    run(files.close())
    assert [p.name for p in tmp_path.iterdir()] == ["archive-20260102T030405.000000Z.lp"]


def test_rotates_by_size(tmp_path: Path) -> None:
    clock = Clock()
    files = sink(tmp_path, clock, max_bytes=25)
    for i in range(5):
        clock.advance(1)
        run(files.write(f"m f={i}.0 {i}\n".encode()))  # 10 bytes each
    run(files.close())
    contents = [p.read_bytes() for p in sorted(tmp_path.iterdir())]
    assert contents == [b"m f=0.0 0\nm f=1.0 1\n", b"m f=2.0 2\nm f=3.0 3\n", b"m f=4.0 4\n"]


def test_a_body_larger_than_the_limit_still_gets_written(tmp_path: Path) -> None:
    files = sink(tmp_path, Clock(), max_bytes=5)
    run(files.write(b"m f=1.0 1\n"))
    run(files.close())
    assert [p.read_bytes() for p in tmp_path.iterdir()] == [b"m f=1.0 1\n"]


def test_rotates_by_age(tmp_path: Path) -> None:
    clock = Clock()
    files = sink(tmp_path, clock, max_seconds=60)
    run(files.write(b"a f=1.0 1\n"))
    clock.advance(59)
    run(files.write(b"b f=1.0 1\n"))
    clock.advance(1)
    run(files.write(b"c f=1.0 1\n"))
    names = sorted(p.name for p in tmp_path.iterdir())
    assert names == [
        "archive-20260102T030405.000000Z.lp",
        "archive-20260102T030505.000000Z.lp.part",
    ]
    assert (tmp_path / names[0]).read_bytes() == b"a f=1.0 1\nb f=1.0 1\n"


def test_names_stay_unique_within_one_clock_tick(tmp_path: Path) -> None:
    files = sink(tmp_path, Clock(), max_bytes=1)
    for _ in range(3):
        run(files.write(b"m f=1.0 1\n"))
    run(files.close())
    assert sorted(p.name for p in tmp_path.iterdir()) == [
        "archive-20260102T030405.000000Z-1.lp",
        "archive-20260102T030405.000000Z-2.lp",
        "archive-20260102T030405.000000Z.lp",
    ]


def test_leftovers_of_a_kill_are_cut_after_the_last_line_and_completed(tmp_path: Path) -> None:
    torn = tmp_path / "archive-20260101T000000.000000Z.lp.part"
    torn.write_bytes(b"m f=1.0 1\nm f=2.0 2\nm f=3")
    empty = tmp_path / "archive-20260101T000001.000000Z.lp.part"
    empty.write_bytes(b"m f=")
    run(sink(tmp_path, Clock()).check())
    assert [p.name for p in tmp_path.iterdir()] == ["archive-20260101T000000.000000Z.lp"]
    assert (tmp_path / "archive-20260101T000000.000000Z.lp").read_bytes() == (
        b"m f=1.0 1\nm f=2.0 2\n"
    )


def test_complete_part_file_keeps_a_whole_file_as_it_is(tmp_path: Path) -> None:
    whole = tmp_path / "x.lp.part"
    whole.write_bytes(b"m f=1.0 1\n")
    complete_part_file(whole)
    assert (tmp_path / "x.lp").read_bytes() == b"m f=1.0 1\n"


def test_check_creates_the_directory(tmp_path: Path) -> None:
    run(sink(tmp_path / "a" / "b", Clock()).check())
    assert (tmp_path / "a" / "b").is_dir()


def test_a_write_that_fails_is_unavailable_and_can_be_retried(tmp_path: Path) -> None:
    files = sink(tmp_path / "missing", Clock())
    with pytest.raises(Unavailable, match="missing"):
        run(files.write(b"m f=1.0 1\n"))
    (tmp_path / "missing").mkdir()
    run(files.write(b"m f=1.0 1\n"))
    run(files.close())
    assert [p.read_bytes() for p in (tmp_path / "missing").iterdir()] == [b"m f=1.0 1\n"]
