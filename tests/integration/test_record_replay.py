"""record -> replay round trips on the real broker: byte for byte, invalid lines included."""

from __future__ import annotations

import contextlib
import os
import pty
import subprocess
import time
from collections.abc import Callable
from pathlib import Path

import orjson
import pytest

from enginewatch.core.deadletters import original_value
from enginewatch.harness.kafka import consume, create_topic, produce
from enginewatch.harness.kafka import partitions as topic_partitions
from enginewatch.harness.processes import Process as Worker
from enginewatch.harness.processes import enginewatch_command, run_enginewatch
from tests.support.services import ROOT, base_env

Unique = Callable[[str], str]

RECORDINGS = Path(__file__).resolve().parents[1] / "recordings"
# Valid messages and everything a topic may hold that is not one.
INVALID = RECORDINGS / "invalid-lines.jsonl"
LINES = INVALID.read_bytes().split(b"\n")[:-1]


def enginewatch(
    *args: str, env: dict[str, str], timeout: float = 120
) -> subprocess.CompletedProcess[str]:
    return run_enginewatch(*args, env=env, cwd=ROOT, timeout=timeout)


@pytest.mark.parametrize("recording", sorted(RECORDINGS.glob("*.jsonl")), ids=lambda p: p.name)
def test_round_trip_is_byte_exact(recording: Path, tmp_path: Path, unique: Unique) -> None:
    """Every recording of tests/recordings, replayed and recorded again, is the same file."""
    env = base_env(unique("app"))
    topic = unique("rt")
    original = recording.read_bytes()
    lines = original.split(b"\n")
    if lines[-1] == b"":
        lines.pop()  # the line feed ending the last line
    else:
        original += b"\n"  # a recording always ends its last line

    replay = enginewatch("replay", str(recording), "--topic", topic, env=env)
    assert replay.returncode == 0, replay.stderr
    assert f"replayed {len(lines):,} message(s)" in replay.stderr

    out = tmp_path / "out.jsonl"
    record = enginewatch(
        "record", topic, str(out), "--from", "beginning", "--count", str(len(lines)), env=env
    )
    assert record.returncode == 0, record.stderr
    assert out.read_bytes() == original
    # What went over the wire is the lines themselves, unkeyed, in order.
    records = consume(topic, len(lines))
    assert [r.value for r in records] == lines
    assert {r.key for r in records} == {None}


def test_replay_twice_and_record_until_idle(tmp_path: Path, unique: Unique) -> None:
    """A recording without a final line feed, replayed twice, records as twice its lines."""
    env = base_env(unique("app"))
    topic = unique("idle")
    (tmp_path / "in.jsonl").write_bytes(b"\n".join(LINES))  # no line feed at the end
    for _ in range(2):
        assert (
            enginewatch("replay", str(tmp_path / "in.jsonl"), "--topic", topic, env=env).returncode
            == 0
        )

    record = enginewatch(
        "record", topic, str(tmp_path / "out.jsonl"), "--from", "beginning",
        "--idle-timeout", "3", env=env,
    )  # fmt: skip
    assert record.returncode == 0, record.stderr
    assert (tmp_path / "out.jsonl").read_bytes() == b"".join(line + b"\n" for line in LINES * 2)


def test_key_src_keys_by_engine_and_null_when_unparsable(tmp_path: Path, unique: Unique) -> None:
    env = base_env(unique("app"))
    topic = unique("keys")
    replay = enginewatch(
        "replay", str(INVALID), "--topic", topic, "--key", "src",
        "--partitions", "3", env=env,
    )  # fmt: skip
    assert replay.returncode == 0, replay.stderr

    records = consume(topic, len(LINES), settle=1.0)
    assert topic_partitions(topic) == [0, 1, 2]  # created as asked
    keys = {r.value: r.key for r in records}
    assert len(records) == len(LINES)
    assert keys == {
        LINES[0]: b"e-1",
        LINES[1]: None,
        LINES[2]: None,
        LINES[3]: None,
        LINES[4]: b"e-2",
        LINES[5]: None,
        LINES[6]: None,  # src is not a string
        LINES[7]: b"e-1",
        LINES[8]: None,
        LINES[9]: None,
    }
    # One engine, one partition: its messages stay in order.
    e1 = [r for r in records if r.key == b"e-1"]
    assert len({r.partition for r in e1}) == 1
    assert [r.value for r in e1] == [LINES[0], LINES[7]]


def test_fleet_recording_keyed_in_original_timing(unique: Unique) -> None:
    """Keyed by engine, every engine's notifications keep their order, whatever the partition."""
    env = base_env(unique("app"))
    topic = unique("fleet")
    lines = (RECORDINGS / "fleet-3-engines.jsonl").read_bytes().splitlines()
    replay = enginewatch(
        "replay", str(RECORDINGS / "fleet-3-engines.jsonl"), "--topic", topic, "--key", "src",
        "--timing", "original", "--speed", "50", "--partitions", "3", env=env,
    )  # fmt: skip
    assert replay.returncode == 0, replay.stderr
    records = consume(topic, len(lines), settle=1.0)
    assert sorted(r.value or b"" for r in records) == sorted(lines)
    for src in {orjson.loads(line)["src"] for line in lines}:
        mine = [r for r in records if r.key == src.encode()]
        assert len({r.partition for r in mine}) == 1
        assert [r.value for r in mine] == [v for v in lines if orjson.loads(v)["src"] == src]


def test_existing_topic_keeps_its_partitions(tmp_path: Path, unique: Unique) -> None:
    env = base_env(unique("app"))
    topic = unique("existing")
    create_topic(topic, partitions=2)
    replay = enginewatch("replay", str(INVALID), "--topic", topic, "--partitions", "5", env=env)
    assert replay.returncode == 0, replay.stderr
    assert "exists with 2 partition(s)" in replay.stderr


def test_original_timing_and_fixed_rate_send_everything_in_order(
    tmp_path: Path, unique: Unique
) -> None:
    env = base_env(unique("app"))
    for name, args in (
        ("timing", ["--timing", "original", "--speed", "4"]),
        ("rate", ["--rate", "200"]),
    ):
        topic = unique(name)
        replay = enginewatch("replay", str(INVALID), "--topic", topic, *args, env=env)
        assert replay.returncode == 0, replay.stderr
        assert [r.value for r in consume(topic, len(LINES))] == LINES


def test_values_a_line_cannot_hold_are_kept_aside(tmp_path: Path, unique: Unique) -> None:
    env = base_env(unique("app"))
    topic = unique("aside")
    create_topic(topic)
    values: list[bytes | None] = [b'{"a": 1}', b'{\n  "pretty": true\n}', None, b"last"]
    produce(topic, values, keys=[b"k"] * len(values))  # a tombstone needs a key

    out = tmp_path / "out.jsonl"
    record = enginewatch(
        "record",
        topic,
        str(out),
        "--from",
        "beginning",
        "--count",
        "2",
        "--idle-timeout",
        "5",
        env=env,
    )
    assert record.returncode == 1
    assert "2 value(s) cannot be held by a line" in record.stderr
    assert out.read_bytes() == b'{"a": 1}\nlast\n'
    aside = [
        orjson.loads(line)
        for line in (tmp_path / "out.jsonl.unrecorded.jsonl").read_bytes().splitlines()
    ]
    assert [original_value(m) for m in aside] == [values[1], None]
    assert [(m["topic"], m["partition"], m["offset"]) for m in aside] == [
        (topic, 0, 1),
        (topic, 0, 2),
    ]
    assert all(m["stage"] == "record" and m["error"] for m in aside)


def test_record_from_now_skips_what_was_there(
    tmp_path: Path, unique: Unique, workers: Callable[..., Worker]
) -> None:
    env = base_env(unique("app"))
    topic = unique("now")
    create_topic(topic)
    produce(topic, [b"old-1", b"old-2"])
    out = tmp_path / "out.jsonl"
    recorder = workers(["record", topic, str(out), "--count", "3"], env, name="record")
    deadline = time.monotonic() + 60
    while "recording" not in recorder.log() and time.monotonic() < deadline:
        time.sleep(0.2)
    assert "recording" in recorder.log()
    produce(topic, [b"new-1", b"new-2", b"new-3", b"new-4"])
    assert recorder.wait(60) == 0
    assert out.read_bytes() == b"new-1\nnew-2\nnew-3\n"


def test_a_line_too_large_is_reported_and_the_rest_sent(tmp_path: Path, unique: Unique) -> None:
    env = base_env(unique("app"))
    topic = unique("large")
    lines = [b'{"src": "a"}', b'{"src": "b", "x": "' + b"y" * 2_000_000 + b'"}', b'{"src": "c"}']
    (tmp_path / "in.jsonl").write_bytes(b"".join(line + b"\n" for line in lines))
    replay = enginewatch("replay", str(tmp_path / "in.jsonl"), "--topic", topic, env=env)
    assert replay.returncode == 1
    assert "in.jsonl:2 not sent: MessageSizeTooLargeError" in replay.stderr
    assert "replayed 2 message(s)" in replay.stderr
    assert "1 could not be sent" in replay.stderr
    assert [r.value for r in consume(topic, 2, settle=1.0)] == [lines[0], lines[2]]


def test_progress_on_a_terminal_only(unique: Unique) -> None:
    env = base_env(unique("app"))
    recording = RECORDINGS / "fleet-3-engines.jsonl"
    total = len(recording.read_bytes().splitlines())
    quiet = enginewatch("replay", str(recording), "--topic", unique("quiet"), env=env)
    assert quiet.returncode == 0
    assert "msgs" not in quiet.stderr

    main, terminal = pty.openpty()
    try:
        process = subprocess.run(
            [*enginewatch_command(), "replay", str(recording), "--topic", unique("tty")],
            env={**os.environ, **env},
            cwd=ROOT,
            stdout=subprocess.DEVNULL,
            stderr=terminal,
            timeout=120,
            check=False,
        )
        os.close(terminal)
        shown = b""
        with contextlib.suppress(OSError):  # EIO: the terminal's other end is closed
            while chunk := os.read(main, 65536):
                shown += chunk
    finally:
        os.close(main)
    assert process.returncode == 0
    assert f"{total}/{total} msgs".encode() in shown
    assert b"ETA 0:00" in shown


def test_clear_errors(tmp_path: Path, unique: Unique) -> None:
    env = base_env(unique("app"))
    missing = enginewatch("replay", str(tmp_path / "nope.jsonl"), "--topic", unique("x"), env=env)
    assert missing.returncode == 2
    assert "cannot read" in missing.stderr
    no_topic = enginewatch(
        "record", unique("absent"), str(tmp_path / "o.jsonl"), "--count", "1", env=env
    )
    assert no_topic.returncode == 2
    assert "no such topic" in no_topic.stderr
    assert not (tmp_path / "o.jsonl").exists()
    both = enginewatch(
        "replay",
        str(tmp_path / "nope.jsonl"),
        "--topic",
        "t",
        "--rate",
        "5",
        "--timing",
        "original",
        env=env,
    )
    assert both.returncode == 2
    assert "not allowed with" in both.stderr
