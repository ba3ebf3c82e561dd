"""`enginewatch dashboards check [FILE...]`: the structure checks on dashboard files.

For an operator who edited a dashboard: before Grafana loads it, this says
what Grafana would show wrong (see `find_problems` in
enginewatch.dashboards.dashboards), one line per problem:

    model-detail.json: panel 'Engine state': query A uses undefined variable $slot

Without FILE it checks every dashboard of grafana/dashboards (of the working
directory, else of the source tree), as `enginewatch snapshot` finds them.
Datasource references are checked against --datasources DIR, by default the
datasources provisioned beside the file's folder (`../provisioning/datasources`),
else those of grafana/ (for a copy edited elsewhere).

Exit status: 0 without problems, 1 with any (a JSON file that is not a
dashboard is one), 2 when a file is missing or not JSON.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from enginewatch.dashboards.dashboards import (
    DashboardError,
    datasources_dir,
    default_dashboard_dir,
    find_problems,
    load_datasources,
    parse_dashboard,
)

PROG = "enginewatch dashboards check"


class CheckError(RuntimeError):
    """The check cannot run (a file is missing or not JSON); the message says why."""


def configure(parser: argparse.ArgumentParser) -> None:
    actions = parser.add_subparsers(dest="action", required=True, metavar="ACTION")
    check = actions.add_parser(
        "check",
        help="check dashboard files before Grafana loads them",
        description="Check dashboard files before Grafana loads them: one line per problem.",
    )
    check.add_argument(
        "files",
        nargs="*",
        type=Path,
        metavar="FILE",
        help="a dashboard JSON file (default: every file of grafana/dashboards/)",
    )
    check.add_argument(
        "--datasources",
        type=Path,
        metavar="DIR",
        help="the provisioned datasources (*.yaml) to check references against "
        "(default: provisioning/datasources beside the file's folder, else grafana/'s)",
    )


def run(args: argparse.Namespace) -> int:
    # `check` is the only action so far; argparse has already refused any other.
    assert args.action == "check"
    try:
        return check(args.files, args.datasources)
    except CheckError as exc:
        print(f"{PROG}: {exc}", file=sys.stderr)
        return 2


def check(files: Sequence[Path], datasources: Path | None = None) -> int:
    """Print each problem of the files (or of the default dashboards); the exit status."""
    paths = list(files) or _default_files()
    # Every file is read before any is checked: a typo in a path is an error, not a problem.
    documents = [(path, _read(path)) for path in paths]
    uids_by_folder: dict[Path, set[str]] = {}
    found = 0
    faulty = 0
    for path, data in documents:
        uids = _datasource_uids(path, datasources, uids_by_folder)
        lines = _problems(path, data, uids)
        for line in lines:
            print(line)
        found += len(lines)
        faulty += bool(lines)
    count = f"{len(paths)} dashboard{'s' if len(paths) != 1 else ''}"
    if found:
        print(f"{PROG}: {found} problem(s) in {faulty} of {count}", file=sys.stderr)
        return 1
    print(f"{count} checked: no problems")
    return 0


def _problems(path: Path, data: Any, uids: set[str]) -> list[str]:
    try:
        dashboard = parse_dashboard(data, path)
    except DashboardError as exc:
        # Already "FILE: what": a dashboard that cannot be read has this one problem.
        return [str(exc)]
    return [f"{path}: {problem}" for problem in find_problems(dashboard, uids)]


def _default_files() -> list[Path]:
    folder = default_dashboard_dir()
    if folder is None:
        raise CheckError("no grafana/dashboards here: give FILE")
    paths = sorted(folder.glob("*.json"))
    if not paths:
        raise CheckError(f"no dashboards (*.json) in {folder}")
    return [_relative(path) for path in paths]


def _relative(path: Path) -> Path:
    """The path from the working directory when under it: shorter lines to read."""
    try:
        return path.relative_to(Path.cwd())
    except ValueError:
        return path


def _read(path: Path) -> Any:
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise CheckError(f"{path}: no such file") from None
    except OSError as exc:
        raise CheckError(f"{path}: cannot read: {exc.strerror or exc}") from None
    try:
        return json.loads(text)
    except ValueError as exc:  # also a file that is not UTF-8
        raise CheckError(f"{path}: not JSON: {exc}") from None


def _datasource_uids(path: Path, given: Path | None, loaded: dict[Path, set[str]]) -> set[str]:
    """The uids provisioned for the file; `loaded` keeps each folder's, read once."""
    folder = given or _datasources_for(path)
    if folder is None:
        raise CheckError(
            f"{path}: no provisioning/datasources beside its folder, nor a grafana/ here: "
            "give --datasources DIR"
        )
    if not folder.is_dir():
        raise CheckError(f"{folder}: not a folder of provisioned datasources")
    key = folder.resolve()
    if key not in loaded:
        try:
            loaded[key] = set(load_datasources(folder))
        except DashboardError as exc:
            raise CheckError(str(exc)) from None
    return loaded[key]


def _datasources_for(path: Path) -> Path | None:
    """Beside the file's folder, else beside grafana/dashboards (for a copy elsewhere)."""
    beside = datasources_dir(path.resolve().parent)
    if beside.is_dir():
        return beside
    default = default_dashboard_dir()
    return datasources_dir(default) if default is not None else None
