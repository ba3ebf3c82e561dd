"""The `enginewatch` command: one entry point, a subcommand per job.

Each subcommand lives in its own module exposing `configure(parser)` and
`run(args) -> int`; modules are imported only when their command runs.
"""

from __future__ import annotations

import argparse
import importlib
import logging
import sys
from collections.abc import Sequence

from enginewatch.settings import SettingsError

COMMANDS: dict[str, tuple[str, str]] = {
    "agents": ("agents.command", "run the stream agents: engine messages -> archive topic"),
    "archiver": ("archiver.command", "run an archiver: archive topic -> InfluxDB or files"),
    "resolve": ("agents.resolve.command", "print the engine -> model mapping and its sources"),
    "record": ("enginewatch.tools.record", "record a topic into a JSON Lines file"),
    "replay": ("enginewatch.tools.replay", "replay a JSON Lines recording into a topic"),
    "simulate": ("enginewatch.tools.simulate", "publish notifications of simulated engines"),
    "snapshot": ("enginewatch.grafana.snapshot", "render dashboards from InfluxDB into PNG files"),
    "demo": ("enginewatch.demo", "run the whole pipeline on the local services for a minute"),
}


def main(argv: Sequence[str] | None = None) -> int:
    args_in = list(sys.argv[1:] if argv is None else argv)
    parser = argparse.ArgumentParser(
        prog="enginewatch",
        description="Watch a fleet of model engines: notifications -> metrics -> InfluxDB.",
    )
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    requested = args_in[0] if args_in else None
    for name, (module_name, help_text) in COMMANDS.items():
        command = sub.add_parser(name, help=help_text, description=help_text)
        command.set_defaults(_module=module_name)
        if name == requested:
            # Only the command that runs is imported: Faust is heavy to load.
            importlib.import_module(module_name).configure(command)
    args, extra = parser.parse_known_args(args_in)
    if extra and not getattr(args, "accepts_extra", False):
        parser.error(f"unrecognized arguments: {' '.join(extra)}")
    args.extra = extra
    logging.basicConfig(
        level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s"
    )
    try:
        code: int = importlib.import_module(args._module).run(args)
    except SettingsError as exc:
        print(f"enginewatch: {exc}", file=sys.stderr)
        return 2
    return code


if __name__ == "__main__":
    sys.exit(main())
