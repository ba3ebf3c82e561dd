"""The local Kafka broker and InfluxDB the integration tests run against."""

from __future__ import annotations

import socket
import subprocess
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
KAFKA = ("127.0.0.1", 9092)
INFLUX = ("127.0.0.1", 8086)
BROKER_URL = "kafka://127.0.0.1:9092"
INFLUX_URL = "http://127.0.0.1:8086"


def port_open(address: tuple[str, int]) -> bool:
    with socket.socket() as sock:
        sock.settimeout(1)
        return sock.connect_ex(address) == 0


def ensure_services() -> None:
    """Start the local services unless both already answer; fail, never skip."""
    if port_open(KAFKA) and port_open(INFLUX):
        return
    subprocess.run([str(ROOT / "services" / "local.sh"), "up"], check=True, timeout=600)
