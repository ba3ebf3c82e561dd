"""`enginewatch archiver --sink mlflow` against a real `mlflow server` on SQLite.

The archiver reads a real Kafka topic and logs into a private MLflow
(tests/support/mlflowd.py); everything is read back through MLflow's REST
API and compared value by value with what the points say, written out here
by hand rather than by the sink's own functions. After a SIGKILL and a
restart the runs are the same and the history still exact: a value logged
again may only be an identical entry (MLflow's SQL store keeps it once).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

import orjson
import pytest
import requests

from archiver.lineprotocol import encode_point
from enginewatch.core.points import Origin, Point, encode_archive
from enginewatch.harness import kafka
from enginewatch.harness.processes import Process as Worker
from enginewatch.harness.processes import run_enginewatch
from tests.support import archive
from tests.support.mlflowd import PrivateMlflow
from tests.support.services import INFLUX_URL, base_env
from tests.support.waiting import wait_until

MS, S = 1_000_000, 1_000_000_000
FIRST, SECOND = 120, 80
History = dict[str, dict[str, set[tuple[int, int, float]]]]  # model -> key -> entries
# The first start of a server here installs MLflow (minutes); then each test
# takes a minute or two, most of it waiting for workers and servers to start.
pytestmark = pytest.mark.timeout(900)


@pytest.fixture(scope="module")
def mlflow(tmp_path_factory: pytest.TempPathFactory) -> Iterator[PrivateMlflow]:
    server = PrivateMlflow(tmp_path_factory.mktemp("mlflow")).start()
    yield server
    server.stop()


class Fleet:
    """Archive messages of three models, every kind of point, and the metrics they make."""

    def __init__(self, token: str) -> None:
        # Model names with what an experiment name keeps and a line protocol tag escapes.
        self.token = token
        self.models = [f"{token} fraud, v=2", f'{token} churn "beta"', f"{token} Modèle 模型"]
        self.quiet = f"{token} only logs"  # no chosen measurement: no experiment
        self.long_monitor = "m" * 240  # makes keys longer than MLflow's 250 characters
        self.expected: History = {model: {} for model in self.models}
        self.bad: list[Point] = []

    def messages(self, count: int, start: int) -> list[list[Point]]:
        return [self._message(i) for i in range(start, start + count)]

    def _message(self, i: int) -> list[Point]:
        model = self.models[i % len(self.models)]
        engine = archive.ENGINES[i % len(archive.ENGINES)]
        time = archive.T0 + i * 1_500_000_123  # 1.5 s apart, with sub-millisecond parts
        kind = i % 5
        if kind == 0:
            slot, direction = str(i % 2), ("input", "output")[i % 2]
            tags = {"engine": engine, "model": model, "slot": slot, "direction": direction}
            point = Point("records", tags, {"count": float(i), "rps": i / 4}, time)
            key = f"records.rps/direction {direction}/engine {engine}/slot {slot}"
            self._expect(model, key, time, i / 4)
            return [point]
        monitor_tags = {"model": model, "monitor": "q:1", "stream": "preds/v2", "window": "1m"}
        if kind == 1:
            fields: dict[str, float | int | str] = {"mae": i / 10, "matched": i, "coverage": 0.5}
            point = Point("model_quality", {**monitor_tags, "field": "*"}, fields, time)
            for name, value in fields.items():
                key = f"model_quality.{name}/monitor q_1/stream preds_v2/window 1m"
                self._expect(model, key, time, float(value))
            return [point]
        if kind == 2:
            drift = {"method": "psi", "statistic": i / 100, "drifted": i % 2}
            share = {"drift_share": 0.25, "fields": 4}
            points = [
                Point("data_drift", {**monitor_tags, "field": "age"}, drift, time),
                Point("data_drift", {**monitor_tags, "field": "*"}, share, time),
            ]
            for name in ("statistic", "drifted"):
                key = f"data_drift.{name}/field age/monitor q_1/stream preds_v2/window 1m"
                self._expect(model, key, time, float(drift[name]))
            for name, value in share.items():
                key = f"data_drift.{name}/monitor q_1/stream preds_v2/window 1m"
                self._expect(model, key, time, float(value))
            return points
        if kind == 3:
            # Not chosen: skipped, and a string with line breaks on the way.
            text = f'line {i}\nrecords,model=x rps=1.0 {time}\n"quoted"'
            return [
                Point("engine_logs", {"engine": engine, "model": model}, {"text": text}, time),
                Point("engine_logs", {"engine": engine, "model": self.quiet}, {"text": "x"}, time),
                Point("data_profile", {**monitor_tags, "field": "age"}, {"mean": 1.0}, time),
            ]
        rps = {"model": model, "slot": "7", "direction": "output"}
        self._expect(model, "records.rps/direction output/slot 7", time, 7.0)
        good = Point("records", rps, {"rps": 7.0}, time)
        if i % 40 != 4:
            return [good]
        # Now and then, two points MLflow refuses: a key of 251+ characters, a time
        # before 1970. Only their lines are dead letters; their neighbours are logged.
        long_tags = {**monitor_tags, "monitor": self.long_monitor, "field": "*"}
        bad = [
            Point("model_quality", long_tags, {"mae": 1.0}, time),
            Point("records", {"model": model, "slot": "9", "direction": "input"}, {"rps": 1.0}, -S),
        ]
        self.bad += bad
        return [bad[0], good, bad[1]]

    def _expect(self, model: str, key: str, time: int, value: float) -> None:
        self.expected[model].setdefault(key, set()).add((time // MS, time // S, value))

    def experiment(self, model: str) -> str:
        return f"enginewatch/{model}"


def produce(topic: str, messages: list[list[Point]], first_offset: int = 0) -> None:
    """As the agents and monitors do, keyed by model (monitors' points have no engine)."""
    values = [
        encode_archive(points, Origin("notify", 0, first_offset + i))
        for i, points in enumerate(messages)
    ]
    kafka.produce(topic, values, keys=[points[0].tags["model"].encode() for points in messages])


def logged(mlflow: PrivateMlflow, fleet: Fleet, app_id: str) -> History:
    """What MLflow holds for each model: every key of its one run, every entry.
    Fails on anything but exactly one run per model, tagged as this deployment's."""
    found: History = {}
    for model in fleet.models:
        runs = mlflow.runs(fleet.experiment(model))
        assert len(runs) == 1, f"{model!r} has {len(runs)} runs"
        tags = {t["key"]: t["value"] for t in runs[0]["data"].get("tags", [])}
        assert (tags["enginewatch.model"], tags["enginewatch.app_id"]) == (model, app_id)
        run_id = runs[0]["info"]["run_id"]
        keys = [m["key"] for m in runs[0]["data"].get("metrics", [])]
        histories = {key: mlflow.history(run_id, key) for key in keys}
        # Duplicates may only be identical entries, which the set comparison allows.
        found[model] = {key: set(entries) for key, entries in histories.items()}
    return found


def progress(mlflow: PrivateMlflow, fleet: Fleet, app_id: str) -> int:
    """How many entries are logged so far; 0 while an experiment or run is missing."""
    try:
        return count(logged(mlflow, fleet, app_id))
    except (requests.HTTPError, AssertionError):
        return 0


def count(history: History) -> int:
    return sum(len(entries) for keys in history.values() for entries in keys.values())


def run_ids(mlflow: PrivateMlflow, fleet: Fleet) -> dict[str, str]:
    return {m: mlflow.runs(fleet.experiment(m))[0]["info"]["run_id"] for m in fleet.models}


def test_chosen_values_are_logged_exactly_and_a_kill_changes_nothing(
    workers: Callable[..., Worker],
    unique: Callable[[str], str],
    mlflow: PrivateMlflow,
    tmp_path: Path,
) -> None:
    fleet = Fleet(unique("m"))
    topic, dead_topic, app_id = unique("archive"), unique("dead"), unique("app")
    kafka.create_topic(topic, partitions=2)
    kafka.create_topic(dead_topic)
    env = base_env(
        app_id,
        archive_topic=topic,
        dead_letter_topic=dead_topic,
        mlflow_url=mlflow.url,
        batch_points="40",
        batch_seconds="0.2",
    )
    env.update(
        APP_DATADIR=str(tmp_path / "faust"),
        # A SIGKILLed member leaves the group after this, not after Faust's 60 s.
        BROKER_SESSION_TIMEOUT="6",
        BROKER_HEARTBEAT_INTERVAL="1",
    )
    command = ["archiver", "--sink", "mlflow", "-l", "info"]
    first_messages = fleet.messages(FIRST, 0)
    produce(topic, first_messages)
    # The first archiver commits nothing before it is killed, so its successor
    # consumes and logs every message once more.
    first = workers(command, {**env, "BROKER_COMMIT_INTERVAL": "3600"}, name="archiver-mlflow")
    group = f"{app_id}-archiver-mlflow"

    expected, bad_first = count(fleet.expected), len(fleet.bad)
    assert wait_until(lambda: progress(mlflow, fleet, app_id) >= expected, timeout=180)
    assert logged(mlflow, fleet, app_id) == fleet.expected
    runs = run_ids(mlflow, fleet)
    # One experiment per model with a chosen point; none for the model that has none.
    assert {name for name in mlflow.experiment_names() if fleet.token in name} == {
        fleet.experiment(model) for model in fleet.models
    }
    assert wait_until(lambda: kafka.size(dead_topic) >= bad_first)
    assert kafka.committed(group, topic) == 0
    first.kill()

    second_messages = fleet.messages(SECOND, FIRST)
    produce(topic, second_messages, first_offset=FIRST)
    again = workers(command, {**env, "BROKER_COMMIT_INTERVAL": "0.2"}, name="archiver-mlflow-2")
    assert wait_until(lambda: kafka.committed(group, topic) == FIRST + SECOND, timeout=180)
    assert count(fleet.expected) > expected
    assert logged(mlflow, fleet, app_id) == fleet.expected
    assert run_ids(mlflow, fleet) == runs  # found again by their tag, not made anew

    # Each refused line is a dead letter once per archiver that consumed it:
    # those of the first messages twice.
    letters = [orjson.loads(r.value or b"") for r in kafka.read_all(dead_topic)]
    assert {(letter["value"], letter["stage"]) for letter in letters} == {
        (encode_point(point), "archiver") for point in fleet.bad
    }
    assert len(letters) == bad_first + len(fleet.bad)
    errors = {letter["error"] for letter in letters}
    assert any("Metric name" in error and "250" in error for error in errors)
    assert any("Timestamp must be a nonnegative" in error for error in errors)
    assert all(error.startswith("MLflow refused: ") for error in errors)
    assert "logs into run" in first.log()
    assert again.running()


def test_a_deleted_run_is_replaced_and_logging_goes_on(
    workers: Callable[..., Worker],
    unique: Callable[[str], str],
    mlflow: PrivateMlflow,
    tmp_path: Path,
) -> None:
    model = unique("model")
    topic, app_id = unique("archive"), unique("app")
    kafka.create_topic(topic)
    env = base_env(
        app_id,
        archive_topic=topic,
        dead_letter_topic=unique("dead"),
        mlflow_url=mlflow.url,
        mlflow_experiment="enginewatch tests",  # one experiment for every model
        mlflow_metrics="sensor.value",
        batch_seconds="0.2",
    )
    env["APP_DATADIR"] = str(tmp_path / "faust")

    def sensor(i: int) -> list[Point]:
        tags = {"engine": archive.ENGINES[0], "model": model, "tap": "temperature"}
        return [Point("sensor", tags, {"value": float(i)}, archive.T0 + i * S)]

    def runs_of_model() -> list[str]:
        runs = mlflow.runs("enginewatch tests")
        tagged = [
            r for r in runs if {"key": "enginewatch.model", "value": model} in r["data"]["tags"]
        ]
        return [str(r["info"]["run_id"]) for r in tagged]

    key = f"sensor.value/engine {archive.ENGINES[0]}/tap temperature"
    produce(topic, [sensor(0)])
    workers(["archiver", "--sink", "mlflow", "-l", "info"], env, name="archiver-mlflow")
    assert wait_until(lambda: len(runs_of_model()) == 1, timeout=120)
    [old] = runs_of_model()
    assert wait_until(lambda: len(mlflow.history(old, key)) == 1)
    mlflow.post("runs/delete", {"run_id": old})

    produce(topic, [sensor(1)], first_offset=1)
    assert wait_until(lambda: len(runs_of_model()) == 1 and runs_of_model() != [old])
    [new] = runs_of_model()
    assert wait_until(lambda: len(mlflow.history(new, key)) == 1)
    assert mlflow.history(new, key) == [((archive.T0 + S) // MS, archive.T0 // S + 1, 1.0)]


def test_start_up_stops_on_refused_credentials_and_on_a_url_without_mlflow(
    workers: Callable[..., Worker], unique: Callable[[str], str], tmp_path: Path
) -> None:
    password = "Adm1n-pass-" + unique("pw")[-10:]
    secured = PrivateMlflow(tmp_path / "secured", admin_password=password).start()
    try:
        topic = unique("archive")
        kafka.create_topic(topic)
        base = base_env(
            unique("app"),
            archive_topic=topic,
            dead_letter_topic=unique("dead"),
            mlflow_url=secured.url,
            mlflow_experiment="secured",
            batch_seconds="0.2",
        )
        base["APP_DATADIR"] = str(tmp_path / "faust")
        user = {"ENGINEWATCH_MLFLOW_USERNAME": "admin"}
        cases = {
            "wrong password": {**base, **user, "ENGINEWATCH_MLFLOW_PASSWORD": "not-" + password},
            "in the URL": {
                **base,
                "ENGINEWATCH_MLFLOW_URL": secured.url.replace("//", "//admin:wrong-pw@"),
            },
            "none": base,
        }
        for case, env in cases.items():
            done = run_enginewatch("archiver", "--sink", "mlflow", env=env, cwd=tmp_path)
            assert done.returncode == 2, (case, done.stderr)
            lines = done.stderr.strip().splitlines()
            assert len(lines) == 1, (case, lines)
            assert lines[0].startswith("enginewatch archiver: MLflow answered 401 at http://")
            assert "check ENGINEWATCH_MLFLOW_TOKEN" in lines[0]
            assert password not in done.stderr + done.stdout
            assert "wrong-pw" not in done.stderr + done.stdout
            if case == "in the URL":
                assert "http://admin:***@127.0.0.1" in lines[0]
        assert "secured" not in secured.experiment_names()

        # The right credentials: the experiment is made at start-up, and metrics logged.
        tags = {"engine": archive.ENGINES[0], "model": "fraud", "slot": "0", "direction": "input"}
        produce(topic, [[Point("records", tags, {"rps": 2.5}, archive.T0)]])
        right = {**base, **user, "ENGINEWATCH_MLFLOW_PASSWORD": password}
        workers(["archiver", "--sink", "mlflow", "-l", "info"], right, name="archiver-mlflow")
        key = f"records.rps/direction input/engine {archive.ENGINES[0]}/slot 0"

        def history() -> list[tuple[int, int, float]]:
            if "secured" not in secured.experiment_names():
                return []
            runs = secured.runs("secured")
            return secured.history(runs[0]["info"]["run_id"], key) if runs else []

        assert wait_until(lambda: len(history()) == 1, timeout=120)
        assert history() == [(archive.T0 // MS, archive.T0 // S, 2.5)]
    finally:
        secured.stop()

    wrong = base_env(unique("app"), mlflow_url=INFLUX_URL)  # answers, but is no MLflow
    done = run_enginewatch("archiver", "--sink", "mlflow", env=wrong, cwd=tmp_path)
    assert done.returncode == 2
    assert done.stderr.strip().splitlines() == [
        f"enginewatch archiver: no MLflow tracking API at {INFLUX_URL}: "
        f"{INFLUX_URL}/api/2.0/mlflow/experiments/search answered 404 without MLflow's JSON "
        "(check ENGINEWATCH_MLFLOW_URL)"
    ]
