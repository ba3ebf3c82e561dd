"""The monitors file: what loads, and the one line naming file, monitor and field
for what does not; `enginewatch monitors check`; ENGINEWATCH_MONITORS."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
import yaml

from enginewatch.cli import main
from enginewatch.core.settings import SettingsError, load_settings
from monitors import command
from monitors.config import (
    NS,
    FileReference,
    FirstRecords,
    MonitorsError,
    load_monitors,
    monitors_from,
)
from monitors.records import parse_time
from monitors.reference import load_references

GOOD = """
monitors:
  - name: iris-inputs
    model: Iris classifier
    window: 1m
    time: ts
    streams:
      - topic: iris-in
        name: input
        fields:
          sepal_length: numeric
          species: categorical
          width: {type: numeric, buckets: [0, 1.5, 3]}
    drift: {reference: {first: 500}, thresholds: {psi: 0.2}}
  - name: lstm-quality
    model: lstm
    quality:
      prediction: {topic: lstm-out, field: prediction, id: id}
      truth: {topic: lstm-truth, field: value, id: id}
      label_delay: 10m
      threshold: 5
"""


def _load(text: str, tmp_path: Path) -> None:
    path = tmp_path / "monitors.yaml"
    path.write_text(text, encoding="utf-8")
    load_monitors(path)


def test_a_good_file_loads_with_its_defaults(tmp_path: Path) -> None:
    path = tmp_path / "monitors.yaml"
    path.write_text(GOOD, encoding="utf-8")
    monitors = load_monitors(path)
    inputs, quality = monitors
    assert inputs.window == 60 * NS
    assert inputs.lateness == 5 * NS
    assert inputs.streams[0].stream == "input"
    assert inputs.streams[0].fields["width"].buckets == (0.0, 1.5, 3.0)
    assert inputs.drift is not None
    assert inputs.drift.reference == FirstRecords(first=500)
    assert inputs.drift.threshold("psi") == 0.2
    assert inputs.drift.threshold("ks") == 0.05  # Evidently's
    assert inputs.drift.share == 0.5
    assert quality.quality is not None
    assert quality.quality.label_delay == 600 * NS
    assert quality.quality.pairing == "id"
    assert quality.quality.task == "regression"
    assert monitors.topics() == ["iris-in", "lstm-out", "lstm-truth"]


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (
            ("streams", 0, "fields", "species", "label"),
            "monitor 'iris-inputs': streams.0.fields.species: must be numeric or categorical "
            "(got 'label')",
        ),
        (("window",), "monitor 'iris-inputs': window: must be a duration like 30s, 5m or 1h"),
        (("model",), "monitor 'iris-inputs': model: is empty: it is a tag value"),
        (
            ("drift", "reference", "newest"),
            "monitor 'iris-inputs': drift.reference: must be previous, first-window, {first: N} "
            "or {file: PATH} (got 'newest')",
        ),
        (
            ("drift", "thresholds", {"wasserstein": 0}),
            "monitor 'iris-inputs': drift.thresholds: wasserstein: must be above 0 (got 0.0)",
        ),
        (
            ("streams", 0, "topic", "no spaces please"),
            "monitor 'iris-inputs': streams.0.topic: must be a Kafka topic name",
        ),
    ],
)
def test_a_wrong_monitor_is_one_line_naming_file_monitor_and_field(
    tmp_path: Path, change: tuple[object, ...], message: str
) -> None:
    data = yaml.safe_load(GOOD)
    target = data["monitors"][0]
    *path, value = change
    if not path:
        path, value = [value], "soon" if value == "window" else ""
    for key in path[:-1]:
        target = target[key]
    target[path[-1]] = value
    with pytest.raises(MonitorsError) as caught:
        _load(yaml.safe_dump(data), tmp_path)
    text = str(caught.value)
    assert "\n" not in text
    assert text.startswith(f"{tmp_path / 'monitors.yaml'}: {message}"), text


@pytest.mark.parametrize(
    ("monitor", "message"),
    [
        ("{name: a, model: m}", "monitor 'a': streams: a monitor profiles streams or joins"),
        (
            "{name: a, model: m, streams: [{topic: t, fields: {}}]}",
            "streams.0.fields: must not be empty",
        ),
        (
            "{name: a, model: m, streams: [{topic: t, bare: true, "
            "fields: {x: numeric, y: numeric}}]}",
            "streams.0: fields: a bare stream's records are one value: name one field",
        ),
        (
            "{name: a, model: m, quality: {prediction: {topic: p}, truth: {topic: t}}}",
            "quality: prediction.id: pairing by id needs the id field of each side",
        ),
        (
            "{name: a, model: m, quality: {prediction: {topic: p}, truth: {topic: t}, "
            "pairing: arrival, task: classification, threshold: 1}}",
            "quality: threshold: only a regression has a divergence threshold",
        ),
        (
            "{name: a, model: m, streams: [{topic: t, fields: {x: numeric}}], "
            "drift: {reference: {file: missing.jsonl}}}",
            "drift.reference: file: no such file",
        ),
        (
            "{name: a, model: m, colour: red, streams: [{topic: t, fields: {x: numeric}}]}",
            "colour: unknown key",
        ),
    ],
)
def test_more_wrong_monitors(tmp_path: Path, monitor: str, message: str) -> None:
    with pytest.raises(MonitorsError, match=r"^[^\n]*$") as caught:
        _load(f"monitors:\n  - {monitor}\n", tmp_path)
    assert message in str(caught.value)


def test_two_monitors_of_one_name(tmp_path: Path) -> None:
    one = "{name: a, model: m, streams: [{topic: t, fields: {x: numeric}}]}"
    with pytest.raises(MonitorsError, match="monitor 'a': name: another monitor has this name"):
        _load(f"monitors:\n  - {one}\n  - {one}\n", tmp_path)


def test_not_yaml_and_not_a_mapping(tmp_path: Path) -> None:
    with pytest.raises(MonitorsError, match=r": line \d+: not YAML"):
        _load("monitors: [\n", tmp_path)
    with pytest.raises(MonitorsError, match="must be a mapping with a 'monitors' list"):
        monitors_from([1, 2])


def test_a_reference_file_is_found_beside_the_monitors_file(tmp_path: Path) -> None:
    (tmp_path / "train.jsonl").write_text('{"x": 1}\n{"x": 2}\n\n{"x": null}\n', encoding="utf-8")
    _load(GOOD, tmp_path)
    path = tmp_path / "monitors.yaml"
    path.write_text(
        "monitors:\n  - {name: a, model: m, streams: [{topic: t, fields: {x: numeric}}], "
        "drift: {reference: {file: train.jsonl}}}\n",
        encoding="utf-8",
    )
    monitors = load_monitors(path)
    assert isinstance(monitors.by_name["a"].drift.reference, FileReference)  # type: ignore[union-attr]
    (reference,) = load_references(monitors).values()
    assert reference["x"].n == 2
    assert reference["x"].missing == 1


def test_a_bad_reference_record_stops_the_start(tmp_path: Path) -> None:
    (tmp_path / "train.jsonl").write_text('{"x": 1}\n{"x": "one"}\n', encoding="utf-8")
    path = tmp_path / "monitors.yaml"
    path.write_text(
        "monitors:\n  - {name: a, model: m, streams: [{topic: t, fields: {x: numeric}}], "
        "drift: {reference: {file: train.jsonl}}}\n",
        encoding="utf-8",
    )
    with pytest.raises(MonitorsError, match=r"monitor 'a': drift.reference.file .*: record 2: "):
        load_references(load_monitors(path))


def test_check_lists_the_monitors_or_says_what_is_wrong(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "monitors.yaml"
    path.write_text(GOOD, encoding="utf-8")
    assert command.check(path) == 0
    out = capsys.readouterr().out
    assert "2 monitor(s)" in out
    assert "iris-inputs   model 'Iris classifier', windows of 1m, profiles iris-in" in out
    assert "regression quality of lstm-out against lstm-truth by id" in out
    path.write_text("monitors: []\n", encoding="utf-8")
    assert command.check(path) == 1
    assert "monitors: must not be empty" in capsys.readouterr().err
    assert command.check(None) == 2


def test_the_setting_names_an_existing_file(tmp_path: Path) -> None:
    path = tmp_path / "monitors.yaml"
    path.write_text(GOOD, encoding="utf-8")
    assert load_settings({"ENGINEWATCH_MONITORS": str(path)}).monitors.monitors == path
    assert load_settings({}).monitors.monitors is None
    with pytest.raises(SettingsError, match=r"^ENGINEWATCH_MONITORS: Value error, no such file"):
        load_settings({"ENGINEWATCH_MONITORS": str(tmp_path / "none.yaml")})


def test_record_times() -> None:
    assert parse_time(1767225600) == 1767225600 * NS
    assert parse_time(1767225600.25) == 1767225600 * NS + NS // 4
    assert parse_time("2026-01-01T00:00:00.5Z") == 1767225600 * NS + NS // 2
    assert parse_time("1969-12-31T23:59:59.5+00:00") == -NS // 2
    assert parse_time("2026-01-01T00:00:00") is None  # no zone: whose midnight?
    assert parse_time(True) is None
    assert parse_time(float("nan")) is None
    assert parse_time(1e300) is None


def test_the_worker_needs_a_good_file(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """`enginewatch monitors` without a file, or with a wrong one, stops with one line (exit 2)."""
    for name in [n for n in os.environ if n.startswith("ENGINEWATCH_")]:
        monkeypatch.delenv(name)
    assert main(["monitors"]) == 2
    assert capsys.readouterr().err.strip() == (
        "enginewatch monitors: ENGINEWATCH_MONITORS is not set: name a monitors file"
    )
    path = tmp_path / "monitors.yaml"
    path.write_text("monitors:\n  - {name: a, model: m}\n", encoding="utf-8")
    monkeypatch.setenv("ENGINEWATCH_MONITORS", str(path))
    assert main(["monitors"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert err == [
        f"enginewatch monitors: {path}: monitor 'a': streams: a monitor profiles streams or "
        "joins quality, or both"
    ]
    assert main(["monitors", "check"]) == 1
