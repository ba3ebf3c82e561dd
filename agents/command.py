"""`enginewatch agents [FAUST WORKER OPTIONS]`: run the stream agents."""

from __future__ import annotations

import argparse

from agents.app import create_agents_app
from agents.resolve.resolver import resolver_from_settings
from enginewatch.faustapp import run_worker
from enginewatch.settings import load_settings


def configure(parser: argparse.ArgumentParser) -> None:
    parser.epilog = (
        "Faust's worker options pass through, e.g. `-l info` or `--web-port 6067` "
        "(Faust's web server is off unless a port is given)."
    )
    parser.set_defaults(accepts_extra=True)


def run(args: argparse.Namespace) -> int:
    settings = load_settings()
    resolver = resolver_from_settings(settings)
    resolver.refresh()  # name the engines from the first message on
    run_worker(create_agents_app(settings, resolver), "enginewatch agents", args.extra)
