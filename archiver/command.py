"""`enginewatch archiver [--sink influxdb|file|mlflow] [FAUST WORKER OPTIONS]`."""

from __future__ import annotations

import argparse
import asyncio
import sys
from collections.abc import Callable
from pathlib import Path

from archiver.app import create_archiver_app
from archiver.filesink import FileSink
from archiver.mlflowsink import MlflowSink
from archiver.mlflowsink import prepare as prepare_mlflow
from archiver.sink import ConfigurationError, Sink
from archiver.startup import make_sink, prepare
from enginewatch.core.faustapp import (
    accept_worker_options,
    ensure_worker_topics,
    run_worker,
)
from enginewatch.core.kafka import ToolError
from enginewatch.core.settings import Settings, load_settings

PROG = "enginewatch archiver"
# The file and MLflow sinks are independent archivers: each its own consumer
# group, its own pace.
ROLES = {"influxdb": "archiver", "file": "archiver-file", "mlflow": "archiver-mlflow"}


def configure(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--sink",
        choices=sorted(ROLES),
        default="influxdb",
        help=(
            "where the points go (default: influxdb, as ENGINEWATCH_INFLUX_* say; "
            "mlflow: chosen values as metrics, as ENGINEWATCH_MLFLOW_* say)"
        ),
    )
    parser.add_argument("--dir", type=Path, help="directory of the file sink")
    parser.add_argument(
        "--max-file-bytes",
        type=int,
        default=64 * 1024 * 1024,
        help="file sink: start a new file beyond this size (default: 64 MiB)",
    )
    parser.add_argument(
        "--max-file-seconds",
        type=float,
        default=3600.0,
        help="file sink: start a new file after this long (default: 3600)",
    )
    accept_worker_options(parser)


def run(args: argparse.Namespace) -> int:
    settings = load_settings()
    try:
        sink_factory = asyncio.run(_prepare(args, settings))
    except ConfigurationError as exc:
        print(f"{PROG}: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        return 130
    app = create_archiver_app(settings, ROLES[args.sink], sink_factory, args.sink)
    try:
        ensure_worker_topics(app, settings.kafka, settings.topics)
    except ToolError as exc:
        print(f"{PROG}: {exc}", file=sys.stderr)
        return 1
    run_worker(app, PROG, args.extra)


async def _prepare(args: argparse.Namespace, settings: Settings) -> Callable[[], Sink]:
    """Check the sink before consuming anything; return how to make it in Faust's loop."""
    if args.sink == "file":
        if args.dir is None:
            raise ConfigurationError("--sink file needs --dir DIR")
        if args.max_file_bytes < 1 or args.max_file_seconds <= 0:
            raise ConfigurationError("--max-file-bytes and --max-file-seconds must be above 0")

        def file_sink() -> Sink:
            return FileSink(args.dir, args.max_file_bytes, args.max_file_seconds)

        try:
            await file_sink().check()
        except OSError as exc:
            raise ConfigurationError(f"cannot use {args.dir}: {exc}") from None
        return file_sink

    retry_after_max = settings.retry.retry_after_max
    if args.sink == "mlflow":

        def mlflow_sink() -> Sink:
            return MlflowSink(settings.mlflow, settings.kafka.app_id, retry_after_max)

        await prepare_mlflow(mlflow_sink())
        return mlflow_sink

    api = await prepare(settings.influx, retry_after_max=retry_after_max)

    def influx_sink() -> Sink:
        return make_sink(api, settings.influx, retry_after_max)

    return influx_sink
