"""The monitors benchmark's workloads: what the pure stages make of them is what the
benchmark waits for, record for record."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from benchmarks.monitoring import (
    FIELDS,
    JOIN_MONITORS,
    PROFILE_MONITORS,
    Workload,
    join_workload,
    joined_records,
    profile_workload,
    profiled_records,
)
from enginewatch.core.points import Origin
from monitors.config import load_monitors
from monitors.records import readers
from monitors.stage import ObservationInput, RecordInput, evaluate, intake


def counted(
    tmp_path: Path,
    text: str,
    topics: dict[str, str],
    workload: Workload,
    weight: Callable[[bytes | None], int],
) -> int:
    """The records the archive messages count when the pure stages take the
    workload in batches of 1 000, the topics side by side as the benchmark sends them."""
    path = tmp_path / "monitors.yaml"
    path.write_text(text, encoding="utf-8")
    monitors = load_monitors(path)
    by_topic = readers(monitors)
    interleaved: list[RecordInput] = []
    longest = max(len(values) for values in workload.records.values())
    for offset in range(longest):
        for role, values in workload.records.items():
            if offset < len(values):
                interleaved.append(RecordInput(Origin(topics[role], 0, offset), 0, values[offset]))
    states: dict[str, object] = {}
    total, internal = 0, 0
    for start in range(0, len(interleaved), 1000):
        taken = intake(interleaved[start : start + 1000], by_topic)
        batch = []
        for _, value in taken.observations:
            batch.append(ObservationInput(Origin("observations", 0, internal), value))
            internal += 1
        output = evaluate(batch, monitors, states)
        for key, (_, state) in output.states.items():
            states[key] = state
        total += sum(weight(message) for _, message in output.points)
    return total


def test_the_profile_counts_every_record_but_the_closing_one(tmp_path: Path) -> None:
    workload = profile_workload(2500)
    assert len(workload.records["input"]) == 2501
    assert workload == profile_workload(2500)  # deterministic
    fields = ", ".join(f"f{i}: numeric" for i in range(FIELDS))
    text = PROFILE_MONITORS.format(topic="in", fields=fields)
    assert counted(tmp_path, text, {"input": "in"}, workload, profiled_records) == 2500


def test_the_join_counts_both_sides_of_every_pair(tmp_path: Path) -> None:
    workload = join_workload(1200)
    assert workload.counted == 2400
    text = JOIN_MONITORS.format(predictions="p", truths="t")
    topics = {"predictions": "p", "truths": "t"}
    assert counted(tmp_path, text, topics, workload, joined_records) == 2400
