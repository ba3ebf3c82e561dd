"""`enginewatch monitors [FAUST WORKER OPTIONS]`: run the monitors worker.
`enginewatch monitors check [FILE]`: check a monitors file and list its monitors.

The worker needs ENGINEWATCH_MONITORS; a wrong monitor (or a reference file
it cannot read) stops its start with one line naming the file, the monitor
and the field (exit 2). `check` exits 0 when the file is good, 1 when it is
not, 2 when no file is named.
"""

from __future__ import annotations

import argparse
import logging
import sys
from pathlib import Path
from typing import Any

from enginewatch.core.configfile import format_duration
from enginewatch.core.faustapp import (
    TopicSpec,
    accept_worker_options,
    ensure_topics,
    ensure_worker_topics,
    run_worker,
)
from enginewatch.core.kafka import ToolError
from enginewatch.core.settings import Settings, load_settings
from monitors.app import create_monitors_app, observations_topic
from monitors.config import Monitor, Monitors, MonitorsError, load_monitors
from monitors.reference import References, load_references
from monitors.state import MONITOR_STATES_TABLE

PROG = "enginewatch monitors"

logger = logging.getLogger(__name__)


def configure(parser: argparse.ArgumentParser) -> None:
    # As `enginewatch alerts`: Faust's worker options pass through untouched, so
    # `check` is found among the words after them and parsed by its own parser.
    parser.add_argument(
        "words",
        nargs=argparse.REMAINDER,
        metavar="check [FILE]",
        help="check a monitors file and list its monitors (default: ENGINEWATCH_MONITORS), "
        "instead of running the worker",
    )
    accept_worker_options(parser)
    parser.usage = f"{PROG} [FAUST WORKER OPTIONS] | {PROG} check [FILE]"
    parser.description = (
        "Run the monitors worker: the data profiles, drift and prediction quality of the "
        "monitors of ENGINEWATCH_MONITORS, as points on the archive topic. `check` checks a "
        "monitors file."
    )


def check_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog=f"{PROG} check",
        description="Check a monitors file and list its monitors: exit 0 when it is good, "
        "1 (with one line saying what is wrong) when it is not.",
    )
    parser.add_argument("file", nargs="?", type=Path, metavar="FILE", help="a monitors file")
    return parser


def run(args: argparse.Namespace) -> int:
    words = list(args.words)
    if words[:1] == ["check"]:
        if args.extra:
            print(f"{PROG} check: unrecognized arguments: {' '.join(args.extra)}", file=sys.stderr)
            return 2
        options = check_parser().parse_args(words[1:])
        return check(options.file or load_settings().monitors.monitors)
    settings = load_settings()
    path = settings.monitors.monitors
    if path is None:
        print(f"{PROG}: ENGINEWATCH_MONITORS is not set: name a monitors file", file=sys.stderr)
        return 2
    try:
        monitors = load_monitors(path)
        references = load_references(monitors)
    except MonitorsError as exc:
        print(f"{PROG}: {exc}", file=sys.stderr)
        return 2
    try:
        app, problem = _prepare(settings, monitors, references)
    except ToolError as exc:
        print(f"{PROG}: {exc}", file=sys.stderr)
        return 1
    if problem:
        print(f"{PROG}: {problem}", file=sys.stderr)
        return 2
    logger.info("running %d monitor(s) of %s", len(monitors), path)
    run_worker(app, PROG, [*args.extra, *words])


def _prepare(
    settings: Settings, monitors: Monitors, references: References
) -> tuple[Any, str | None]:
    """The app, once every topic it uses is there; or why it cannot run. The
    table must have the observations topic's partition count, whatever created
    the topic: so that topic is made ready first, and its count sizes the table."""
    internal = observations_topic(settings.kafka.app_id)
    partitions = ensure_topics(settings.kafka, {internal: TopicSpec(settings.topics.partitions)})[
        internal
    ]
    app = create_monitors_app(settings, monitors, references, partitions)
    counts = ensure_worker_topics(app, settings.kafka, settings.topics)
    changelog = f"{app.conf.id}-{MONITOR_STATES_TABLE}-changelog"
    if counts[changelog] != partitions:
        return app, (
            f"the table's changelog {changelog!r} has {counts[changelog]} partition(s), the "
            f"observations topic {internal!r} {partitions}; they must be equal (delete the "
            "changelog, and the monitors' states with it)"
        )
    return app, None


def check(path: Path | None) -> int:
    if path is None:
        print(f"{PROG} check: name a monitors file, or set ENGINEWATCH_MONITORS", file=sys.stderr)
        return 2
    try:
        monitors = load_monitors(path)
        load_references(monitors)
    except MonitorsError as exc:
        print(f"{PROG} check: {exc}", file=sys.stderr)
        return 1
    print(listing(monitors))
    return 0


def listing(monitors: Monitors) -> str:
    """The monitors, one line each: name, model, window, what it watches."""
    width = max(len(m.name) for m in monitors)
    lines = [f"{monitors.path}: {len(monitors)} monitor(s)"]
    for monitor in monitors:
        lines.append(f"  {monitor.name:<{width}}  model {monitor.model!r}, {describe(monitor)}")
    return "\n".join(lines)


def describe(monitor: Monitor) -> str:
    parts = [f"windows of {format_duration(monitor.window)}"]
    for stream in monitor.streams:
        parts.append(f"profiles {stream.topic} ({len(stream.fields)} field(s))")
    if monitor.drift is not None:
        ref = monitor.drift.reference
        parts.append(f"drift against {ref if isinstance(ref, str) else ref.model_dump()}")
    if monitor.quality is not None:
        q = monitor.quality
        parts.append(
            f"{q.task} quality of {q.prediction.topic} against {q.truth.topic} by {q.pairing}"
        )
    return ", ".join(parts)
