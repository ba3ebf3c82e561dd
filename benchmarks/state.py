"""What the agents keep per engine: carried amounts (table and changelog) and its model name."""

from __future__ import annotations

import asyncio
import statistics

from agents.state import carried_changelog
from benchmarks import kafkaio
from benchmarks.workload import Expected, Recording, deep_size


def state_per_engine(expected: Expected, recording: Recording, app_id: str) -> dict[str, float]:
    """Bytes per engine: in memory (carried amounts, model name) and in the changelog topic."""
    carried = [deep_size(amounts) for amounts in expected.carried.values()]
    names = [deep_size(src) + deep_size(model) for src, model in recording.models.items()]
    latest = asyncio.run(kafkaio.latest_values(carried_changelog(app_id)))
    logged = [len(key or b"") + len(value) for key, value in latest.items() if value]
    return {
        "engines": float(len(recording.models)),
        "carried_in_memory": statistics.mean(carried) if carried else 0.0,
        "model_name_in_memory": statistics.mean(names) if names else 0.0,
        "changelog": statistics.mean(logged) if logged else 0.0,
    }
