"""The Faust app settings every enginewatch worker shares."""

from __future__ import annotations

import sys
from collections.abc import Sequence
from typing import Any, NoReturn

import faust

from enginewatch.settings import Settings


def create_faust_app(settings: Settings, role: str, **overrides: Any) -> faust.App:
    """A Faust app named `{app_id}-{role}`: its consumer group and internal topics
    carry that name, so two deployments (or two sinks) on one broker stay apart."""
    options: dict[str, Any] = {
        "broker": settings.broker,
        # Tables are recovered from their changelog topics: no local store to lose.
        "store": "memory://",
        "topic_replication_factor": 1,
        "consumer_auto_offset_reset": "earliest",
        # Faust's web server is off unless asked for (--web-port), so several
        # workers run side by side on one host without port clashes.
        "web_enabled": False,
        "autodiscover": False,
    }
    options.update(overrides)
    return faust.App(f"{settings.app_id}-{role}", **options)


def run_worker(app: faust.App, prog: str, worker_args: Sequence[str]) -> NoReturn:
    """Run `faust worker` for the app, passing Faust's own worker options through."""
    args = list(worker_args)
    wants_web = any(arg in ("--with-web", "-p") or arg.startswith("--web-port") for arg in args)
    if not wants_web and "--without-web" not in args:
        args.append("--without-web")
    sys.argv = [prog, "worker", *args]
    app.main()
