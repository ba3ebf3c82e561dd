"""One validated settings object per process, read from ENGINEWATCH_* variables.

Settings are read when a command starts (`load_settings()`), never at import,
so tests and tools can build their own with `Settings(...)`.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Literal

from pydantic import Field, SecretStr, ValidationError, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

ENV_PREFIX = "ENGINEWATCH_"


class SettingsError(ValueError):
    """A setting has a wrong value; the message is one line naming the variable."""


class Settings(BaseSettings):
    """Everything a process of enginewatch may be told through its environment."""

    model_config = SettingsConfigDict(env_prefix=ENV_PREFIX, frozen=True, extra="ignore")

    # Kafka: the app id prefixes every Faust app id, consumer group and
    # internal topic, so two deployments can share one broker.
    app_id: str = Field("enginewatch", pattern=r"^[A-Za-z0-9._-]+$")
    broker: str = Field("kafka://localhost:9092", pattern=r"^(kafka|aiokafka)://\S+$")
    input_topic: str = Field("notify", min_length=1)
    archive_topic: str = Field("archive", min_length=1)
    dead_letter_topic: str = Field("dead-letters", min_length=1)
    # Partitions of the internal topics (the agents' by-engine repartition topic
    # and table changelog). With input_keyed_by_engine the agents read the input
    # directly, which then must have exactly this many partitions.
    partitions: int = Field(8, ge=1)
    input_keyed_by_engine: bool = False

    # Engine UUID -> model name resolution.
    engine_map: Path | None = None
    composer_url: str | None = None
    composer_workflows: str = ""
    connect_url: str | None = None
    resolve_interval: float = Field(60.0, gt=0)
    resolve_timeout: float = Field(5.0, gt=0)

    # InfluxDB.
    influx_url: str = Field("http://localhost:8086", pattern=r"^https?://\S+$")
    influx_api: Literal["auto", "v1", "v2"] = "auto"
    influx_bucket: str = Field("enginewatch", min_length=1)
    influx_org: str = ""
    influx_token: SecretStr = SecretStr("")
    influx_timeout: float = Field(10.0, gt=0)
    # Off by default: beside the engines, InfluxDB is a fast link away and
    # compressing costs the archiver about a third more CPU per point (docs/benchmarks.md).
    influx_gzip: bool = False

    # Archiver batching.
    batch_points: int = Field(5000, ge=1)
    # 0.5 s keeps a point's way from engine to dashboard under a second at p99
    # (docs/benchmarks.md); under load batches fill by size long before.
    batch_seconds: float = Field(0.5, gt=0)

    @field_validator("engine_map")
    @classmethod
    def _engine_map_exists(cls, path: Path | None) -> Path | None:
        if path is not None and not path.is_file():
            raise ValueError(f"no such file: {path}")
        return path

    @property
    def workflow_names(self) -> list[str]:
        """Composer workflow names, from the comma-separated setting."""
        return [name.strip() for name in self.composer_workflows.split(",") if name.strip()]

    @property
    def influx_database(self) -> str:
        """On InfluxDB 1.x the bucket means `database` or `database/retention-policy`."""
        return self.influx_bucket.split("/", 1)[0]

    @property
    def influx_retention_policy(self) -> str | None:
        parts = self.influx_bucket.split("/", 1)
        return parts[1] if len(parts) == 2 and parts[1] else None


def load_settings(environ: dict[str, str] | None = None) -> Settings:
    """Read and validate the settings from the environment (os.environ by default)."""
    env = os.environ if environ is None else environ
    values = {
        key[len(ENV_PREFIX) :].lower(): value
        for key, value in env.items()
        if key.startswith(ENV_PREFIX) and value != ""
    }
    try:
        # Passing the values explicitly keeps `environ` authoritative in tests.
        return Settings.model_validate(values)
    except ValidationError as exc:
        raise SettingsError(_one_line(exc)) from None


def _one_line(exc: ValidationError) -> str:
    first = exc.errors()[0]
    name = ENV_PREFIX + "_".join(str(part) for part in first["loc"]).upper()
    message = first["msg"]
    if first["type"] == "extra_forbidden":
        message = "unknown setting"
    return f"{name}: {message} (got {first.get('input')!r})"
