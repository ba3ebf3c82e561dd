"""Settings: one small config per component, composed into each process's settings.

Every setting is an `ENGINEWATCH_*` environment variable, named by its
component's prefix and its field (`InfluxConfig.url` is
`ENGINEWATCH_INFLUX_URL`). A process reads the whole environment once, when its
command starts (`load_settings()`), never at import; tests and tools build
their own configs directly. Each part of a process is handed only the config
it uses: a sink gets an `InfluxConfig`, the Faust runtime a `KafkaConfig`.

Every process validates every variable, its own and the others': one
environment usually serves the whole deployment, and a wrong or misspelt value
there should stop the first process that reads it, not the one that needs it.
"""

from __future__ import annotations

import difflib
import os
from collections.abc import Mapping
from pathlib import Path
from typing import Annotated, ClassVar, Literal

from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Field,
    SecretStr,
    ValidationError,
    field_validator,
    model_validator,
)

from enginewatch.core.redact import mask_urls

ENV_PREFIX = "ENGINEWATCH_"


def _existing(path: Path) -> Path:
    if not path.is_file():
        raise ValueError(f"no such file: {path}")
    return path


# A setting that names a file which must be there (a CA, a certificate, a rules file).
ExistingFile = Annotated[Path, AfterValidator(_existing)]


class SettingsError(ValueError):
    """A setting is wrong or unknown; the message is one line naming the variable."""


class Section(BaseModel):
    """A component's config: frozen, and its variables are `ENGINEWATCH_{env_prefix}{FIELD}`."""

    model_config = ConfigDict(frozen=True, extra="forbid")
    env_prefix: ClassVar[str] = ""

    @classmethod
    def variable(cls, field: str) -> str:
        return f"{ENV_PREFIX}{cls.env_prefix}{field}".upper()

    def _cafile_needs_https(self, cafile: str = "ssl_cafile", url: str = "url") -> None:
        """A CA file for a server reached without TLS is a mistake: say so."""
        if getattr(self, cafile) is not None and not str(getattr(self, url)).startswith("https://"):
            raise ValueError(
                f"{self.variable(cafile)} is set but {self.variable(url)} is not https://"
            )


SecurityProtocol = Literal["PLAINTEXT", "SSL", "SASL_PLAINTEXT", "SASL_SSL"]
SaslMechanism = Literal["PLAIN", "SCRAM-SHA-256", "SCRAM-SHA-512"]


class KafkaConfig(Section):
    """The broker and the app id every Faust app, consumer group and internal topic is named by."""

    # Two deployments can share one broker under different app ids.
    app_id: str = Field(default="enginewatch", pattern=r"^[A-Za-z0-9._-]+$")
    broker: str = Field(default="kafka://localhost:9092", pattern=r"^(kafka|aiokafka)://\S+$")
    # Replicas of every topic the workers create; unset, the broker's
    # default.replication.factor (README, Security).
    replication_factor: int | None = Field(default=None, ge=1)
    # How every Kafka client of every worker and tool connects (README, Security).
    kafka_security_protocol: SecurityProtocol = "PLAINTEXT"
    kafka_sasl_mechanism: SaslMechanism = "SCRAM-SHA-512"
    kafka_sasl_username: str = ""
    kafka_sasl_password: SecretStr = SecretStr("")
    # The CAs the broker's certificate is checked against; unset, the system's.
    kafka_ssl_cafile: ExistingFile | None = None
    # A client certificate (PEM) and its key, for brokers that ask for one.
    kafka_ssl_certfile: ExistingFile | None = None
    kafka_ssl_keyfile: ExistingFile | None = None
    kafka_ssl_key_password: SecretStr = SecretStr("")

    @model_validator(mode="after")
    def _security_is_whole(self) -> KafkaConfig:
        """A setting the protocol would ignore is a mistake, not a default."""
        protocol = self.kafka_security_protocol
        sasl, tls = protocol.startswith("SASL_"), protocol.endswith("SSL")
        has_user = bool(self.kafka_sasl_username or self.kafka_sasl_password.get_secret_value())
        if sasl and not (self.kafka_sasl_username and self.kafka_sasl_password.get_secret_value()):
            raise ValueError(
                f"{protocol} needs {self.variable('kafka_sasl_username')} "
                f"and {self.variable('kafka_sasl_password')}"
            )
        if has_user and not sasl:
            raise ValueError(
                f"a SASL username or password is set but "
                f"{self.variable('kafka_security_protocol')} is {protocol}"
            )
        files = [self.kafka_ssl_cafile, self.kafka_ssl_certfile, self.kafka_ssl_keyfile]
        if not tls and (any(files) or self.kafka_ssl_key_password.get_secret_value()):
            raise ValueError(
                f"TLS files are set but {self.variable('kafka_security_protocol')} is {protocol}"
            )
        if self.kafka_ssl_keyfile and not self.kafka_ssl_certfile:
            raise ValueError(
                f"{self.variable('kafka_ssl_keyfile')} needs {self.variable('kafka_ssl_certfile')}"
            )
        return self


class TopicsConfig(Section):
    """The topics the workers read and write."""

    input_topic: str = Field(default="notify", min_length=1)
    archive_topic: str = Field(default="archive", min_length=1)
    dead_letter_topic: str = Field(default="dead-letters", min_length=1)
    # Partitions of the internal topics (the agents' by-engine repartition topic
    # and table changelog). With input_keyed_by_engine the agents read the input
    # directly, which then must have exactly this many partitions.
    partitions: int = Field(default=8, ge=1)
    input_keyed_by_engine: bool = False


class ResolveConfig(Section):
    """Where the agents learn each engine's model name."""

    engine_map: ExistingFile | None = None
    composer_url: str | None = None
    composer_workflows: str = ""
    connect_url: str | None = None
    resolve_interval: float = Field(default=60.0, gt=0)
    resolve_timeout: float = Field(default=5.0, gt=0)
    # The CAs an https:// Composer's or Connect's certificate is checked
    # against; unset, requests' default bundle. Verification is never off.
    resolve_ssl_cafile: ExistingFile | None = None
    # Sent to both as `Authorization: Bearer ...`; empty, no header.
    resolve_token: SecretStr = SecretStr("")

    @model_validator(mode="after")
    def _tls_settings_are_used(self) -> ResolveConfig:
        """A CA file no https:// URL uses is a mistake, and a token for an
        http:// URL would cross the network in clear."""
        named = {"composer_url": self.composer_url, "connect_url": self.connect_url}
        urls = {field: url for field, url in named.items() if url}
        neither = f"neither {self.variable('composer_url')} nor {self.variable('connect_url')}"
        if self.resolve_ssl_cafile is not None and not any(map(self._https, urls.values())):
            raise ValueError(
                f"{self.variable('resolve_ssl_cafile')} is set but {neither} is https://"
            )
        if not self.resolve_token.get_secret_value():
            return self
        if not urls:
            raise ValueError(f"{self.variable('resolve_token')} is set but {neither} is set")
        for field, url in urls.items():
            if not self._https(url):
                raise ValueError(
                    f"{self.variable('resolve_token')} would cross the network in clear: "
                    f"{self.variable(field)} is not https://"
                )
        return self

    @staticmethod
    def _https(url: str) -> bool:
        return url.lower().startswith("https://")

    @property
    def workflow_names(self) -> list[str]:
        """Composer workflow names, from the comma-separated setting."""
        return [name.strip() for name in self.composer_workflows.split(",") if name.strip()]


# What the agents make of a well-formed message of a type they do not know.
UnknownTypes = Literal["count", "dead-letter", "ignore"]


class AgentsConfig(Section):
    """How the agents treat what the contract does not name."""

    # Counted (an `engine_messages` point per type): a new engine release's
    # messages show up on the dashboards instead of flooding the dead letters.
    unknown_types: UnknownTypes = "count"
    # Also the FastScore Grafana tutorial's flattened measurements (agents/tutorial.py).
    tutorial_names: bool = False
    # An engine is `silent` once it sent nothing for this many times its usual
    # interval, and for at least SILENT_MIN seconds (agents/silence.py); 0: never.
    silent_after: float = Field(default=5.0, ge=0)
    silent_min: float = Field(default=10.0, gt=0)
    # Seconds of wall clock without any input after which the silence clocks
    # follow the wall clock: a fleet that stops entirely is silent too.
    silent_idle: float = Field(default=60.0, gt=0)


class StateConfig(Section):
    """How long the agents keep an engine's state (carried amounts, inputs applied)."""

    env_prefix: ClassVar[str] = "STATE_"

    # Seconds since an engine's state was last written (wall clock); a day
    # outlasts any pause of a live engine, and redeployed engines get new ids.
    ttl: float = Field(default=86400.0, gt=0)


class InfluxConfig(Section):
    """The InfluxDB the archiver writes to and the dashboards read from."""

    env_prefix: ClassVar[str] = "INFLUX_"

    url: str = Field(default="http://localhost:8086", pattern=r"^https?://\S+$")
    api: Literal["auto", "v1", "v2"] = "auto"
    bucket: str = Field(default="enginewatch", min_length=1)
    org: str = ""
    token: SecretStr = SecretStr("")
    timeout: float = Field(default=10.0, gt=0)
    # Off by default: beside the engines, InfluxDB is a fast link away and
    # compressing costs the archiver about a third more CPU per point (docs/benchmarks.md).
    gzip: bool = False
    # The CAs an https:// server's certificate is checked against; unset, the system's.
    ssl_cafile: ExistingFile | None = None

    @model_validator(mode="after")
    def _tls_is_whole(self) -> InfluxConfig:
        self._cafile_needs_https()
        return self

    @property
    def database(self) -> str:
        """On InfluxDB 1.x the bucket means `database` or `database/retention-policy`."""
        return self.bucket.split("/", 1)[0]

    @property
    def retention_policy(self) -> str | None:
        parts = self.bucket.split("/", 1)
        return parts[1] if len(parts) == 2 and parts[1] else None


class MlflowConfig(Section):
    """The MLflow tracking server `enginewatch archiver --sink mlflow` logs metrics to."""

    env_prefix: ClassVar[str] = "MLFLOW_"

    url: str = Field(default="http://localhost:5000", pattern=r"^https?://\S+$")
    # One experiment per model by default; a name without `{model}` puts every
    # model's run into that one experiment.
    experiment: str = Field(default="enginewatch/{model}", min_length=1)
    # Comma-separated: a measurement (all its numeric fields) or `measurement.field`.
    metrics: str = "model_quality,data_drift,records.rps"
    # Sent as `Authorization: Bearer ...` (MLflow's MLFLOW_TRACKING_TOKEN), or
    # basic auth (MLFLOW_TRACKING_USERNAME and _PASSWORD); empty, neither.
    token: SecretStr = SecretStr("")
    username: str = ""
    password: SecretStr = SecretStr("")
    timeout: float = Field(default=10.0, gt=0)
    # The CAs an https:// server's certificate is checked against; unset, the system's.
    ssl_cafile: ExistingFile | None = None

    @field_validator("experiment")
    @classmethod
    def _one_placeholder(cls, name: str) -> str:
        if "{" in name.replace("{model}", "") or "}" in name.replace("{model}", ""):
            raise ValueError("may hold `{model}` and no other braces")
        return name

    @field_validator("metrics")
    @classmethod
    def _metrics_named(cls, value: str) -> str:
        if not cls.names(value):
            raise ValueError("names no measurement")
        return value

    @model_validator(mode="after")
    def _credentials_are_whole(self) -> MlflowConfig:
        token, password = self.token.get_secret_value(), self.password.get_secret_value()
        if token and (self.username or password):
            raise ValueError(
                f"set either {self.variable('token')} or {self.variable('username')} "
                f"and {self.variable('password')}, not both"
            )
        if bool(self.username) != bool(password):
            raise ValueError(
                f"{self.variable('username')} and {self.variable('password')} go together"
            )
        self._cafile_needs_https()
        return self

    @staticmethod
    def names(value: str) -> frozenset[str]:
        return frozenset(name.strip() for name in value.split(",") if name.strip())

    @property
    def chosen(self) -> frozenset[str]:
        """The measurements and `measurement.field` names whose values become metrics."""
        return self.names(self.metrics)


class RetryConfig(Section):
    """How long the archiver honours a server's Retry-After."""

    # Seconds; a longer Retry-After (a date far ahead, a misconfigured proxy)
    # is cut to this, and the cut is logged (enginewatch/core/retry.py).
    retry_after_max: float = Field(default=60.0, gt=0)


class BatchConfig(Section):
    """How the archiver groups points into write requests."""

    env_prefix: ClassVar[str] = "BATCH_"

    points: int = Field(default=5000, ge=1)
    # 0.5 s keeps a point's way from engine to dashboard under a second at p99
    # (docs/benchmarks.md); under load batches fill by size long before.
    seconds: float = Field(default=0.5, gt=0)


class AlertsConfig(Section):
    """The alerts worker: its rules file, its output topic, and when an idle
    partition's clock follows the wall clock; where the transitions are
    delivered (`enginewatch alerts deliver`), and how often reminded."""

    # ENGINEWATCH_ALERT_RULES: the YAML rules file; `enginewatch alerts` needs it.
    alert_rules: ExistingFile | None = None
    alerts_topic: str = Field(default="alerts", min_length=1)
    # Seconds of wall clock without any archive message on a partition after
    # which its event-time clock follows the wall clock (alerts/README.md).
    alerts_idle: float = Field(default=60.0, gt=0)
    # `enginewatch alerts deliver`: Alertmanager's base URL (several,
    # comma-separated: the replicas of a cluster, each told everything) and
    # webhooks (comma-separated URLs, sent Alertmanager's webhook payload).
    alertmanager_url: str = ""
    alert_webhooks: str = ""
    # Seconds between re-sends of the firing alerts to Alertmanager, which
    # ends an alert not re-sent before its endsAt (4 re-sends ahead).
    alerts_resend: float = Field(default=60.0, gt=0)
    # Seconds between reminders of a still-firing alert to the webhooks
    # (Alertmanager's repeat_interval default).
    alerts_repeat: float = Field(default=14400.0, gt=0)

    @field_validator("alertmanager_url", "alert_webhooks")
    @classmethod
    def _urls(cls, value: str) -> str:
        from urllib.parse import urlsplit

        for url in cls.url_list(value):
            parts = urlsplit(url)
            if parts.scheme not in ("http", "https") or not parts.hostname or " " in url:
                raise ValueError(f"not an http(s) URL: {url!r}")
        return value

    @staticmethod
    def url_list(value: str) -> list[str]:
        """The URLs of a comma-separated setting, blanks ignored."""
        return [url.strip() for url in value.split(",") if url.strip()]

    @property
    def alertmanager_urls(self) -> list[str]:
        return self.url_list(self.alertmanager_url)

    @property
    def webhook_urls(self) -> list[str]:
        return self.url_list(self.alert_webhooks)


class MonitorsConfig(Section):
    """The monitors worker: its monitors file."""

    # ENGINEWATCH_MONITORS: the YAML monitors file; `enginewatch monitors` needs it.
    monitors: ExistingFile | None = None


class SelfConfig(Section):
    """What a worker tells about itself: points on the archive topic, and an HTTP port
    for Prometheus and health checks (README, watching enginewatch)."""

    # ENGINEWATCH_SELF_INTERVAL: seconds between two reports of a worker on
    # itself; 0 sends none (/metrics still serves the figures).
    self_interval: float = Field(default=10.0, ge=0)
    # ENGINEWATCH_METRICS_PORT: /metrics, /healthz and /readyz; unset, no server,
    # so several workers on one host start without a port clash.
    metrics_port: int | None = Field(default=None, ge=1, le=65535)
    # ENGINEWATCH_READY_SINK_WITHIN: seconds a sink may fail without a success
    # before /readyz says not ready.
    ready_sink_within: float = Field(default=30.0, gt=0)


class Settings(BaseModel):
    """A process's settings: every component's config."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    kafka: KafkaConfig = Field(default_factory=KafkaConfig)
    topics: TopicsConfig = Field(default_factory=TopicsConfig)
    resolve: ResolveConfig = Field(default_factory=ResolveConfig)
    agents: AgentsConfig = Field(default_factory=AgentsConfig)
    state: StateConfig = Field(default_factory=StateConfig)
    influx: InfluxConfig = Field(default_factory=InfluxConfig)
    mlflow: MlflowConfig = Field(default_factory=MlflowConfig)
    batch: BatchConfig = Field(default_factory=BatchConfig)
    retry: RetryConfig = Field(default_factory=RetryConfig)
    alerts: AlertsConfig = Field(default_factory=AlertsConfig)
    monitors: MonitorsConfig = Field(default_factory=MonitorsConfig)
    observe: SelfConfig = Field(default_factory=SelfConfig)


def variables() -> dict[str, tuple[str, str]]:
    """Every known variable -> (section, field) of `Settings`."""
    return {
        _section(section).variable(field): (section, field)
        for section in Settings.model_fields
        for field in _section(section).model_fields
    }


def _section(name: str) -> type[Section]:
    config = Settings.model_fields[name].annotation
    assert isinstance(config, type)
    assert issubclass(config, Section)
    return config


def load_settings(environ: Mapping[str, str] | None = None) -> Settings:
    """Read and validate the settings from the environment (os.environ by default).

    An unknown `ENGINEWATCH_*` variable is an error naming the closest known
    one: a misspelt setting silently ignored is a default nobody chose.
    """
    env = os.environ if environ is None else environ
    known = variables()
    values: dict[str, dict[str, str]] = {section: {} for section in Settings.model_fields}
    for name, value in env.items():
        if not name.startswith(ENV_PREFIX):
            continue
        if name not in known:
            raise SettingsError(_unknown(name, known))
        if value != "":
            section, field = known[name]
            values[section][field] = value
    try:
        return Settings.model_validate(values)
    except ValidationError as exc:
        raise SettingsError(_one_line(exc)) from None


def _unknown(name: str, known: Mapping[str, object]) -> str:
    # Compared without the prefix every name shares, or every name looks close.
    suffixes = {known_name.removeprefix(ENV_PREFIX): known_name for known_name in known}
    close = difflib.get_close_matches(name.removeprefix(ENV_PREFIX), suffixes, n=1, cutoff=0.6)
    hint = f"; did you mean {suffixes[close[0]]}?" if close else ""
    return f"{name}: unknown setting{hint}"


def _one_line(exc: ValidationError) -> str:
    first = exc.errors()[0]
    if len(first["loc"]) < 2:
        # A rule across a section's fields: its message names them. The input,
        # the whole section, may hold secrets: never printed.
        return str(first["msg"]).removeprefix("Value error, ")
    section, field = str(first["loc"][0]), str(first["loc"][1])
    got = first.get("input")
    if isinstance(got, SecretStr) or field.endswith(("password", "token")):
        got = "**********"
    # A URL's credentials are masked (enginewatch/core/redact.py).
    return mask_urls(f"{_section(section).variable(field)}: {first['msg']} (got {got!r})")
