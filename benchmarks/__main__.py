"""`python -m benchmarks [--smoke] [--runs N] [--out DIR]`: measure, then write the report.

Needs the local Kafka and InfluxDB (`make up`). Writes DIR/benchmarks.json (every
run's figures, machine, versions, date) and DIR/benchmarks.md (docs/ by default).
"""

from __future__ import annotations

import argparse
import dataclasses
import logging
import sys
import tempfile
import time
from pathlib import Path

import orjson

from benchmarks import report, suite
from benchmarks.procs import ROOT
from benchmarks.session import FULL, SMOKE


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks", description=__doc__)
    parser.add_argument(
        "--smoke", action="store_true", help="tiny sizes, one run: checks the harness"
    )
    parser.add_argument("--runs", type=int, help="runs per figure (default: 3, smoke: 1)")
    parser.add_argument("--out", type=Path, default=ROOT / "docs", help="where the report goes")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s", stream=sys.stderr)
    logging.getLogger("aiokafka").setLevel(logging.WARNING)
    scale = SMOKE if args.smoke else FULL
    if args.runs is not None:
        if args.runs < 1:
            parser.error("--runs must be at least 1")
        scale = dataclasses.replace(scale, runs=args.runs)
    started = time.monotonic()
    with tempfile.TemporaryDirectory(prefix="enginewatch-bench-") as workdir:
        results = suite.run(scale, Path(workdir))
    results["duration_s"] = round(time.monotonic() - started, 1)
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "benchmarks.json").write_bytes(
        orjson.dumps(results, option=orjson.OPT_INDENT_2 | orjson.OPT_SORT_KEYS) + b"\n"
    )
    (args.out / "benchmarks.md").write_text(report.render(results), encoding="utf-8")
    print(f"wrote {args.out / 'benchmarks.md'} and {args.out / 'benchmarks.json'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
