"""`enginewatch resolve`: print the engine -> model mapping and where each entry came from."""

from __future__ import annotations

import argparse
import sys

import orjson

from agents.resolve.resolver import resolver_from_config
from enginewatch.core.settings import load_settings


def configure(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--json", action="store_true", help="print JSON instead of a table")


def run(args: argparse.Namespace) -> int:
    resolver = resolver_from_config(load_settings().resolve)
    resolver.refresh()
    entries = sorted(resolver.entries.items(), key=lambda item: (item[1].model, item[0]))
    if args.json:
        out = {uuid: {"model": e.model, "source": e.source} for uuid, e in entries}
        print(orjson.dumps(out, option=orjson.OPT_INDENT_2).decode())
    else:
        width = max((len(uuid) for uuid, _ in entries), default=6)
        print(f"{'engine':<{width}}  {'source':<8}  model")
        for uuid, entry in entries:
            print(f"{uuid:<{width}}  {entry.source:<8}  {entry.model}")
    for source, error in resolver.errors.items():
        print(f"enginewatch resolve: source {source} failed: {error}", file=sys.stderr)
    return 1 if resolver.errors else 0
