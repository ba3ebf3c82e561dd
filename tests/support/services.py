"""The local Kafka broker and InfluxDB the integration tests run against, and the
settings that point a worker under test at them."""

from __future__ import annotations

import socket
import subprocess
from pathlib import Path

from enginewatch.harness import influx, kafka
from enginewatch.harness.processes import settings_env

ROOT = Path(__file__).resolve().parents[2]
KAFKA = ("127.0.0.1", 9092)
INFLUX = ("127.0.0.1", 8086)
BROKER_URL = kafka.LOCAL_BROKER
INFLUX_URL = influx.LOCAL_URL


def port_open(address: tuple[str, int]) -> bool:
    with socket.socket() as sock:
        sock.settimeout(1)
        return sock.connect_ex(address) == 0


def ensure_services() -> None:
    """Start the local services unless both already answer; fail, never skip."""
    if port_open(KAFKA) and port_open(INFLUX):
        return
    subprocess.run([str(ROOT / "services" / "local.sh"), "up"], check=True, timeout=600)


def base_env(app_id: str, **settings: str) -> dict[str, str]:
    """ENGINEWATCH_* settings for a test: its own app id, the local services. The
    workers send no points on themselves and the agents call no engine silent
    unless a test asks (`self_interval`, `silent_after`): both depend on timing,
    and most tests compare the archive with what their input gives, point by point."""
    return settings_env(
        **{
            "app_id": app_id,
            "broker": BROKER_URL,
            "influx_url": INFLUX_URL,
            "self_interval": "0",
            "silent_after": "0",
            **settings,
        }
    )


def built(script: str, *args: str, timeout: float) -> Path:
    """A server only tests run, built or installed once into the cache by the
    project's own script (`services/local.sh influxdb18`, `services/mlflow.sh`):
    the path the script prints."""
    done = subprocess.run(
        ["bash", str(ROOT / "services" / script), *args],
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )
    if done.returncode != 0:
        raise RuntimeError(f"services/{' '.join([script, *args])} failed:\n{done.stderr}")
    return Path(done.stdout.strip().splitlines()[-1])
