"""The provisioned dashboards' structure, and that the structure checks catch faults."""

from __future__ import annotations

import copy
import json
import re
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from agents.derive import STATE_CODES
from agents.silence import SILENT_CODE, SILENT_STATE
from enginewatch.cli import main
from enginewatch.dashboards.dashboards import (
    load_dashboards,
    load_datasources,
    parse_dashboard,
    structure_problems,
)
from enginewatch.dashboards.interpolation import ALL_VALUE, TimeRange, VariableValue
from enginewatch.dashboards.panel_queries import annotation_queries, panel_queries, variable_query

ROOT = Path(__file__).resolve().parents[2]
DASHBOARDS = ROOT / "grafana" / "dashboards"
DATASOURCES = load_datasources(ROOT / "grafana" / "provisioning" / "datasources")
UIDS = set(DATASOURCES)
# The metric contract (shared/spec/metrics.md): measurements and state codes.
MEASUREMENTS = {
    "records",
    "record_bytes",
    "rejections",
    "jet_records",
    "system",
    "sensor",
    "engine_status",
    "engine_events",
    "health",
    "engine_logs",
    "model_console",
    "jet_status",
    "alerts",  # the alerts worker's transitions (alerts/stage.py `alert_point`)
    # The monitors worker's (README, "Monitors' measurements"), on Model quality.
    "data_profile",
    "data_histogram",
    "data_drift",
    "model_quality",
    "model_quality_class",
    "monitor_state",
    # enginewatch's own (README, "enginewatch's own measurements"), on enginewatch.
    "enginewatch_stage",
    "enginewatch_dead_letters",
    "enginewatch_lag",
    "enginewatch_sink",
    "enginewatch_host",
}
# Every code the agents write (agents/derive.py, agents/silence.py), by name.
STATE_NAMES = {
    **{str(code): state for state, code in STATE_CODES.items()},
    str(SILENT_CODE): SILENT_STATE,
    "-1": "other",
}


def raw_dashboards() -> dict[str, dict[str, Any]]:
    return {p.name: json.loads(p.read_text()) for p in sorted(DASHBOARDS.glob("*.json"))}


def by_title(title: str) -> dict[str, Any]:
    (found,) = [d for d in raw_dashboards().values() if d["title"] == title]
    return found


def test_the_dashboards_exist_with_unique_uids() -> None:
    dashboards = load_dashboards(DASHBOARDS)
    assert {d.title for d in dashboards} == {
        "Fleet overview",
        "Model detail",
        "Model quality",
        "enginewatch",
    }
    assert len({d.uid for d in dashboards}) == len(dashboards)


@pytest.mark.parametrize("name", sorted(raw_dashboards()))
def test_dashboard_passes_the_structure_checks(
    name: str, capsys: pytest.CaptureFixture[str]
) -> None:
    dashboard = parse_dashboard(raw_dashboards()[name])
    assert structure_problems(dashboard, UIDS) == []
    # The same checks, as an operator runs them on the file.
    assert main(["dashboards", "check", str(DASHBOARDS / name)]) == 0
    assert capsys.readouterr().out == "1 dashboard checked: no problems\n"


def test_check_command_without_files_checks_every_dashboard(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(ROOT)
    assert main(["dashboards", "check"]) == 0
    captured = capsys.readouterr()
    assert captured.out == f"{len(raw_dashboards())} dashboards checked: no problems\n"
    assert captured.err == ""


@pytest.mark.parametrize("name", sorted(raw_dashboards()))
def test_current_schema_and_provisioning_friendly_fields(name: str) -> None:
    data = raw_dashboards()[name]
    assert data["schemaVersion"] >= 39
    assert "id" not in data or data["id"] is None  # ids belong to Grafana's database
    assert "enginewatch" in data["tags"]
    for panel in data["panels"]:
        assert panel["type"] in {
            "timeseries",
            "stat",
            "table",
            "state-timeline",
            "logs",
            "heatmap",
            "row",
        }


@pytest.mark.parametrize("name", sorted(raw_dashboards()))
def test_every_query_uses_the_time_filter_and_grafanas_interval(name: str) -> None:
    dashboard = parse_dashboard(raw_dashboards()[name])
    for panel, target in dashboard.queries():
        if panel.title == "Firing alerts":
            # What fires at the range's end, however long ago it fired.
            assert "time <= ${__to}ms" in target.query
            continue
        assert "$timeFilter" in target.query, (panel.title, target.query)
        if "GROUP BY time(" in target.query:
            assert re.findall(r"GROUP BY time\(([^)]*)\)", target.query) == [
                "$__interval"
            ] * target.query.count("GROUP BY time("), (panel.title, target.query)
        if panel.type in {"timeseries", "state-timeline"}:
            assert "GROUP BY time($__interval)" in target.query, panel.title
    for annotation in dashboard.annotations:
        assert "$timeFilter" in annotation.query


def test_the_dashboards_cover_every_measurement_of_the_contract() -> None:
    queried = set()
    for dashboard in load_dashboards(DASHBOARDS):
        for _, target in dashboard.queries():
            queried |= set(re.findall(r'FROM "(\w+)"', target.query))
    assert queried == MEASUREMENTS


def test_fleet_overview_has_the_panels_operators_need() -> None:
    titles = {p["title"] for p in by_title("Fleet overview")["panels"]}
    assert {
        "Engine state",
        "Records in per second, by model",
        "Records out per second, by model",
        "Rejected records by reason",
        "CPU utilization by model",
        "Memory by model",
        "Current state of each engine",
    } <= titles


@pytest.mark.parametrize("name", sorted(raw_dashboards()))
def test_panel_titles_are_unique(name: str) -> None:
    titles = [p["title"] for p in raw_dashboards()[name]["panels"]]
    assert len(titles) == len(set(titles))


def test_model_detail_has_model_and_engine_variables_and_config_annotations() -> None:
    data = by_title("Model detail")
    variables = {v["name"]: v for v in data["templating"]["list"]}
    assert set(variables) == {"model", "engine"}
    assert variables["engine"]["multi"]
    assert variables["engine"]["includeAll"]
    assert "$model" in variables["engine"]["query"]
    (events,) = [a for a in data["annotations"]["list"] if a["name"] == "Config events"]
    assert 'FROM "engine_events"' in events["query"]
    for panel in data["panels"]:
        for target in panel["targets"]:
            assert '"model" =~ /^$model$/' in target["query"], panel["title"]
            assert '"engine" =~ /^$engine$/' in target["query"], panel["title"]


def state_mappings(panel: dict[str, Any]) -> list[dict[str, Any]]:
    mappings = list(panel["fieldConfig"]["defaults"].get("mappings", []))
    for override in panel["fieldConfig"].get("overrides", []):
        for prop in override["properties"]:
            if prop["id"] == "mappings":
                mappings += prop["value"]
    return mappings


def test_state_codes_are_shown_as_names_and_colours() -> None:
    panels = [
        p
        for d in raw_dashboards().values()
        for p in d["panels"]
        if any('"engine_status"' in t["query"] and '"code"' in t["query"] for t in p["targets"])
        and p["type"] in {"state-timeline", "table"}
    ]
    assert len(panels) >= 3
    for panel in panels:
        (mapping,) = state_mappings(panel)
        options = mapping["options"]
        assert {code: option["text"] for code, option in options.items()} == STATE_NAMES
        colours = [option["color"] for option in options.values()]
        assert len(set(colours)) == len(colours), panel["title"]


# The checks must be able to fail: each fault below is one they must report.


def fleet() -> dict[str, Any]:
    return copy.deepcopy(by_title("Fleet overview"))


def model() -> dict[str, Any]:
    return copy.deepcopy(by_title("Model detail"))


def problems(data: dict[str, Any]) -> list[str]:
    return structure_problems(parse_dashboard(data), UIDS)


def test_check_finds_a_repeated_panel_id() -> None:
    data = fleet()
    data["panels"][1]["id"] = data["panels"][0]["id"]
    assert any("panel id" in p for p in problems(data))


def test_check_finds_an_unprovisioned_datasource() -> None:
    data = fleet()
    data["panels"][2]["targets"][0]["datasource"] = {"type": "influxdb", "uid": "elsewhere"}
    assert any("'elsewhere', not provisioned" in p for p in problems(data))


def test_check_finds_an_undefined_variable() -> None:
    data = model()
    data["panels"][0]["targets"][0]["query"] += " AND $slot"
    assert any("undefined variable $slot" in p for p in problems(data))


def test_check_finds_a_variable_used_before_it_is_defined() -> None:
    data = model()
    data["templating"]["list"].reverse()
    assert any("not defined before it" in p for p in problems(data))


def test_check_finds_overlapping_panels() -> None:
    data = fleet()
    data["panels"][1]["gridPos"] = dict(data["panels"][0]["gridPos"], x=2)
    assert any("overlap" in p for p in problems(data))


def test_check_finds_a_panel_outside_the_grid() -> None:
    data = fleet()
    data["panels"][0]["gridPos"]["w"] = 30
    assert any("does not fit the grid" in p for p in problems(data))


def unprovisioned_datasource() -> tuple[dict[str, Any], str]:
    data = fleet()
    panel = data["panels"][2]
    panel["targets"][0]["datasource"] = {"type": "influxdb", "uid": "elsewhere"}
    ref = panel["targets"][0]["refId"]
    return (
        data,
        f"panel {panel['title']!r}: query {ref} refers to datasource 'elsewhere', not provisioned",
    )


def undefined_variable() -> tuple[dict[str, Any], str]:
    data = model()
    panel = data["panels"][0]
    panel["targets"][0]["query"] += " AND $slot"
    ref = panel["targets"][0]["refId"]
    return data, f"panel {panel['title']!r}: query {ref} uses undefined variable $slot"


def repeated_panel_id() -> tuple[dict[str, Any], str]:
    data = fleet()
    first, second = data["panels"][0], data["panels"][1]
    second["id"] = first["id"]
    return (
        data,
        f"panel {second['title']!r}: panel id {first['id']} is also used by {first['title']!r}",
    )


def missing_grid_position() -> tuple[dict[str, Any], str]:
    data = model()
    del data["panels"][0]["gridPos"]
    return data, f"panel {data['panels'][0]['title']!r}: no valid gridPos"


@pytest.mark.parametrize(
    "fault",
    [unprovisioned_datasource, undefined_variable, repeated_panel_id, missing_grid_position],
)
def test_check_command_prints_each_problem_and_exits_1(
    fault: Callable[[], tuple[dict[str, Any], str]],
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    data, problem = fault()
    edited = tmp_path / "edited.json"
    edited.write_text(json.dumps(data, indent=2))
    assert main(["dashboards", "check", str(DASHBOARDS / "fleet-overview.json"), str(edited)]) == 1
    captured = capsys.readouterr()
    assert captured.out.splitlines() == [f"{edited}: {problem}"]
    assert "1 problem(s) in 1 of 2 dashboards" in captured.err


@pytest.mark.parametrize(
    ("content", "error"), [('{"panels": [', "not JSON"), (None, "no such file")]
)
def test_check_command_refuses_a_missing_or_non_json_file_with_exit_2(
    content: str | None, error: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "dashboard.json"
    if content is not None:
        path.write_text(content)
    assert main(["dashboards", "check", str(path)]) == 2
    captured = capsys.readouterr()
    assert captured.out == ""
    (line,) = captured.err.splitlines()
    assert line.startswith(f"enginewatch dashboards check: {path}: {error}")


@pytest.mark.parametrize("name", sorted(raw_dashboards()))
def test_interpolation_leaves_nothing_for_influxdb_to_misread(name: str) -> None:
    dashboard = parse_dashboard(raw_dashboards()[name])
    hour = TimeRange(1_714_564_800_000, 1_714_568_400_000)
    variables = {
        "model": VariableValue("model", "fraud/score v2.1"),
        "engine": VariableValue("engine", (ALL_VALUE,), ("e.1", "e|2")),
        "monitor": VariableValue("monitor", (ALL_VALUE,), ("m.1", "m|2")),
        "field": VariableValue("field", "p/q.r"),
    }
    texts = [q.influxql for q in panel_queries(dashboard, variables, hour, DATASOURCES)]
    texts += [a.influxql for a in annotation_queries(dashboard, variables, hour)]
    texts += [variable_query(v, variables, hour) for v in dashboard.variables]
    for text in texts:
        assert "$" not in text.replace("$/", ""), text
        assert "[[" not in text, text
        assert (
            "time >= 1714564800000ms and time <= 1714568400000ms" in text
            or "time <= 1714568400000ms GROUP BY" in text
            or "SHOW" in text
        ), text
        if '"model" =~' in text:
            assert '"model" =~ /^fraud\\/score v2\\.1$/' in text
        if '"engine" =~' in text:
            assert '"engine" =~ /^(e\\.1|e\\|2)$/' in text
        if '"monitor" =~' in text:
            assert '"monitor" =~ /^(m\\.1|m\\|2)$/' in text
        if '"field" =~' in text:
            assert '"field" =~ /^p\\/q\\.r$/' in text


# Alerts: annotations on both dashboards, the firing ones on Fleet overview.


@pytest.mark.parametrize("name", sorted(raw_dashboards()))
def test_alerts_are_annotations_firing_red_and_resolved_green(name: str) -> None:
    annotations = {a["name"]: a for a in raw_dashboards()[name]["annotations"]["list"]}
    firing, resolved = annotations["Alerts firing"], annotations["Alerts resolved"]
    assert (firing["iconColor"], resolved["iconColor"]) == ("red", "green")
    assert '"firing" = 1' in firing["query"]
    assert "\"state\" = 'resolved'" in resolved["query"]
    for annotation in (firing, resolved):
        assert 'FROM "alerts"' in annotation["query"]
        assert annotation["textColumn"] == "alertname"
        assert {"state", "severity", "engine"} <= set(annotation["tagsColumn"].split(","))
        if name == "model-detail.json":
            # By engine alone: every alert has one (a rule's group_by must hold
            # it), and one grouped by engine only (EngineSilent) has no model tag.
            assert annotation["query"].split(" WHERE ")[1].startswith('"engine" =~ /^$engine$/ AND')
            assert '"model" =~' not in annotation["query"]


def test_fleet_overview_has_a_table_of_firing_alerts() -> None:
    (panel,) = [p for p in by_title("Fleet overview")["panels"] if p["title"] == "Firing alerts"]
    assert panel["type"] == "table"
    (target,) = panel["targets"]
    assert target["resultFormat"] == "table"
    assert 'last("firing")' in target["query"]
    assert (
        target["query"]
        .rstrip()
        .endswith('WHERE "firing" = 1 GROUP BY "alertname", "severity", "engine", "model"')
    )
    names = {
        o["matcher"]["options"]: next(
            p["value"] for p in o["properties"] if p["id"] == "displayName"
        )
        for o in panel["fieldConfig"]["overrides"]
    }
    assert names == {
        "Time": "Since",
        "alertname": "Alert",
        "engine": "Engine",
        "model": "Model",
        "severity": "Severity",
        "state": "State",
        "value": "Value",
    }
    (severity,) = [
        o for o in panel["fieldConfig"]["overrides"] if o["matcher"]["options"] == "severity"
    ]
    (mapping,) = [p["value"][0] for p in severity["properties"] if p["id"] == "mappings"]
    assert {k: v["color"] for k, v in mapping["options"].items()} == {
        "critical": "red",
        "warning": "orange",
        "info": "blue",
    }


def panel_named(data: dict[str, Any], title: str) -> dict[str, Any]:
    panels: list[dict[str, Any]] = [p for p in data["panels"] if p["title"] == title]
    (panel,) = panels
    return panel


def annotation_named(data: dict[str, Any], name: str) -> dict[str, Any]:
    found: list[dict[str, Any]] = [a for a in data["annotations"]["list"] if a["name"] == name]
    (annotation,) = found
    return annotation


def test_check_finds_a_table_query_that_is_not_a_table() -> None:
    data = fleet()
    panel_named(data, "Firing alerts")["targets"][0]["resultFormat"] = "time_series"
    assert problems(data) == [
        "Fleet overview: panel 'Firing alerts': query A has resultFormat 'time_series': "
        "a table needs 'table'"
    ]


def test_check_finds_an_override_for_a_column_the_query_lost() -> None:
    data = fleet()
    target = panel_named(data, "Firing alerts")["targets"][0]
    target["query"] = target["query"].replace('SELECT "state", "value" FROM', 'SELECT "value" FROM')
    assert problems(data) == [
        "Fleet overview: panel 'Firing alerts': an override names column 'state', not among "
        "Time, alertname, engine, model, severity, value"
    ]


def test_check_finds_a_sort_by_a_column_not_shown() -> None:
    data = fleet()
    panel_named(data, "Firing alerts")["options"]["sortBy"] = [{"displayName": "Time"}]
    (problem,) = problems(data)
    assert "panel 'Firing alerts': sorts by 'Time', not among its columns Alert, Engine" in problem


def test_check_finds_an_annotation_without_the_time_filter_or_its_text_column() -> None:
    data = model()
    firing = annotation_named(data, "Alerts firing")
    firing["query"] = firing["query"].replace(" AND $timeFilter", "")
    annotation_named(data, "Alerts resolved")["tagsColumn"] = "state,rule"
    assert problems(data) == [
        "Model detail: annotation 'Alerts firing': query has no $timeFilter",
        "Model detail: annotation 'Alerts resolved': tagsColumn 'rule' is not among its "
        "query's columns alertname, engine, model, severity, state, value",
    ]


def test_model_quality_filters_by_model_and_monitor_and_draws_a_field() -> None:
    data = by_title("Model quality")
    variables = {v["name"]: v for v in data["templating"]["list"]}
    assert list(variables) == ["model", "monitor", "field"]
    assert variables["monitor"]["multi"]
    assert variables["monitor"]["includeAll"]
    assert "$model" in variables["monitor"]["query"]
    assert {"$model", "$monitor"} <= set(re.findall(r"\$\w+", variables["field"]["query"]))
    assert not variables["field"]["multi"]  # a band and a heatmap show one field
    panels = {p["title"]: p for p in data["panels"]}
    for panel in data["panels"]:
        for target in panel["targets"]:
            assert '"model" =~ /^$model$/' in target["query"], panel["title"]
            assert '"monitor" =~ /^$monitor$/' in target["query"], panel["title"]
    for title in ("Quantiles of $field", "Histogram of $field"):
        (target,) = panels[title]["targets"]
        assert '"field" =~ /^$field$/' in target["query"]
    # The stream's own drift figures are field `*`; the fields' are every other.
    assert "\"field\" = '*'" in panels["Drift share by stream"]["targets"][0]["query"]
    assert "\"field\" != '*'" in panels["Drift statistic by field"]["targets"][0]["query"]
    # Histogram buckets as Grafana's heatmap of time series buckets (upper edges).
    heatmap = panels["Histogram of $field"]
    assert heatmap["type"] == "heatmap"
    assert heatmap["options"]["calculate"] is False
    assert heatmap["options"]["rowsFrame"]["layout"] == "le"
    assert heatmap["targets"][0]["alias"] == "$tag_bucket"
    # Quantile bands: p95 down to p5, p75 down to p25.
    overrides = {
        o["matcher"]["options"]: {p["id"]: p["value"] for p in o["properties"]}
        for o in panels["Quantiles of $field"]["fieldConfig"]["overrides"]
    }
    assert overrides["p95"]["custom.fillBelowTo"] == "p5"
    assert overrides["p75"]["custom.fillBelowTo"] == "p25"
    drifted = panels["Drifted fields over time"]
    (mapping,) = drifted["fieldConfig"]["defaults"]["mappings"]
    assert {k: v["text"] for k, v in mapping["options"].items()} == {"0": "stable", "1": "drifted"}
