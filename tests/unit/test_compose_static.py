"""The compose deployment, checked without a Docker engine: what parses, exists and matches."""

from __future__ import annotations

import json
import os
import re
import tomllib
from pathlib import Path, PurePosixPath
from typing import Any

import pytest
import yaml

from enginewatch.core.settings import ENV_PREFIX, variables

ROOT = Path(__file__).resolve().parents[2]
COMPOSE_DIR = ROOT / "compose"
COMPOSE_FILE = COMPOSE_DIR / "docker-compose.yml"
DOCKERFILE = COMPOSE_DIR / "Dockerfile"
ENV_EXAMPLE = COMPOSE_DIR / ".env.example"
SUBSTITUTION = re.compile(r"\$\{(\w+)(?:(:?[-?])([^}]*))?\}")
# A version, with the `v` some projects tag with (prom/alertmanager:v0.35.0).
PINNED = re.compile(r"^[\w./-]+:v?\d+(\.\d+)+([-.\w]*)?$")


def compose() -> dict[str, Any]:
    data = yaml.safe_load(COMPOSE_FILE.read_text())
    assert isinstance(data, dict)
    return data


def services() -> dict[str, dict[str, Any]]:
    found: dict[str, dict[str, Any]] = compose()["services"]
    return found


def environment(service: dict[str, Any]) -> dict[str, str]:
    env = service.get("environment") or {}
    if isinstance(env, list):
        env = dict(item.split("=", 1) for item in env)
    return {str(k): str(v) for k, v in env.items()}


def test_compose_file_parses_with_the_expected_services() -> None:
    assert set(services()) == {
        "kafka",
        "influxdb",
        "grafana",
        "agents",
        "archiver",
        "alerts",
        "alertmanager",
        "simulator",
    }
    assert services()["simulator"]["profiles"] == ["demo"]
    for name, service in services().items():
        if name != "simulator":
            assert "profiles" not in service, name


def test_every_image_is_pinned_to_a_version() -> None:
    for name, service in services().items():
        image = service["image"]
        assert PINNED.match(image), f"{name}: {image} is not pinned to a version"
        assert not image.endswith(":latest")
    (base,) = re.findall(r"^FROM\s+(\S+)", DOCKERFILE.read_text(), re.MULTILINE)
    assert PINNED.match(base), base


def test_kafka_runs_kraft_from_the_official_image() -> None:
    kafka = services()["kafka"]
    assert kafka["image"].startswith("apache/kafka:")
    env = environment(kafka)
    assert env["KAFKA_PROCESS_ROLES"] == "broker,controller"
    assert "zookeeper" not in json.dumps(kafka).lower()


def test_influxdb_is_initialised_with_org_bucket_token_and_a_dbrp_mapping() -> None:
    influx = services()["influxdb"]
    assert influx["image"].startswith("influxdb:2.7.")
    env = environment(influx)
    assert env["DOCKER_INFLUXDB_INIT_MODE"] == "setup"
    for key in ("ORG", "BUCKET", "ADMIN_TOKEN", "USERNAME", "PASSWORD"):
        assert env[f"DOCKER_INFLUXDB_INIT_{key}"], key
    (script,) = [v for v in influx["volumes"] if "docker-entrypoint-initdb.d" in v]
    host = COMPOSE_DIR / script.split(":")[0]
    assert host.name.endswith(".sh")
    # The image runs only executable *.sh files of the init directory.
    assert os.access(host, os.X_OK)
    text = host.read_text()
    assert "influx v1 dbrp create" in text
    assert "DOCKER_INFLUXDB_INIT_BUCKET_ID" in text


def test_the_archiver_and_grafana_share_the_influx_token_and_bucket() -> None:
    archiver = environment(services()["archiver"])
    grafana = environment(services()["grafana"])
    influx = environment(services()["influxdb"])
    token = influx["DOCKER_INFLUXDB_INIT_ADMIN_TOKEN"]
    assert archiver["ENGINEWATCH_INFLUX_TOKEN"] == grafana["ENGINEWATCH_INFLUX_TOKEN"] == token
    bucket = influx["DOCKER_INFLUXDB_INIT_BUCKET"]
    assert archiver["ENGINEWATCH_INFLUX_BUCKET"] == grafana["ENGINEWATCH_INFLUX_BUCKET"] == bucket
    assert archiver["ENGINEWATCH_INFLUX_API"] == "v2"


def host_path(spec: str) -> Path | None:
    source = spec.split(":")[0]
    if source.startswith((".", "/")):
        return (COMPOSE_DIR / source).resolve()
    return None  # a named volume


def test_every_mounted_file_exists_and_every_named_volume_is_declared() -> None:
    declared = set(compose()["volumes"])
    used = set()
    for name, service in services().items():
        for spec in service.get("volumes", []):
            path = host_path(spec)
            if path is None:
                used.add(spec.split(":")[0])
            else:
                assert path.exists(), f"{name}: {spec} mounts a missing path"
    assert used == declared


def test_grafana_mounts_provisioning_where_the_provider_looks() -> None:
    grafana = services()["grafana"]
    mounts = {spec.split(":")[1]: host_path(spec) for spec in grafana["volumes"]}
    assert mounts["/etc/grafana/provisioning"] == ROOT / "grafana" / "provisioning"
    provider = yaml.safe_load(
        (ROOT / "grafana/provisioning/dashboards/enginewatch.yaml").read_text()
    )
    path = provider["providers"][0]["options"]["path"]
    assert mounts[path] == ROOT / "grafana" / "dashboards"
    home = environment(grafana)["GF_DASHBOARDS_DEFAULT_HOME_DASHBOARD_PATH"]
    assert (ROOT / "grafana" / "dashboards" / PurePosixPath(home).relative_to(path)).is_file()


def test_the_agents_engine_map_is_mounted_where_the_setting_points() -> None:
    agents = services()["agents"]
    default = SUBSTITUTION.match(environment(agents)["ENGINEWATCH_ENGINE_MAP"])
    assert default is not None
    mounts = {spec.split(":")[1]: host_path(spec) for spec in agents["volumes"]}
    mapped = mounts[default.group(3)]
    assert mapped is not None
    data = json.loads(mapped.read_text())
    assert data
    assert all(isinstance(k, str) and isinstance(v, str) for k, v in data.items())


def all_texts() -> dict[str, str]:
    return {
        "docker-compose.yml": COMPOSE_FILE.read_text(),
        ".env.example": ENV_EXAMPLE.read_text(),
    }


def test_every_enginewatch_variable_is_a_setting_the_code_reads() -> None:
    known = variables()
    names = set()
    for text in all_texts().values():
        names |= set(re.findall(r"\b(ENGINEWATCH_\w+)", text))
    for service in services().values():
        names |= {k for k in environment(service) if k.startswith(ENV_PREFIX)}
    assert names
    unknown = sorted(n for n in names if n not in known)
    assert unknown == []


def test_every_substituted_variable_is_documented_in_env_example() -> None:
    documented = set(re.findall(r"^(\w+)=", ENV_EXAMPLE.read_text(), re.MULTILINE))
    used = {m.group(1) for m in SUBSTITUTION.finditer(COMPOSE_FILE.read_text())}
    assert used - documented == set()
    assert documented - used == set()


SECRETS = {"INFLUXDB_ADMIN_PASSWORD", "GRAFANA_ADMIN_PASSWORD", "ENGINEWATCH_INFLUX_TOKEN"}


def is_secret(name: str) -> bool:
    return "PASSWORD" in name or "TOKEN" in name


def test_secrets_have_no_default_in_the_compose_file() -> None:
    checked: set[str] = set()
    for match in SUBSTITUTION.finditer(COMPOSE_FILE.read_text()):
        name, operator = match.group(1), match.group(2)
        if is_secret(name):
            assert operator == ":?", f"{name} must be required, not defaulted"
            checked.add(name)
    assert checked == SECRETS
    # Every password or token a service reads is one of them, substituted whole.
    read: dict[str, str] = {}
    for service_name, service in services().items():
        for key, value in environment(service).items():
            if is_secret(key):
                substituted = SUBSTITUTION.fullmatch(value)
                assert substituted is not None, f"{service_name}: {key} is not substituted"
                read[f"{service_name}.{key}"] = substituted.group(1)
    assert read == {
        "influxdb.DOCKER_INFLUXDB_INIT_PASSWORD": "INFLUXDB_ADMIN_PASSWORD",
        "influxdb.DOCKER_INFLUXDB_INIT_ADMIN_TOKEN": "ENGINEWATCH_INFLUX_TOKEN",
        "grafana.ENGINEWATCH_INFLUX_TOKEN": "ENGINEWATCH_INFLUX_TOKEN",
        "grafana.GF_SECURITY_ADMIN_PASSWORD": "GRAFANA_ADMIN_PASSWORD",
        "archiver.ENGINEWATCH_INFLUX_TOKEN": "ENGINEWATCH_INFLUX_TOKEN",
    }


def test_restart_policies_and_health_checks() -> None:
    for name, service in services().items():
        if name != "simulator":
            assert service["restart"] == "unless-stopped", name
            assert service["healthcheck"]["test"][0] == "CMD", name
        for dependency, condition in (service.get("depends_on") or {}).items():
            assert dependency in services()
            assert condition["condition"] == "service_healthy"
            assert "healthcheck" in services()[dependency]


@pytest.mark.parametrize("name", ["agents", "archiver", "alerts"])
def test_workers_serve_the_readiness_their_health_check_reads(name: str) -> None:
    service = services()[name]
    port = service["environment"]["ENGINEWATCH_METRICS_PORT"]
    assert f"127.0.0.1:{port}/readyz" in " ".join(service["healthcheck"]["test"])


def pyproject() -> dict[str, Any]:
    return tomllib.loads((ROOT / "pyproject.toml").read_text())


def dockerfile_copies() -> list[str]:
    sources = []
    for line in DOCKERFILE.read_text().splitlines():
        parts = line.split()
        if parts and parts[0] == "COPY" and not any(p.startswith("--from") for p in parts):
            sources += [p for p in parts[1:-1] if not p.startswith("--")]
    return sources


def test_the_image_builds_from_the_repository_root() -> None:
    for name in ("agents", "archiver", "alerts", "simulator"):
        build = services()[name]["build"]
        context = (COMPOSE_DIR / build["context"]).resolve()
        assert context == ROOT
        assert (context / build["dockerfile"]).resolve() == DOCKERFILE
        assert services()[name]["image"] == services()["agents"]["image"]
    for source in dockerfile_copies():
        assert (ROOT / source).exists(), f"the Dockerfile copies a missing {source}"


def test_the_dockerfile_installs_the_package_and_its_entry_point() -> None:
    text = DOCKERFILE.read_text()
    copied = {s.rstrip("/") for s in dockerfile_copies()}
    project = pyproject()
    assert "pyproject.toml" in copied
    assert project["project"]["readme"] in copied
    for pattern in project["tool"]["setuptools"]["packages"]["find"]["include"]:
        package = pattern.rstrip("*")
        assert package in copied, f"package {package} is not copied"
    assert re.search(r"^RUN pip install \.(\s|$)", text, re.MULTILINE)
    (entrypoint,) = re.findall(r"^ENTRYPOINT\s+(\[.*\])", text, re.MULTILINE)
    assert json.loads(entrypoint) == ["enginewatch"]
    assert "enginewatch" in project["project"]["scripts"]
    assert "enginewatch --help" in text  # the build fails when the entry point does not run


def test_the_dockerfile_ignore_file_lets_the_copied_paths_through() -> None:
    ignore = (COMPOSE_DIR / "Dockerfile.dockerignore").read_text().splitlines()
    allowed = {line[1:].rstrip("/") for line in ignore if line.startswith("!")}
    assert {s.rstrip("/") for s in dockerfile_copies()} <= allowed


def test_the_alerts_worker_reads_the_mounted_rules_and_tells_alertmanager() -> None:
    alerts = services()["alerts"]
    env = environment(alerts)
    rules = SUBSTITUTION.match(env["ENGINEWATCH_ALERT_RULES"])
    assert rules is not None
    mounts = {spec.split(":")[1]: host_path(spec) for spec in alerts["volumes"]}
    assert mounts[rules.group(3)] == ROOT / "alerts" / "default-rules.yaml"
    url = SUBSTITUTION.match(env["ENGINEWATCH_ALERTMANAGER_URL"])
    assert url is not None
    assert url.group(3) == "http://alertmanager:9093"
    assert alerts["depends_on"]["alertmanager"] == {"condition": "service_healthy"}


def test_alertmanager_runs_the_pinned_release_with_its_mounted_configuration() -> None:
    alertmanager = services()["alertmanager"]
    assert alertmanager["image"] == "prom/alertmanager:v0.35.0"
    (config,) = [a for a in alertmanager["command"] if a.startswith("--config.file=")]
    mounts = {spec.split(":")[1]: host_path(spec) for spec in alertmanager["volumes"]}
    path = mounts[config.split("=", 1)[1]]
    assert path is not None
    data = yaml.safe_load(path.read_text())
    # Every route's receiver is defined: Alertmanager refuses the file otherwise.
    names = {receiver["name"] for receiver in data["receivers"]}
    assert data["route"]["receiver"] in names
    assert "/-/healthy" in " ".join(alertmanager["healthcheck"]["test"])


def test_the_demo_fleet_has_its_incidents_for_the_alerts() -> None:
    assert "--incidents" in services()["simulator"]["command"]
