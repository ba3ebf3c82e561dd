"""BASELINE worker: `python -m benchmarks.baseline` (settings from BASELINE_* variables).

Consumes the notifications one message at a time, runs the monitoring model
on each, and archives its records in batches of ten, blocking on every write,
as the tutorial's engine-hosted models do.
"""

from __future__ import annotations

import asyncio
import json
import os

from aiokafka import AIOKafkaConsumer

from benchmarks.baseline.client import InfluxDBClient
from benchmarks.baseline.tutorial import MonitoringModel, to_point

BATCH_SIZE = 10


def main() -> None:
    with open(os.environ["BASELINE_ENGINE_MAP"], encoding="utf-8") as stream:
        model = MonitoringModel(json.load(stream))
    asyncio.run(consume(model))


async def consume(model: MonitoringModel) -> None:
    env = os.environ
    influx = InfluxDBClient(env["BASELINE_INFLUX_URL"], env["BASELINE_DATABASE"])
    influx.create_database(env["BASELINE_DATABASE"])
    consumer = AIOKafkaConsumer(
        env["BASELINE_TOPIC"],
        bootstrap_servers=env["BASELINE_BOOTSTRAP"],
        group_id=env["BASELINE_GROUP"],
        auto_offset_reset="earliest",
    )
    await consumer.start()
    batch: list[dict[str, object]] = []
    try:
        async for message in consumer:
            datum = json.loads(message.value)
            for record in model.action(datum):
                batch.append(to_point(record))
                if len(batch) == BATCH_SIZE:
                    influx.write_points(batch)
                    batch = []
    finally:
        await consumer.stop()


if __name__ == "__main__":
    main()
