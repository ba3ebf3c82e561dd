"""The house's floors: each package imports only the floors below it (docs/architecture.md)."""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
PACKAGES = ("enginewatch", "agents", "archiver", "alerts", "monitors")

# Each room and the rooms it may import besides itself. Imports inside
# functions count too: a lazy import is still a dependency.
CORE = "enginewatch.core"
ALLOWED: dict[str, set[str]] = {
    CORE: set(),
    "agents": {CORE},
    "archiver": {CORE},
    # `enginewatch alerts replay` runs the agents' derivation offline.
    "alerts": {CORE, "agents"},
    "monitors": {CORE},
    "enginewatch.harness": {CORE},
    "enginewatch.tools": {CORE},
    "enginewatch.dashboards": {CORE},
    "enginewatch.top": {CORE, "enginewatch.tools"},
    "enginewatch.demo": {
        CORE,
        "enginewatch.harness",
        "enginewatch.tools",
        "enginewatch.dashboards",
    },
    "enginewatch.cli": {
        CORE,
        "agents",
        "archiver",
        "alerts",
        "monitors",
        "enginewatch.tools",
        "enginewatch.dashboards",
        "enginewatch.demo",
        "enginewatch.top",
    },
}
# The package markers hold a docstring and the version, nothing to import.
MARKERS = {"enginewatch"}


def module_name(path: Path) -> str:
    parts = path.relative_to(ROOT).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def room_of(module: str) -> str | None:
    """The longest room name the module belongs to."""
    rooms = [room for room in ALLOWED if module == room or module.startswith(room + ".")]
    return max(rooms, key=len) if rooms else None


def project_imports(path: Path) -> set[str]:
    """Every project module the file imports, at any depth of its code."""
    imported: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            imported |= {alias.name for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            imported.add(node.module)
    return {name for name in imported if name.split(".")[0] in PACKAGES}


def sources() -> list[Path]:
    return sorted(p for package in PACKAGES for p in (ROOT / package).rglob("*.py"))


def test_every_module_lives_in_a_known_room() -> None:
    homeless = [
        module_name(p)
        for p in sources()
        if room_of(module_name(p)) is None and module_name(p) not in MARKERS
    ]
    assert homeless == []


@pytest.mark.parametrize("path", sources(), ids=lambda p: str(p.relative_to(ROOT)))
def test_a_module_imports_only_the_floors_below_its_own(path: Path) -> None:
    room = room_of(module_name(path))
    if room is None:
        return
    wrong = sorted(
        name
        for name in project_imports(path)
        if (other := room_of(name)) != room and other not in ALLOWED[room]
    )
    assert wrong == [], f"{room} may import only {sorted(ALLOWED[room])}"


def test_importing_the_core_pulls_in_no_module_above_it() -> None:
    core = sorted(module_name(p) for p in (ROOT / "enginewatch" / "core").rglob("*.py"))
    code = (
        "import importlib, sys\n"
        f"for name in {core!r}:\n"
        "    importlib.import_module(name)\n"
        f"print('\\n'.join(sorted(m for m in sys.modules if m.split('.')[0] in {PACKAGES!r})))\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=60, check=True
    )
    loaded = done.stdout.split()
    assert set(core) <= set(loaded)
    above = [name for name in loaded if name not in MARKERS and room_of(name) != CORE]
    assert above == []


def test_the_rule_catches_an_upward_import(tmp_path: Path) -> None:
    """The check itself can fail: a core module importing a worker is found."""
    bad = tmp_path / "bad.py"
    bad.write_text("def f():\n    from agents.app import create_agents_app\n", encoding="utf-8")
    imported = project_imports(bad)
    assert imported == {"agents.app"}
    assert room_of("agents.app") not in ALLOWED[CORE]
