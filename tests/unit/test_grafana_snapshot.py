"""The snapshot's pure parts: times, variables, result shaping, and the drawing itself."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
from matplotlib.image import imread

from enginewatch.core.influxql import Series
from enginewatch.dashboards.dashboards import Datasource, Variable, load_dashboards
from enginewatch.dashboards.interpolation import ALL_VALUE, TimeRange, VariableValue
from enginewatch.dashboards.panel_data import last_value, series_name, table, time_series
from enginewatch.dashboards.panel_queries import (
    VariableError,
    panel_interval_ms,
    select,
    sort_values,
    variable_values,
)
from enginewatch.dashboards.render import (
    COLUMNS,
    GAP_PX,
    HEADER_PX,
    ROW_PX,
    WIDTH_PX,
    AnnotationEvent,
    PanelResult,
    SnapshotData,
    format_value,
    render,
)
from enginewatch.dashboards.render.heatmap import bucket_order, cells
from enginewatch.dashboards.render.page import panel_title
from enginewatch.dashboards.snapshot import (
    SnapshotError,
    annotation_events,
    parse_assignments,
    parse_time,
)

ROOT = Path(__file__).resolve().parents[2]
DASHBOARDS = {d.title: d for d in load_dashboards(ROOT / "grafana" / "dashboards")}
NOW = 1_714_564_800_000  # 2024-05-01T12:00:00Z


@pytest.mark.parametrize(
    ("text", "ms"),
    [
        ("now", NOW),
        ("now-15m", NOW - 900_000),
        ("now+1h", NOW + 3_600_000),
        ("now-2d", NOW - 172_800_000),
        ("2024-05-01T12:00:00Z", NOW),
        ("2024-05-01T14:00:00+02:00", NOW),
        ("2024-05-01T12:00:00", NOW),
        ("1714564800000", NOW),
    ],
)
def test_parse_time(text: str, ms: int) -> None:
    assert parse_time(text, NOW) == ms


def test_parse_time_rejects_what_it_cannot_read() -> None:
    with pytest.raises(SnapshotError, match="bad time 'yesterday'"):
        parse_time("yesterday", NOW)


def test_var_assignments_collect_repeated_names() -> None:
    assert parse_assignments(["model=churn", "engine=e1", "engine=e2"]) == {
        "model": ["churn"],
        "engine": ["e1", "e2"],
    }
    with pytest.raises(SnapshotError, match="NAME=VALUE"):
        parse_assignments(["model"])


def variable(**changes: object) -> Variable:
    values: dict[str, object] = {
        "name": "engine",
        "query": 'SHOW TAG VALUES WITH KEY = "engine"',
        "multi": True,
        "include_all": True,
        "custom_all_value": None,
        "sort": 1,
        "datasource_uid": "ds",
        "current": (),
    }
    values.update(changes)
    return Variable(**values)  # type: ignore[arg-type]


def test_variable_values_take_the_value_column_of_every_series_once() -> None:
    found = [
        Series("records", {}, ["key", "value"], [["engine", "e2"], ["engine", "e1"]]),
        Series("system", {}, ["key", "value"], [["engine", "e1"], ["engine", "e3"]]),
    ]
    assert variable_values(variable(), found) == ["e1", "e2", "e3"]


def test_sort_orders() -> None:
    values = ["b10", "a2", "C1"]
    assert sort_values(values, 0) == values
    assert sort_values(values, 1) == ["C1", "a2", "b10"]
    assert sort_values(values, 2) == ["b10", "a2", "C1"]
    assert sort_values(values, 3) == ["C1", "a2", "b10"]
    assert sort_values(values, 5) == ["a2", "b10", "C1"]


def test_selection_defaults_to_all_or_the_first_option() -> None:
    assert select(variable(), ["e1", "e2"], None) == VariableValue(
        "engine", (ALL_VALUE,), ("e1", "e2")
    )
    single = variable(name="model", multi=False, include_all=False)
    assert select(single, ["churn", "fraud"], None).selected == "churn"
    saved = variable(name="model", multi=False, include_all=False, current=("fraud",))
    assert select(saved, ["churn", "fraud"], None).selected == "fraud"
    gone = variable(name="model", multi=False, include_all=False, current=("old",))
    assert select(gone, ["churn", "fraud"], None).selected == "churn"


def test_selection_asked_for_must_be_an_option() -> None:
    assert select(variable(), ["e1", "e2"], ["e2"]).selected == ("e2",)
    with pytest.raises(VariableError, match="e9 not among its values"):
        select(variable(), ["e1", "e2"], ["e9"])
    with pytest.raises(VariableError, match="takes one value"):
        select(variable(multi=False), ["e1", "e2"], ["e1", "e2"])
    # Without values, as Grafana's "None": an empty value.
    assert select(variable(include_all=False, multi=False), [], None).selected == ""


def test_panel_interval_respects_the_datasource_time_interval() -> None:
    fleet = DASHBOARDS["Fleet overview"]
    (panel,) = [p for p in fleet.panels if p.title == "Engine state"]
    hour = TimeRange(NOW, NOW + 3_600_000)
    uid = panel.datasource_uid or ""
    assert panel_interval_ms(panel, hour, {}) == 5000  # 3600 s over 800 px -> 4.5 s -> 5 s
    slow = {uid: Datasource(uid, "influxdb", "30s")}
    assert panel_interval_ms(panel, hour, slow) == 30_000


def test_series_names_follow_grafanas_alias_patterns() -> None:
    series = Series("records", {"model": "churn", "slot": "0"}, ["time", "mean"], [])
    assert series_name(series, 1, "") == "records.mean {model: churn, slot: 0}"
    assert series_name(series, 1, "$tag_model slot [[tag_slot]] $col of $m") == (
        "churn slot 0 mean of records"
    )
    assert series_name(series, 1, "$tag_nosuch") == ""


def test_time_series_and_tables_take_grafanas_shapes() -> None:
    found = [
        Series("s", {"engine": "e1"}, ["time", "code", "state"], [[1, 1, "running"]]),
        Series(
            "s", {"engine": "e2"}, ["time", "code", "state"], [[2, 2, "error"], [3, None, None]]
        ),
    ]
    shaped = time_series(found, "$tag_engine")
    assert [(s.name, list(s.values)) for s in shaped] == [
        ("e1", [1]),
        ("e1", ["running"]),
        ("e2", [2, None]),
        ("e2", ["error", None]),
    ]
    assert last_value(shaped[2:]) == 2
    rows = table(found)
    assert list(rows.columns) == ["Time", "engine", "code", "state"]
    assert [list(r) for r in rows.rows] == [
        [1, "e1", 1, "running"],
        [2, "e2", 2, "error"],
        [3, "e2", None, None],
    ]


@pytest.mark.parametrize(
    ("value", "unit", "text"),
    [
        (1234, "short", "1.23 K"),
        (12.5, "percent", "12.5%"),
        (3 * 1024 * 1024, "bytes", "3 MiB"),
        (2500, "Bps", "2.5 kB/s"),
        (15, "recps", "15 rec/s"),
        (2.5, "s", "2.5 s"),
        (0.012, "s", "12 ms"),
        (0.0000451, "s", "45.1 µs"),
        (0, "s", "0 s"),
        (NOW, "dateTimeAsIso", "2024-05-01 12:00:00"),
        ("text", "short", "text"),
    ],
)
def test_units(value: float | str, unit: str, text: str) -> None:
    assert format_value(value, unit) == text


RED = (0xF2, 0x49, 0x5C)


def panel_pixels(image: np.ndarray, dashboard_title: str, panel_title: str) -> np.ndarray:
    """The pixels of a panel, located the way the renderer lays out the grid."""
    dashboard = DASHBOARDS[dashboard_title]
    (panel,) = [p for p in dashboard.panels if p.title == panel_title]
    column = (WIDTH_PX - GAP_PX * (COLUMNS + 1)) / COLUMNS
    left = int(GAP_PX + panel.grid.x * (column + GAP_PX))
    top = HEADER_PX + GAP_PX + panel.grid.y * (ROW_PX + GAP_PX)
    width = int(panel.grid.w * column + (panel.grid.w - 1) * GAP_PX)
    height = panel.grid.h * ROW_PX + (panel.grid.h - 1) * GAP_PX
    return image[top : top + height, left : left + width, :3]


def has_colour(pixels: np.ndarray, rgb: tuple[int, int, int], tolerance: int = 40) -> bool:
    scaled = (pixels * 255).astype(int)
    return bool((np.abs(scaled - np.array(rgb)).sum(axis=2) < tolerance).any())


def fleet_snapshot(state_codes: list[int | None]) -> SnapshotData:
    fleet = DASHBOARDS["Fleet overview"]
    span = TimeRange(NOW, NOW + 600_000)
    results = []
    for panel in fleet.panels:
        if panel.title == "Engine state":
            times = [NOW + i * 60_000 for i in range(len(state_codes))]
            found = [Series("engine_status", {"engine": "e1"}, ["time", "last"],
                            [[t, c] for t, c in zip(times, state_codes, strict=True)])]  # fmt: skip
            results.append(PanelResult(panel, time_series(found, "$tag_engine"), (), 60_000))
        elif panel.title == "Records in":
            results.append(PanelResult(panel, error="InfluxDB: database not found"))
        else:
            results.append(PanelResult(panel))
    return SnapshotData(fleet, span, {}, results)


def test_render_lays_the_dashboard_out_on_its_grid(tmp_path: Path) -> None:
    path = render(fleet_snapshot([0, 1, 1, 2, 2]), tmp_path / "fleet.png")
    image = imread(path)
    rows = max(p.grid.y + p.grid.h for p in DASHBOARDS["Fleet overview"].panels)
    assert image.shape[1] == WIDTH_PX
    assert image.shape[0] == HEADER_PX + GAP_PX + rows * (ROW_PX + GAP_PX)


def test_render_colours_states_by_their_value_mapping(tmp_path: Path) -> None:
    failing = imread(render(fleet_snapshot([0, 1, 1, 2, 2]), tmp_path / "failing.png"))
    healthy = imread(render(fleet_snapshot([0, 1, 1, 1, None]), tmp_path / "healthy.png"))
    assert has_colour(panel_pixels(failing, "Fleet overview", "Engine state"), RED)
    assert not has_colour(panel_pixels(healthy, "Fleet overview", "Engine state"), RED)
    # A failed query shows its error in red in its own panel, and only there.
    assert has_colour(panel_pixels(healthy, "Fleet overview", "Records in"), RED)
    assert not has_colour(panel_pixels(healthy, "Fleet overview", "Records out"), RED)


def test_render_draws_every_panel_kind_of_the_model_dashboard(tmp_path: Path) -> None:
    model = DASHBOARDS["Model detail"]
    span = TimeRange(NOW, NOW + 600_000)
    numbers = [
        Series(
            "m", {"engine": "e1"}, ["time", "mean"], [[NOW + i * 1000, float(i)] for i in range(9)]
        )
    ]
    lines = [
        Series(
            "engine_logs", {}, ["time", "text", "level", "engine"], [[NOW, "boom", "error", "e1"]]
        )
    ]
    results = []
    for panel in model.panels:
        if panel.type in ("logs", "table"):
            results.append(PanelResult(panel, (), (table(lines),)))
        else:
            results.append(PanelResult(panel, time_series(numbers, "$tag_engine"), (), 1000))
    variables = {
        "model": VariableValue("model", "churn"),
        "engine": VariableValue("engine", (ALL_VALUE,), ("e1",)),
    }
    path = render(SnapshotData(model, span, variables, results), tmp_path / "model.png")
    assert imread(path).shape[1] == WIDTH_PX


GREEN = (0x73, 0xBF, 0x69)


def alerts_snapshot(firing_rows: list[list[object]]) -> SnapshotData:
    """Fleet overview with CPU lines, one alert fired and one resolved as annotations,
    and the firing-alerts table holding `firing_rows`."""
    fleet = DASHBOARDS["Fleet overview"]
    span = TimeRange(NOW, NOW + 600_000)
    cpu = [Series("system", {"model": "m"}, ["time", "sum"],
                  [[NOW + i * 60_000, 40.0 + i] for i in range(10)])]  # fmt: skip
    firing = Series(
        "alerts",
        {"alertname": "EngineError", "engine": "e1", "model": "m", "severity": "critical"},
        ["time", "state", "value"],
        firing_rows,
    )
    results = []
    for panel in fleet.panels:
        if panel.title == "CPU utilization by model":
            results.append(PanelResult(panel, time_series(cpu, "$tag_model"), (), 60_000))
        elif panel.title == "Firing alerts":
            results.append(PanelResult(panel, (), (table([firing] if firing_rows else []),)))
        else:
            results.append(PanelResult(panel))
    events = [
        AnnotationEvent(NOW + 200_000, "EngineError", ("firing", "critical", "e1"), "red"),
        AnnotationEvent(NOW + 400_000, "EngineError", ("resolved", "critical", "e1"), "green"),
    ]
    return SnapshotData(fleet, span, {}, results, events)


def test_render_marks_alerts_on_time_axes_and_lists_the_firing_ones(tmp_path: Path) -> None:
    data = alerts_snapshot([[NOW + 200_000, "firing", 2.0]])
    image = imread(render(data, tmp_path / "alerts.png"))
    unmarked = imread(render(replace(data, annotations=()), tmp_path / "unmarked.png"))
    cpu = panel_pixels(image, "Fleet overview", "CPU utilization by model")
    plain = panel_pixels(unmarked, "Fleet overview", "CPU utilization by model")
    # The annotations in their colours: red where it fired, green where it resolved
    # (a close tolerance: the first line of the palette is another green).
    assert has_colour(cpu, RED)
    assert has_colour(cpu, GREEN, tolerance=12)
    assert not has_colour(plain, RED)
    assert not has_colour(plain, GREEN, tolerance=12)
    # The firing alert's severity cell, mapped to red; no red without a firing alert.
    assert has_colour(panel_pixels(image, "Fleet overview", "Firing alerts"), RED)
    quiet = imread(render(alerts_snapshot([]), tmp_path / "quiet.png"))
    assert not has_colour(panel_pixels(quiet, "Fleet overview", "Firing alerts"), RED)


def test_annotation_events_take_their_columns_and_colour() -> None:
    (firing,) = [a for a in DASHBOARDS["Fleet overview"].annotations if a.name == "Alerts firing"]
    found = table(
        [
            Series(
                "alerts",
                {},
                ["time", "alertname", "state", "severity", "engine", "model", "value"],
                [
                    [NOW, "EngineError", "firing", "critical", "e1", "m", 2.0],
                    [NOW + 1, "EngineSilent", "no-data", "critical", "e2", None, None],
                ],
            )
        ]
    )
    assert annotation_events(firing, found) == [
        AnnotationEvent(NOW, "EngineError", ("firing", "critical", "e1", "m"), "red"),
        # A series without a model tag: no empty tag.
        AnnotationEvent(NOW + 1, "EngineSilent", ("no-data", "critical", "e2"), "red"),
    ]


# Model quality: the heatmap of histogram buckets and the quantile bands.


def test_heatmap_orders_buckets_by_edge_and_cells_last_a_window() -> None:
    assert bucket_order(["+Inf", "10", "2.5", "-1"]) == ["-1", "2.5", "10", "+Inf"]
    # Categories keep the order they came in, after any number.
    assert bucket_order(["us", "eu", "3"]) == ["3", "us", "eu"]
    found = [
        Series(
            "h",
            {"bucket": edge},
            ["time", "sum"],
            [[NOW, n], [NOW + 10_000, None], [NOW + 20_000, n + 1]],
        )
        for edge, n in (("+Inf", 1), ("5", 7))
    ]
    got = cells(time_series(found, "$tag_bucket"), 5000)
    # A cell lasts as long as the data's own step (here 20 s: no bucket had a value between).
    assert sorted(got) == [
        (0, NOW, 20_000, 7.0),
        (0, NOW + 20_000, 20_000, 8.0),
        (1, NOW, 20_000, 1.0),
        (1, NOW + 20_000, 20_000, 2.0),
    ]
    one = cells(time_series([Series("h", {"bucket": "1"}, ["time", "sum"], [[NOW, 3]])],
                            "$tag_bucket"), 5000)  # fmt: skip
    assert one == [(0, NOW, 5000, 3.0)]


ORANGE_TOP = (0x7F, 0x27, 0x04)  # matplotlib's Oranges at its highest


def quality_snapshot(histogram: bool) -> SnapshotData:
    quality = DASHBOARDS["Model quality"]
    span = TimeRange(NOW, NOW + 600_000)
    times = [NOW + i * 60_000 for i in range(10)]
    buckets = [
        Series("data_histogram", {"bucket": edge}, ["time", "sum"],
               [[t, (i * 7 + k * 3) % 11 + (40 if k == 2 and i == 5 else 0)]
                for i, t in enumerate(times)])
        for k, edge in enumerate(("1", "2", "3", "+Inf"))
    ]  # fmt: skip
    quantiles = [
        Series("data_profile", {}, ["time", "p5", "p25", "p50", "p75", "p95"],
               [[t, 1.0 + i, 2.0 + i, 3.0 + i, 4.0 + i, 5.0 + i] for i, t in enumerate(times)])
    ]  # fmt: skip
    numbers = [Series("m", {"monitor": "x"}, ["time", "mean"], [[t, 0.5] for t in times])]
    results = []
    for panel in quality.panels:
        if panel.type == "heatmap":
            shown = time_series(buckets, "$tag_bucket") if histogram else []
            results.append(PanelResult(panel, shown, (), 5000))
        elif panel.title.startswith("Quantiles"):
            results.append(PanelResult(panel, time_series(quantiles, "$col"), (), 5000))
        else:
            results.append(PanelResult(panel, time_series(numbers, "$tag_monitor"), (), 5000))
    variables = {
        "model": VariableValue("model", "lstm"),
        "monitor": VariableValue("monitor", (ALL_VALUE,), ("x",)),
        "field": VariableValue("field", "load"),
    }
    return SnapshotData(quality, span, variables, results)


def test_render_draws_the_model_quality_dashboard_with_its_heatmap(tmp_path: Path) -> None:
    image = imread(render(quality_snapshot(True), tmp_path / "quality.png"))
    empty = imread(render(quality_snapshot(False), tmp_path / "empty.png"))
    heat = panel_pixels(image, "Model quality", "Histogram of $field")
    assert has_colour(heat, ORANGE_TOP, tolerance=30)  # the busiest cell, darkest
    assert not has_colour(panel_pixels(empty, "Model quality", "Histogram of $field"), ORANGE_TOP)
    # The quantile bands: p95 filled down to p5 in the first series' colour, lighter.
    bands = panel_pixels(image, "Model quality", "Quantiles of $field")
    assert has_colour(bands, (0x7E, 0xB2, 0x6D))


@pytest.mark.parametrize(("value", "unit", "text"), [(0.755, "percentunit", "75.5%"),
                                                     (2.5, "s", "2.5 s")])  # fmt: skip
def test_fraction_and_second_units(value: float, unit: str, text: str) -> None:
    assert format_value(value, unit) == text


def test_panel_titles_show_the_variables_selections() -> None:
    variables = {
        "field": VariableValue("field", "load"),
        "monitor": VariableValue("monitor", (ALL_VALUE,), ("a", "b")),
        "f": VariableValue("f", "x"),
    }
    assert panel_title("Quantiles of $field", variables) == "Quantiles of load"
    assert panel_title("${monitor}: $f", variables) == "All: x"
