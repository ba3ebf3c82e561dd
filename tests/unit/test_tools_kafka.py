"""Broker addresses from the Faust-style setting."""

from __future__ import annotations

import pytest

from enginewatch.core.kafka import bootstrap_servers


@pytest.mark.parametrize(
    ("broker", "servers"),
    [
        ("kafka://localhost:9092", "localhost:9092"),
        ("aiokafka://k1:9092;k2:9093", "k1:9092,k2:9093"),
        ("kafka://k1:9092;kafka://k2:9092/", "k1:9092,k2:9092"),
    ],
)
def test_bootstrap_servers(broker: str, servers: str) -> None:
    assert bootstrap_servers(broker) == servers
