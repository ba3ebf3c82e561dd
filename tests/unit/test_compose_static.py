"""The compose deployment, checked without a Docker engine: what parses, exists and matches."""

from __future__ import annotations

import fnmatch
import functools
import json
import os
import re
import shlex
import shutil
import subprocess
import tomllib
from collections.abc import Iterator
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
INIT_TOKENS = COMPOSE_DIR / "influxdb" / "init-tokens.sh"
TOKEN_WRAPPER = COMPOSE_DIR / "influxdb" / "with-influx-token.sh"
SCRAM_SCRIPT = COMPOSE_DIR / "kafka" / "add-scram-user.sh"
SUBSTITUTION = re.compile(r"\$\{(\w+)(?:(:?[-?])([^}]*))?\}")
# A version, with the `v` some projects tag with (prom/alertmanager:v0.35.0).
PINNED = re.compile(r"^[\w./-]+:v?\d+(\.\d+)+([-.\w]*)?$")


@functools.cache
def compose() -> dict[str, Any]:
    """The parsed compose file, parsed once (the tests only read it)."""
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


def volumes_of(service: dict[str, Any]) -> list[tuple[str, str, str]]:
    """(source, target, mode) of each volume in the short syntax compose files use here."""
    found = []
    for spec in service.get("volumes", []):
        source, target, *mode = spec.split(":")
        found.append((source, target, mode[0] if mode else "rw"))
    return found


def strings(node: Any) -> Iterator[str]:
    """Every string of a parsed YAML document: keys, values, list items."""
    if isinstance(node, dict):
        for key, value in node.items():
            yield str(key)
            yield from strings(value)
    elif isinstance(node, list):
        for item in node:
            yield from strings(item)
    elif node is not None:
        yield str(node)


def shell_lines(path: Path) -> list[str]:
    """A script's logical lines: comments dropped, lines continued with a
    backslash or a pipe joined into one."""
    lines, pending = [], ""
    for line in path.read_text().splitlines():
        stripped = line.strip()
        if not pending and (not stripped or stripped.startswith("#")):
            continue
        if stripped.endswith("\\"):
            pending += stripped[:-1] + " "
        elif stripped.endswith("|"):
            pending += stripped + " "
        else:
            lines.append(pending + stripped)
            pending = ""
    return lines


def commands(path: Path, program: str) -> list[list[str]]:
    """The words of each command of a script that runs `program` (by name or path)."""
    runs = re.compile(rf"^(\S*/)?{re.escape(program)}\b")
    return [shlex.split(line) for line in shell_lines(path) if runs.match(line)]


def test_compose_file_parses_with_the_expected_services() -> None:
    assert set(services()) == {
        "kafka",
        "kafka-init",
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
    assert services()["kafka-init"]["image"] == kafka["image"]


def kafka_properties() -> dict[str, str]:
    """The broker's properties, as the image makes them of its KAFKA_* variables
    (KafkaDockerWrapper: `_` is `.`, `__` is `_`, `___` is `-`)."""
    props = {}
    for key, value in environment(services()["kafka"]).items():
        if key.startswith("KAFKA_") and not key.endswith("_OPTS"):
            name = key.removeprefix("KAFKA_").lower().replace("_", ".")
            props[name.replace("...", "-").replace("..", "_")] = value
    return props


def kafka_listeners() -> dict[str, tuple[str, str]]:
    """Listener name -> (port, security protocol)."""
    props = kafka_properties()
    protocols = dict(pair.split(":") for pair in props["listener.security.protocol.map"].split(","))
    listeners = {}
    for listener in props["listeners"].split(","):
        name, address = listener.split("://")
        listeners[name] = (address.rsplit(":", 1)[1], protocols[name])
    return listeners


def published_ports(service: dict[str, Any]) -> dict[str, str]:
    """Container port -> the host side of its mapping."""
    published = {}
    for spec in service.get("ports", []):
        host, container = str(spec).rsplit(":", 1)
        published[container.split("/")[0]] = host
    return published


def host_listener() -> str:
    (port,) = published_ports(services()["kafka"])
    (name,) = [name for name, (p, _) in kafka_listeners().items() if p == port]
    return name


def test_kafka_publishes_only_its_sasl_listener_on_the_host() -> None:
    kafka = services()["kafka"]
    # The host network would publish every listener, the plaintext ones too.
    assert "network_mode" not in kafka
    listeners = kafka_listeners()
    published = published_ports(kafka)
    assert published, "Kafka publishes no port: engines outside the stack cannot reach it"
    for port in published:
        names = [name for name, (p, _) in listeners.items() if p == port]
        assert names, f"the published port {port} is no listener's"
        for name in names:
            assert listeners[name][1].startswith("SASL_"), f"{name} ({port}) is published"
    for name, (port, protocol) in listeners.items():
        if not protocol.startswith("SASL_"):
            assert port not in published, f"{name} is {protocol} and published on the host"
    # It is advertised at the address the host publishes it on.
    name = host_listener()
    (advertised,) = [
        a for a in kafka_properties()["advertised.listeners"].split(",") if a.startswith(name)
    ]
    (host_port,) = published.values()
    assert advertised.endswith(":" + host_port)


def test_kafka_host_listener_logs_in_with_scram_sha_512() -> None:
    props = kafka_properties()
    name = host_listener()
    # Named SASL_*, the image's start script would want a JAAS file in KAFKA_OPTS.
    assert not name.startswith("SASL_")
    mechanisms = props.get(f"listener.name.{name.lower()}.sasl.enabled.mechanisms") or props.get(
        "sasl.enabled.mechanisms"
    )
    assert mechanisms == "SCRAM-SHA-512"
    jaas = props[f"listener.name.{name.lower()}.scram-sha-512.sasl.jaas.config"]
    assert jaas.startswith("org.apache.kafka.common.security.scram.ScramLoginModule required")
    # The broker's side holds no credentials: the users are in the KRaft metadata.
    assert "password" not in jaas.lower()
    assert "username" not in jaas.lower()
    # The broker itself and the services inside keep the plaintext listener,
    # so none of them holds a password.
    assert kafka_listeners()[props["inter.broker.listener.name"]][1] == "PLAINTEXT"
    broker = environment(services()["agents"])["ENGINEWATCH_BROKER"].removeprefix("kafka://")
    assert f"PLAINTEXT://{broker}" in props["advertised.listeners"].split(",")


def interpreter(path: Path) -> str:
    """The program a script's first line names."""
    first = path.read_text().splitlines()[0]
    assert first.startswith("#!/"), f"{path.name} has no #! line"
    return first[2:].split()[-1].rsplit("/", 1)[-1]


def test_kafka_init_creates_the_scram_user_from_env() -> None:
    init = services()["kafka-init"]
    env = environment(init)
    assert init["depends_on"] == {"kafka": {"condition": "service_healthy"}}
    password = SUBSTITUTION.fullmatch(env["SCRAM_PASSWORD"])
    assert password is not None
    assert password.group(1) == "KAFKA_CLIENT_PASSWORD"
    assert password.group(2) == ":?"
    username = SUBSTITUTION.fullmatch(env["SCRAM_USERNAME"])
    assert username is not None
    assert username.group(1) == "KAFKA_CLIENT_USERNAME"
    # It logs in nowhere itself: it talks to the internal plaintext listener.
    internal = [
        a.split("://")[1]
        for a in kafka_properties()["advertised.listeners"].split(",")
        if kafka_listeners()[a.split("://")[0]][1] == "PLAINTEXT"
    ]
    assert env["BOOTSTRAP_SERVER"] in internal
    # Its command is the mounted script, run by the shell the script is for.
    shell, script = init["entrypoint"]
    (source,) = [s for s, target, _ in volumes_of(init) if target == script]
    assert (COMPOSE_DIR / source).resolve() == SCRAM_SCRIPT
    assert PurePosixPath(shell).name == interpreter(SCRAM_SCRIPT)
    (configs,) = commands(SCRAM_SCRIPT, "kafka-configs")
    assert configs[0].endswith("/kafka-configs.sh")
    assert "--alter" in configs
    assert configs[configs.index("--entity-type") + 1] == "users"
    assert configs[configs.index("--entity-name") + 1] == "$SCRAM_USERNAME"
    assert configs[configs.index("--bootstrap-server") + 1] == "$BOOTSTRAP_SERVER"
    # The password goes in a file: on the command line, the host's process list shows it.
    assert "--add-config-file" in configs
    assert "--add-config" not in configs
    assert not any("PASSWORD" in word for word in configs)
    mechanism = kafka_properties()["sasl.enabled.mechanisms"]
    assert f"{mechanism}=iterations=" in SCRAM_SCRIPT.read_text()
    assert "${SCRAM_PASSWORD" in SCRAM_SCRIPT.read_text()


def init_scripts() -> dict[str, Path]:
    """InfluxDB's first-start scripts: name in the init directory -> file here."""
    return {
        PurePosixPath(target).name: (COMPOSE_DIR / source).resolve()
        for source, target, _ in volumes_of(services()["influxdb"])
        if PurePosixPath(target).parent == PurePosixPath("/docker-entrypoint-initdb.d")
    }


def test_influxdb_is_initialised_with_org_bucket_token_and_a_dbrp_mapping() -> None:
    influx = services()["influxdb"]
    assert influx["image"].startswith("influxdb:2.7.")
    env = environment(influx)
    assert env["DOCKER_INFLUXDB_INIT_MODE"] == "setup"
    for key in ("ORG", "BUCKET", "ADMIN_TOKEN", "USERNAME", "PASSWORD"):
        assert env[f"DOCKER_INFLUXDB_INIT_{key}"], key
    scripts = init_scripts()
    assert set(scripts) == {"init-dbrp.sh", "init-tokens.sh"}
    for name, host in scripts.items():
        assert host.name == name
        # The image runs only executable *.sh files of the init directory.
        assert os.access(host, os.X_OK), name
    text = scripts["init-dbrp.sh"].read_text()
    assert "influx v1 dbrp create" in text
    assert "DOCKER_INFLUXDB_INIT_BUCKET_ID" in text
    assert scripts["init-tokens.sh"] == INIT_TOKENS


def token_creations() -> dict[str, list[str]]:
    """The words of each `influx auth create` of init-tokens.sh, by the file it saves to."""
    created = {}
    for words in commands(INIT_TOKENS, "influx auth create"):
        assert words[:3] == ["influx", "auth", "create"]
        pipe = words.index("|")
        assert words[pipe + 1] == "save_token", "the token is not saved"
        created[words[pipe + 2]] = words[:pipe]
    return created


def flags(words: list[str]) -> set[str]:
    return {word.split("=")[0] for word in words if word.startswith("--")}


def test_init_tokens_creates_a_write_only_and_a_read_only_token_for_the_bucket() -> None:
    created = token_creations()
    assert set(created) == {"$WRITE_TOKEN_FILE", "$READ_TOKEN_FILE"}
    # Beside these, the flags say which org and user and how to print: none grants anything.
    neutral = {"--json", "--org", "--user", "--description"}
    write, read = created["$WRITE_TOKEN_FILE"], created["$READ_TOKEN_FILE"]
    assert flags(write) - neutral == {"--write-bucket"}
    assert flags(read) - neutral == {"--read-bucket"}
    text = INIT_TOKENS.read_text()
    assert "DOCKER_INFLUXDB_INIT_BUCKET_ID" in text
    for words, flag in ((write, "--write-bucket"), (read, "--read-bucket")):
        assert words.count(flag) == 1
        assert words[words.index(flag) + 1] == "$bucket_id"
    # The files it writes are the ones the compose file gives it, one each.
    env = environment(services()["influxdb"])
    assert {variable.removeprefix("$") for variable in created} <= set(env)
    assert env["WRITE_TOKEN_FILE"] != env["READ_TOKEN_FILE"]


def test_the_archiver_gets_the_write_token_and_grafana_the_read_token() -> None:
    influx = services()["influxdb"]
    env = environment(influx)

    def volume_holding(service: dict[str, Any], path: str) -> tuple[str, str, str]:
        (mount,) = [
            m for m in volumes_of(service) if PurePosixPath(path).parent == PurePosixPath(m[1])
        ]
        return mount

    write_volume, _, _ = volume_holding(influx, env["WRITE_TOKEN_FILE"])
    read_volume, _, _ = volume_holding(influx, env["READ_TOKEN_FILE"])
    assert write_volume in compose()["volumes"]
    assert read_volume in compose()["volumes"]
    assert write_volume != read_volume
    entrypoints = {"archiver": "enginewatch", "grafana": "/run.sh"}  # each image's own
    for name, volume, other, created in (
        ("archiver", write_volume, read_volume, env["WRITE_TOKEN_FILE"]),
        ("grafana", read_volume, write_volume, env["READ_TOKEN_FILE"]),
    ):
        service = services()[name]
        service_env = environment(service)
        # The token is read from its file at start, never given in the environment.
        assert "ENGINEWATCH_INFLUX_TOKEN" not in service_env, name
        token_file = service_env["INFLUX_TOKEN_FILE"]
        source, _, mode = volume_holding(service, token_file)
        assert source == volume, f"{name} reads its token from {source}"
        assert mode == "ro", name
        assert PurePosixPath(token_file).name == PurePosixPath(created).name
        sources = {s for s, _, _ in volumes_of(service)}
        assert other not in sources, f"{name} mounts the other token too"
        assert "influxdb-config" not in sources, f"{name} mounts the CLI's operator token"
        shell, wrapper, command = service["entrypoint"]
        (host,) = [s for s, target, _ in volumes_of(service) if target == wrapper]
        assert (COMPOSE_DIR / host).resolve() == TOKEN_WRAPPER, name
        assert PurePosixPath(shell).name == interpreter(TOKEN_WRAPPER)
        assert command == entrypoints[name], name
    # Only InfluxDB and its one service see each token.
    for volume, users in (
        (write_volume, {"influxdb", "archiver"}),
        (read_volume, {"influxdb", "grafana"}),
    ):
        mounted_by = {n for n, s in services().items() if volume in {m[0] for m in volumes_of(s)}}
        assert mounted_by == users, volume
    # The wrapper sets the one variable the archiver and the datasource read, and runs the service.
    text = TOKEN_WRAPPER.read_text()
    assert "ENGINEWATCH_INFLUX_TOKEN" in variables()
    assert (
        "${ENGINEWATCH_INFLUX_TOKEN}"
        in (ROOT / "grafana/provisioning/datasources/enginewatch.yaml").read_text()
    )
    assert "${INFLUX_TOKEN_FILE" in text
    assert re.search(r'^ENGINEWATCH_INFLUX_TOKEN=\$\(cat "\$file"\)$', text, re.MULTILINE)
    assert re.search(r"^export ENGINEWATCH_INFLUX_TOKEN$", text, re.MULTILINE)
    assert text.rstrip().endswith('exec "$@"')


def test_only_influxdb_holds_the_operator_token() -> None:
    influx = environment(services()["influxdb"])
    operator = SUBSTITUTION.fullmatch(influx["DOCKER_INFLUXDB_INIT_ADMIN_TOKEN"])
    assert operator is not None
    name = operator.group(1)
    for service_name, service in services().items():
        if service_name == "influxdb":
            continue
        for text in strings(service):
            assert name not in text, f"{service_name} is given the operator token"
        assert "influxdb-config" not in {m[0] for m in volumes_of(service)}, service_name
    # Named apart from enginewatch's settings, it is not taken for the workers' token.
    assert not name.startswith(ENV_PREFIX)


def test_the_archiver_and_grafana_share_the_bucket() -> None:
    archiver = environment(services()["archiver"])
    grafana = environment(services()["grafana"])
    influx = environment(services()["influxdb"])
    bucket = influx["DOCKER_INFLUXDB_INIT_BUCKET"]
    assert archiver["ENGINEWATCH_INFLUX_BUCKET"] == grafana["ENGINEWATCH_INFLUX_BUCKET"] == bucket
    assert archiver["ENGINEWATCH_INFLUX_ORG"] == influx["DOCKER_INFLUXDB_INIT_ORG"]
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


SECRETS = {
    "KAFKA_CLIENT_PASSWORD",
    "INFLUXDB_ADMIN_PASSWORD",
    "INFLUXDB_ADMIN_TOKEN",
    "GRAFANA_ADMIN_PASSWORD",
}


def is_secret(name: str) -> bool:
    # A *_FILE names where a secret is, and is no secret itself.
    return ("PASSWORD" in name or "TOKEN" in name) and not name.endswith("_FILE")


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
        "kafka-init.SCRAM_PASSWORD": "KAFKA_CLIENT_PASSWORD",
        "influxdb.DOCKER_INFLUXDB_INIT_PASSWORD": "INFLUXDB_ADMIN_PASSWORD",
        "influxdb.DOCKER_INFLUXDB_INIT_ADMIN_TOKEN": "INFLUXDB_ADMIN_TOKEN",
        "grafana.GF_SECURITY_ADMIN_PASSWORD": "GRAFANA_ADMIN_PASSWORD",
    }


# What a literal credential looks like in a string: a password or token
# assigned (JAAS options, SCRAM configs, `--password x`), credentials in a URL,
# an Authorization header's value, or a long random-looking string (a generated
# token). A short human password given under a name of its own is caught by
# the test above, which wants every password and token substituted.
LITERAL_SECRETS = [
    re.compile(r"(?i)\b(password|passwd|secret|token)\b\s*(=|:\s)\s*[\"']?[^\s\"',;\]]+"),
    re.compile(r"(?i)--(password|token|secret)(=|\s+)\S+"),
    re.compile(r"://[^/\s:@]+:[^/\s@]+@"),
    re.compile(r"(?i)\b(token|bearer|basic)\s+[A-Za-z0-9+/_=.-]{8,}"),
    re.compile(r"(?=[A-Za-z0-9+_=-]*\d)(?=[A-Za-z0-9+_=-]*[a-z])[A-Za-z0-9+_=-]{24,}"),
]


def without_substitutions(text: str) -> str:
    """The text compose would make of it with every variable unset: defaults
    stay, a required variable's message goes (it is no value)."""
    return SUBSTITUTION.sub(lambda m: m.group(3) if m.group(2) in ("-", ":-") else "", text)


def test_no_string_in_the_compose_file_looks_like_a_literal_secret() -> None:
    found = [
        (text, pattern.pattern)
        for text in strings(compose())
        for pattern in LITERAL_SECRETS
        if pattern.search(without_substitutions(text))
    ]
    assert found == []


@pytest.mark.parametrize(
    "literal",
    [
        "org.apache.kafka.common.security.scram.ScramLoginModule required password=s3cret;",
        "SCRAM-SHA-512=[password=hunter2]",
        "http://admin:hunter2@influxdb:8086",
        "Token 0Zr1n8dL-qQ5mT2vXw7yB4cE9fG6hJ3kN0pR-sU8",
        "${ENGINEWATCH_INFLUX_URL:-http://admin:pa55@influxdb:8086}",
        "aGVsbG8td29ybGQtaGVsbG8td29ybGQtaGVsbG8K",
    ],
)
def test_the_literal_secret_patterns_catch_one(literal: str) -> None:
    assert any(p.search(without_substitutions(literal)) for p in LITERAL_SECRETS)


def env_example() -> dict[str, str]:
    pairs = re.findall(r"^(\w+)=(.*)$", ENV_EXAMPLE.read_text(), re.MULTILINE)
    return dict(pairs)


def test_env_example_holds_placeholders_only() -> None:
    example = env_example()
    assert set(example) >= SECRETS
    for name, value in example.items():
        if is_secret(name):
            assert "change-me" in value, f"{name} in .env.example is not a placeholder"


def ignore_patterns(path: Path) -> list[str]:
    lines = (line.strip() for line in path.read_text().splitlines())
    return [line for line in lines if line and not line.startswith("#")]


def git_ignores(path: str) -> bool:
    """Whether the root's or compose/'s .gitignore names this file (no negations
    there): a pattern with no inner slash matches the name in any directory."""
    for directory, prefix in ((ROOT, ""), (COMPOSE_DIR, "compose/")):
        if not path.startswith(prefix):
            continue
        relative = path.removeprefix(prefix)
        for pattern in ignore_patterns(directory / ".gitignore"):
            pattern = pattern.rstrip("/")
            anywhere = "/" not in pattern
            target = PurePosixPath(relative).name if anywhere else relative
            if fnmatch.fnmatch(target, pattern.lstrip("/")):
                return True
    return False


def test_the_env_file_is_ignored_by_git_and_kept_out_of_the_image() -> None:
    assert git_ignores("compose/.env"), "git would commit compose/.env"
    assert not git_ignores("compose/.env.example")
    # The build context is the repository root: the ignore file lets through
    # only what it names, and never compose/ (nor its .env).
    ignore = ignore_patterns(COMPOSE_DIR / "Dockerfile.dockerignore")
    assert ignore[0] == "*"
    for allowed in (p[1:].rstrip("/") for p in ignore if p.startswith("!")):
        assert not fnmatch.fnmatch("compose", allowed), allowed
        assert not fnmatch.fnmatch("compose/.env", allowed), allowed
    assert not any(s.startswith(("compose", ".env")) for s in dockerfile_copies())


def dockerfile_instructions() -> list[str]:
    """The Dockerfile's instructions, continued lines joined, comments dropped."""
    joined = re.sub(r"\\\n", " ", DOCKERFILE.read_text())
    lines = (line.strip() for line in joined.splitlines())
    return [line for line in lines if line and not line.startswith("#")]


def test_the_dockerfile_sets_no_secret() -> None:
    names = []
    for instruction in dockerfile_instructions():
        keyword, _, rest = instruction.partition(" ")
        if keyword.upper() in ("ENV", "ARG"):
            names += re.findall(r"(?:^|\s)(\w+)(?==|\s|$)", rest)
    assert "PYTHONUNBUFFERED" in names  # the parse found the ENV
    secret_like = re.compile(r"PASSWORD|TOKEN|SECRET|CREDENTIAL|KEY", re.IGNORECASE)
    assert [n for n in names if secret_like.search(n)] == []
    for instruction in dockerfile_instructions():
        assert not any(p.search(instruction) for p in LITERAL_SECRETS), instruction
    text = DOCKERFILE.read_text()
    for name in (n for n in env_example() if is_secret(n)):
        assert name not in text, f"the Dockerfile names {name}"
    # Nor does the build get one as an argument.
    for service in services().values():
        args = (service.get("build") or {}).get("args") or {}
        assert not any(is_secret(str(a).split("=")[0]) for a in args)


@pytest.mark.parametrize("script", sorted(COMPOSE_DIR.rglob("*.sh")), ids=lambda p: p.name)
def test_the_shell_scripts_parse(script: Path) -> None:
    shell = shutil.which(interpreter(script))
    if shell is None:
        pytest.skip(f"no {interpreter(script)} here")
    checked = subprocess.run([shell, "-n", str(script)], capture_output=True, text=True)
    assert checked.returncode == 0, checked.stderr


# Services that run once per `up` and exit.
ONE_SHOT = {"kafka-init"}


def test_restart_policies_and_health_checks() -> None:
    for name, service in services().items():
        if name in ONE_SHOT:
            assert service["restart"] == "no", name
            assert "healthcheck" not in service, name
        elif name != "simulator":
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
