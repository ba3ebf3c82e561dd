"""What the agents keep per engine: carried amounts (table and changelog) and its model name."""

from __future__ import annotations

import asyncio
import statistics

from benchmarks import kafkaio
from benchmarks.workload import Expected, Recording, deep_size

# Faust names a table's changelog `{app id}-{table}-changelog`; the agents' app id
# is `{ENGINEWATCH_APP_ID}-agents` and the table is `carried-amounts`.
CHANGELOG = "{app_id}-agents-carried-amounts-changelog"


def state_per_engine(expected: Expected, recording: Recording, app_id: str) -> dict[str, float]:
    """Bytes per engine: in memory (carried amounts, model name) and in the changelog topic."""
    carried = [deep_size(amounts) for amounts in expected.carried.values()]
    names = [deep_size(src) + deep_size(model) for src, model in recording.models.items()]
    latest = asyncio.run(kafkaio.latest_values(CHANGELOG.format(app_id=app_id)))
    logged = [len(key or b"") + len(value) for key, value in latest.items() if value]
    return {
        "engines": float(len(recording.models)),
        "carried_in_memory": statistics.mean(carried) if carried else 0.0,
        "model_name_in_memory": statistics.mean(names) if names else 0.0,
        "changelog": statistics.mean(logged) if logged else 0.0,
    }
