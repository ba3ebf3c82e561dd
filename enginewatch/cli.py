"""The `enginewatch` command: one entry point, a subcommand per job.

The CLI is the top floor: it imports the workers, the tools, the demo and the
dashboards; nothing imports it. Each subcommand lives in a module exposing
`configure(parser)` and `run(args) -> int`. The modules are imported plainly,
but only when their command is asked for: Faust and matplotlib take about a
second to load, which a `record` or a `--help` should not pay.
"""

from __future__ import annotations

import argparse
import logging
import sys
from collections.abc import Callable, Sequence
from types import ModuleType

from enginewatch.core.settings import SettingsError


def _agents() -> ModuleType:
    import agents.command

    return agents.command


def _archiver() -> ModuleType:
    import archiver.command

    return archiver.command


def _alerts() -> ModuleType:
    import alerts.command

    return alerts.command


def _monitors() -> ModuleType:
    import monitors.command

    return monitors.command


def _resolve() -> ModuleType:
    import agents.resolve.command

    return agents.resolve.command


def _record() -> ModuleType:
    import enginewatch.tools.record

    return enginewatch.tools.record


def _replay() -> ModuleType:
    import enginewatch.tools.replay

    return enginewatch.tools.replay


def _simulate() -> ModuleType:
    import enginewatch.tools.simulate

    return enginewatch.tools.simulate


def _snapshot() -> ModuleType:
    import enginewatch.dashboards.snapshot

    return enginewatch.dashboards.snapshot


def _dashboards() -> ModuleType:
    import enginewatch.dashboards.check

    return enginewatch.dashboards.check


def _demo() -> ModuleType:
    import enginewatch.demo.command

    return enginewatch.demo.command


def _top() -> ModuleType:
    import enginewatch.top.command

    return enginewatch.top.command


COMMANDS: dict[str, tuple[Callable[[], ModuleType], str]] = {
    "agents": (_agents, "run the stream agents: engine messages -> archive topic"),
    "archiver": (_archiver, "run an archiver: archive topic -> InfluxDB or files"),
    "alerts": (
        _alerts,
        "run the alerts worker, its delivery (alerts deliver), check a rules file "
        "(alerts check) or replay a recording through the rules (alerts replay)",
    ),
    "monitors": (_monitors, "run the monitors worker, or check a monitors file (monitors check)"),
    "resolve": (_resolve, "print the engine -> model mapping and its sources"),
    "record": (_record, "record a topic into a JSON Lines file"),
    "replay": (_replay, "replay a JSON Lines recording into a topic"),
    "simulate": (_simulate, "publish notifications of simulated engines"),
    "snapshot": (_snapshot, "render dashboards from InfluxDB into PNG files"),
    "dashboards": (_dashboards, "check dashboard files before Grafana loads them"),
    "demo": (_demo, "run the whole pipeline on the local services for a minute"),
    "top": (_top, "a live terminal view of the models, the consumer lag and the stages"),
}


def main(argv: Sequence[str] | None = None) -> int:
    args_in = list(sys.argv[1:] if argv is None else argv)
    parser = argparse.ArgumentParser(
        prog="enginewatch",
        description="Watch a fleet of model engines: notifications -> metrics -> InfluxDB.",
    )
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    requested = args_in[0] if args_in else None
    module: ModuleType | None = None
    for name, (load, help_text) in COMMANDS.items():
        command = sub.add_parser(name, help=help_text, description=help_text)
        if name == requested:
            module = load()
            module.configure(command)
    args, extra = parser.parse_known_args(args_in)
    if extra and not getattr(args, "accepts_extra", False):
        parser.error(f"unrecognized arguments: {' '.join(extra)}")
    args.extra = extra
    assert module is not None, "argparse accepts only the commands above"
    logging.basicConfig(
        level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s"
    )
    if getattr(args, "faust_worker", False):
        from enginewatch.core.faustapp import use_uvloop

        use_uvloop()  # before the command makes its app, and with it a loop
    try:
        code: int = module.run(args)
    except SettingsError as exc:
        print(f"enginewatch: {exc}", file=sys.stderr)
        return 2
    return code


if __name__ == "__main__":
    sys.exit(main())
