"""`enginewatch top`'s screen, rendered to an 80-column recording console and read back."""

from __future__ import annotations

import pytest
from rich.console import Console

from enginewatch.top.render import format_rate, format_state, models_room, render
from enginewatch.top.snapshot import FiringAlert, LagRow, ModelRow, Snapshot, StageRow

T0 = 1_714_564_860_233  # 2024-05-01T12:01:00.233Z
FRAUD = "fraud/score v2.1"


def screen(snapshot: Snapshot, max_models: int | None = None) -> list[str]:
    console = Console(record=True, width=80, color_system=None, force_terminal=False)
    console.print(render(snapshot, max_models))
    return console.export_text().splitlines()


def line_with(lines: list[str], start: str) -> list[str]:
    (found,) = [line for line in lines if line.startswith(start)]
    return found.split()


SNAPSHOT = Snapshot(
    title="enginewatch · enginewatch",
    engines_at_ms=T0,
    models=[
        ModelRow("churn", 4.0, 4.0, 1.0, {"running": 1}, 10.0, 2.1e8, 0),
        ModelRow(FRAUD, 15.0, 13.0, 12.0, {"running": 1, "error": 1}, 70.0, 1.1e9, 1),
        ModelRow("unknown", 2.0, None, None, {"warming-up": 1}),
    ],
    lag=[LagRow("agents", "notify", 249, 249), LagRow("archiver", "archive", 90, 100)],
    alerts=[FiringAlert("EngineError", "critical", FRAUD, "5f0c1d2e-3a4b-4c5d", T0 - 28_084)],
)


def test_every_line_fits_80_columns_and_shows_the_models_figures() -> None:
    lines = screen(SNAPSHOT)
    assert all(len(line) <= 80 for line in lines)
    assert "Models, as of 2024-05-01 12:01:00 UTC" in lines[1]
    assert line_with(lines, "fraud/score v2.1") == [
        "fraud/score", "v2.1", "15.0", "13.0", "12", "error", "1/2", "70", "1.1", "GB", "1",
    ]  # fmt: skip
    assert line_with(lines, "churn") == ["churn", "4.0", "4.0", "1", "running", "10", "210.0", "MB"]
    assert line_with(lines, "unknown") == ["unknown", "2.0", "-", "-", "warming-up", "-", "-"]


def test_the_lag_and_the_firing_alerts_have_their_panels() -> None:
    lines = screen(SNAPSHOT)
    assert line_with(lines, "agents") == ["agents", "notify", "249", "249", "0"]
    assert line_with(lines, "archiver") == ["archiver", "archive", "90", "100", "10"]
    assert line_with(lines, "EngineError")[:3] == ["EngineError", "critical", "fraud/score"]
    assert "2024-05-01 12:00:32" in " ".join(line_with(lines, "EngineError"))
    assert not any(line.startswith("Stages") for line in lines)


def test_stages_show_only_when_reported() -> None:
    stages = [StageRow("agents", "derive", 1500.0, 0.75, 0.0021, 0.0105, 2)]
    lines = screen(Snapshot("t", T0, lag=[], stages=stages))
    assert any(line.startswith("Stages") for line in lines)
    assert line_with(lines, "agents") == [
        "agents",
        "derive",
        "1500",
        "750.0ms",
        "2.1ms",
        "10.5ms",
        "2",
    ]
    assert any("no group has committed yet" in line for line in lines)


def test_an_empty_database_and_unreachable_services_say_so() -> None:
    lines = screen(Snapshot("t", problems=["InfluxDB at http://x unreachable: refused"]))
    assert "Models: no engine points yet" in lines[1]
    assert any("the broker did not answer" in line for line in lines)
    assert lines[-1].startswith("InfluxDB at http://x unreachable")


def test_a_long_model_name_ends_in_an_ellipsis_and_extra_models_are_counted() -> None:
    many = [ModelRow(f"model-{i:02d}-" + "x" * 60, 1.0) for i in range(10)]
    lines = screen(Snapshot("t", T0, models=many, lag=[]), max_models=3)
    rows = [line for line in lines if line.startswith("model-")]
    assert len(rows) == 3
    assert all("…" in row and len(row) <= 80 for row in rows)
    assert any("… 7 more" in line for line in lines)


def test_models_room_leaves_the_other_panels_their_lines() -> None:
    # 30 lines: header 1, models 3, lag 3 + 2, alerts 3 + 1, the "more" row 1.
    assert models_room(SNAPSHOT, 30) == 30 - 1 - 3 - 5 - 4 - 1
    assert models_room(SNAPSHOT, 5) == 1


@pytest.mark.parametrize(
    ("states", "shown"),
    [
        ({"running": 3}, "running"),
        ({"running": 2, "error": 1}, "error 1/3"),
        ({"running": 1, "paused": 1}, "paused 1/2"),
        ({"error": 2}, "error"),
    ],
)
def test_a_models_state_is_its_worst_engines(states: dict[str, int], shown: str) -> None:
    assert format_state(states).plain == shown


def test_rates_keep_to_their_column() -> None:
    assert [format_rate(v) for v in (0.25, 999.9, 12_345.0, 2_500_000.0)] == [
        "0.2", "999.9", "12.3k", "2.5M",
    ]  # fmt: skip


def test_only_the_live_screen_says_how_to_quit() -> None:
    console = Console(record=True, width=80, color_system=None)
    console.print(render(SNAPSHOT, live=False))
    once = console.export_text().splitlines()
    assert once[0].rstrip() == "enginewatch top  enginewatch · enginewatch"
    assert screen(SNAPSHOT)[0].endswith("q quits")
