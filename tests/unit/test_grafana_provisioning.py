"""Grafana's provisioning files: the InfluxQL datasource and the dashboard provider."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import yaml

from enginewatch.core.settings import variables
from enginewatch.dashboards.dashboards import load_dashboards

ROOT = Path(__file__).resolve().parents[2]
PROVISIONING = ROOT / "grafana" / "provisioning"


def read(path: Path) -> dict[str, Any]:
    data = yaml.safe_load(path.read_text())
    assert isinstance(data, dict)
    return data


def test_provisioning_follows_grafanas_layout() -> None:
    assert sorted(p.name for p in PROVISIONING.iterdir()) == ["dashboards", "datasources"]
    for folder in PROVISIONING.iterdir():
        for path in folder.iterdir():
            assert path.suffix in {".yaml", ".yml"}
            assert read(path)["apiVersion"] == 1


def datasource() -> dict[str, Any]:
    (source,) = read(PROVISIONING / "datasources" / "enginewatch.yaml")["datasources"]
    assert isinstance(source, dict)
    return source


def test_datasource_is_influxql_with_a_token_header() -> None:
    source = datasource()
    assert source["type"] == "influxdb"
    assert source["access"] == "proxy"
    assert source["jsonData"]["version"] == "InfluxQL"
    # InfluxDB 2.x serves InfluxQL on its v1 API with `Authorization: Token ...`.
    assert source["jsonData"]["httpHeaderName1"] == "Authorization"
    assert source["secureJsonData"]["httpHeaderValue1"].startswith("Token ${")


def test_datasource_reads_its_connection_from_enginewatch_settings() -> None:
    lines = (PROVISIONING / "datasources" / "enginewatch.yaml").read_text().splitlines()
    text = "\n".join(line for line in lines if not line.lstrip().startswith("#"))
    names = set(re.findall(r"\$\{?(\w+)\}?", text))
    assert names == {
        "ENGINEWATCH_INFLUX_URL",
        "ENGINEWATCH_INFLUX_BUCKET",
        "ENGINEWATCH_INFLUX_TOKEN",
    }
    assert names <= set(variables())


def test_every_dashboard_refers_to_the_provisioned_datasource() -> None:
    uid = datasource()["uid"]
    for dashboard in load_dashboards(ROOT / "grafana" / "dashboards"):
        assert {t.datasource_uid for _, t in dashboard.queries()} == {uid}


def test_dashboard_provider_reads_files_from_one_folder() -> None:
    (provider,) = read(PROVISIONING / "dashboards" / "enginewatch.yaml")["providers"]
    assert provider["type"] == "file"
    assert provider["options"]["path"].startswith("/")
    assert provider["disableDeletion"] is True
