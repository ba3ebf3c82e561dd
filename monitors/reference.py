"""Reference files: a sample of records (a training set), profiled once at start.

A file is JSON Lines, one record per line as its stream carries them (objects,
or bare numbers and strings; blank lines are skipped), or one JSON list of
records. Each stream of the monitor profiles every record; the records need no
time. A record the stream cannot read stops the start with one line naming
the file, the monitor and the record: a reference is a sample somebody chose,
and a broken one would make every drift figure wrong.
"""

from __future__ import annotations

from pathlib import Path

import orjson

from monitors.config import FileReference, Monitor, Monitors, MonitorsError
from monitors.profile import Profile, add
from monitors.records import Reader, read
from monitors.state import fresh_profiles

References = dict[tuple[str, str], dict[str, Profile]]


def load_references(monitors: Monitors) -> References:
    """(monitor, stream) -> field -> the reference profile, for every monitor
    whose drift reference is a file."""
    references: References = {}
    for monitor in monitors:
        if monitor.drift is not None and isinstance(monitor.drift.reference, FileReference):
            path = monitor.drift.reference.file
            for stream, profiles in _profile_file(monitors.path, monitor, path).items():
                references[(monitor.name, stream)] = profiles
    return references


def _records(path: Path, where: str) -> list[bytes]:
    try:
        text = path.read_bytes()
    except OSError as exc:
        raise MonitorsError(f"{where}: cannot read: {exc}") from None
    if text.lstrip().startswith(b"["):
        try:
            items = orjson.loads(text)
        except orjson.JSONDecodeError as exc:
            raise MonitorsError(f"{where}: not a JSON list: {exc}") from None
        return [orjson.dumps(item) for item in items]
    return [line for line in text.splitlines() if line.strip()]


def _profile_file(file: str, monitor: Monitor, path: Path) -> dict[str, dict[str, Profile]]:
    where = f"{file}: monitor {monitor.name!r}: drift.reference.file {str(path)!r}"
    timeless = monitor.model_copy(update={"time": None})
    records = _records(path, where)
    if not records:
        raise MonitorsError(f"{where}: holds no record")
    result: dict[str, dict[str, Profile]] = {}
    for spec in monitor.streams:
        reader = Reader(timeless, "s", stream=spec)
        profiles = fresh_profiles({n: f.type for n, f in spec.fields.items()})
        for number, raw in enumerate(records, start=1):
            reading = read([reader], ("reference", 0, number), 0, raw)
            (_, observation), *_ = reading.observations
            if observation.get("z") or observation.get("bad"):
                raise MonitorsError(f"{where}: record {number}: {'; '.join(reading.problems)}")
            for name, value in observation["v"].items():
                add(profiles[name], value)
            for name in observation["miss"]:
                profiles[name].missing += 1
        result[spec.stream] = profiles
    return result
