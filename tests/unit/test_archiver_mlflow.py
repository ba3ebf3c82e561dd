"""The MLflow sink's pure parts: line protocol back to points, points to metrics, requests."""

from __future__ import annotations

import orjson
import pytest

from archiver.lineprotocol import encode_point
from archiver.mlflowmetrics import (
    MAX_METRICS_PER_REQUEST,
    MAX_REQUEST_BYTES,
    LineParseError,
    Metric,
    batches,
    chosen_measurements,
    metric_key,
    metrics_by_model,
    parse_points,
)
from archiver.mlflowsink import Answer, experiment_name, failure, run_digest
from archiver.sink import Refused, TooLarge, Unavailable
from enginewatch.core.points import Point
from enginewatch.core.settings import MlflowConfig, SettingsError, load_settings
from tests.support import archive

T = archive.T0 + 123_456_789  # 2026-01-01T00:00:00.123456789Z
DEFAULT = MlflowConfig().chosen


def body(*points: Point) -> bytes:
    return "".join(f"{encode_point(p)}\n" for p in points).encode()


# Parsing


def test_every_point_the_archiver_writes_parses_back_as_it_was() -> None:
    points = [p for message in archive.sample_messages(40) for p in message]
    points += [
        Point("m e,a=s", {"t k,=": "v a,l=ue", "x": "a\\b", "y": "a\\,b"}, {"f k=,": 1.5}, -5),
        Point("s", {"model": "m"}, {"text": 'a "q" \\ b\nc, d=e f', "n": 3, "x": -0.0}, T),
        Point("big", {"model": "m"}, {"f": 1e300, "g": 1e-05, "i": -(2**63)}, 2**62),
    ]
    parsed = list(parse_points(body(*points).decode()))
    assert parsed == points
    # Each field keeps its type: line protocol's ints stay ints.
    assert [type(v) for p in parsed for v in p.fields.values()] == [
        type(v) for p in points for v in p.fields.values()
    ]


def test_a_line_break_in_a_name_reads_as_influxdb_keeps_it() -> None:
    point = Point("m", {"model": "a\nb"}, {"f": 1.0}, T)
    [parsed] = parse_points(body(point).decode())
    assert parsed.tags["model"] == "a\\nb"  # the two characters InfluxDB stores


def test_unwanted_lines_are_passed_over_even_with_line_breaks_in_strings() -> None:
    log = Point("engine_logs", {"model": "m"}, {"text": 'x\nrecords,model=m rps=1.0 5\n"'}, T)
    wanted = Point("records", {"model": "m", "slot": "0"}, {"rps": 2.0}, T)
    text = body(log, wanted, log).decode()
    assert list(parse_points(text, {"records"}.__contains__)) == [wanted]


@pytest.mark.parametrize(
    "text",
    [
        "m f=1.0\n",  # no timestamp
        "m f=1.0 12",  # no final newline
        "m 12\n",  # no field
        "m f= 12\n",
        'm f="open 12\n',
        "m f=nan 12\n",
        "m f=abc 12\n",
        "m,t f=1.0 12\n",  # a tag without a value
        "\n",
    ],
)
def test_what_is_not_line_protocol_is_an_error(text: str) -> None:
    with pytest.raises(LineParseError):
        list(parse_points(text))


# Choosing and naming


def records(**fields: float) -> Point:
    tags = {"engine": archive.ENGINES[0], "model": "fraud", "slot": "0", "direction": "input"}
    return Point("records", tags, fields, T)


def quality(**fields: float | int | str) -> Point:
    tags = {"model": "fraud", "monitor": "q", "stream": "predictions", "field": "*", "window": "1m"}
    return Point("model_quality", tags, fields, T)


def test_the_defaults_choose_quality_drift_and_records_per_second() -> None:
    drift = Point(
        "data_drift",
        {"model": "churn", "monitor": "d", "stream": "inputs", "field": "age", "window": "1m"},
        {"method": "psi", "statistic": 0.25, "drifted": 1},
        T,
    )
    others = [
        Point("data_profile", {"model": "fraud", "field": "age"}, {"mean": 3.0}, T),
        Point("engine_status", {"model": "fraud"}, {"code": 3, "state": "running"}, T),
        Point("model_quality", {"monitor": "no model tag"}, {"mae": 1.0}, T),
    ]
    found = metrics_by_model(
        body(records(count=7.0, rps=3.5), quality(mae=0.5, matched=10), drift, *others), DEFAULT
    )
    engine = archive.ENGINES[0]
    assert found == {
        "fraud": [
            Metric(
                f"records.rps/direction input/engine {engine}/slot 0", 3.5, T // 10**6, T // 10**9
            ),
            Metric("model_quality.mae/monitor q/stream predictions/window 1m", 0.5, *_times()),
            Metric("model_quality.matched/monitor q/stream predictions/window 1m", 10.0, *_times()),
        ],
        "churn": [
            Metric(
                "data_drift.statistic/field age/monitor d/stream inputs/window 1m", 0.25, *_times()
            ),
            Metric(
                "data_drift.drifted/field age/monitor d/stream inputs/window 1m", 1.0, *_times()
            ),
        ],
    }
    assert all(type(m.value) is float for ms in found.values() for m in ms)


def _times() -> tuple[int, int]:
    """The metric's timestamp (ms) and step (s) of a point at T."""
    return 1_767_225_600_123, 1_767_225_600


def test_a_measurement_or_a_single_field_can_be_chosen() -> None:
    point = records(count=7.0, rps=3.5)
    assert [m.value for m in metrics_by_model(body(point), frozenset({"records"}))["fraud"]] == [
        7.0,
        3.5,
    ]
    assert [
        m.value for m in metrics_by_model(body(point), frozenset({"records.count"}))["fraud"]
    ] == [7.0]
    assert metrics_by_model(body(point), frozenset({"record"})) == {}


def test_dotted_measurement_names_are_chosen_either_way() -> None:
    assert chosen_measurements(frozenset({"a.b.c", "d"})) == {"a", "a.b", "a.b.c", "d"}
    point = Point("fraud.0.rps", {"model": "fraud"}, {"value": 2.0}, T)
    for chosen in ({"fraud.0.rps"}, {"fraud.0.rps.value"}):
        assert [m.key for m in metrics_by_model(body(point), frozenset(chosen))["fraud"]] == [
            "fraud.0.rps.value"
        ]


def test_keys_keep_what_mlflow_takes_and_replace_the_rest() -> None:
    tags = {"model": "m", "b": "x/y:z", "a": "ü é 模型_-.", "c": "*", "d": 'q"w,e=r\\'}
    assert metric_key("m*q", "f:1", tags) == "m_q.f_1/a ü é 模型_-./b x_y_z/d q_w_e_r_"


def test_times_before_1970_stay_as_they_are_for_mlflow_to_refuse() -> None:
    [metric] = metrics_by_model(body(Point("records", {"model": "m"}, {"rps": 1.0}, -1)), DEFAULT)[
        "m"
    ]
    assert (metric.timestamp, metric.step) == (-1, -1)


# Requests


def test_requests_hold_at_most_mlflows_count_of_metrics() -> None:
    metrics = [Metric(f"k{i}", float(i), i, i) for i in range(2 * MAX_METRICS_PER_REQUEST + 500)]
    requests = batches(metrics)
    assert [len(r) for r in requests] == [1000, 1000, 500]
    assert [m for r in requests for m in r] == metrics


def test_requests_stay_within_mlflows_size_once_encoded() -> None:
    # 250 characters of 4 bytes each: the longest key MLflow takes, at its largest.
    metrics = [
        Metric(f"{i:04d}" + "模" * 246, -1.2345678901234567e-300, 2**62, -(2**62))
        for i in range(1200)
    ]
    requests = batches(metrics)
    assert len(requests) > 1
    assert [m for r in requests for m in r] == metrics
    for request in requests:
        run_id = "0" * 32
        encoded = orjson.dumps({"run_id": run_id, "metrics": [m.json() for m in request]})
        assert len(encoded) <= MAX_REQUEST_BYTES
        assert len(request) <= MAX_METRICS_PER_REQUEST


def test_no_metrics_no_requests() -> None:
    assert batches([]) == []


# Experiments, runs and settings


def test_one_experiment_per_model_or_a_named_one() -> None:
    assert experiment_name("enginewatch/{model}", 'churn "beta"') == 'enginewatch/churn "beta"'
    assert experiment_name("fleet", "fraud") == "fleet"


def test_the_run_tag_depends_on_deployment_and_model_only() -> None:
    assert run_digest("prod", "fraud") == run_digest("prod", "fraud")
    assert (
        len({run_digest("prod", "fraud"), run_digest("prod", "churn"), run_digest("dev", "fraud")})
        == 3
    )
    assert run_digest("a", "b\0c") != run_digest("a\0b", "c")
    assert set(run_digest("x", "o'brien")) <= set("0123456789abcdef")


def test_mlflow_settings_and_their_defaults() -> None:
    settings = load_settings(
        {
            "ENGINEWATCH_MLFLOW_URL": "https://user:pw@mlflow:5000",
            "ENGINEWATCH_MLFLOW_METRICS": "records.rps, model_quality_class ,",
            "ENGINEWATCH_MLFLOW_USERNAME": "watcher",
            "ENGINEWATCH_MLFLOW_PASSWORD": "s3cret",
        }
    ).mlflow
    assert settings.chosen == {"records.rps", "model_quality_class"}
    assert settings.password.get_secret_value() == "s3cret"
    assert "s3cret" not in repr(settings)
    defaults = MlflowConfig()
    assert (defaults.url, defaults.experiment, defaults.timeout) == (
        "http://localhost:5000",
        "enginewatch/{model}",
        10.0,
    )
    assert defaults.chosen == {"model_quality", "data_drift", "records.rps"}


@pytest.mark.parametrize(
    ("environment", "message"),
    [
        ({"ENGINEWATCH_MLFLOW_URL": "mlflow:5000"}, "ENGINEWATCH_MLFLOW_URL: "),
        ({"ENGINEWATCH_MLFLOW_EXPERIMENT": "team/{models}"}, "ENGINEWATCH_MLFLOW_EXPERIMENT: "),
        ({"ENGINEWATCH_MLFLOW_METRICS": " , "}, "ENGINEWATCH_MLFLOW_METRICS: "),
        (
            {"ENGINEWATCH_MLFLOW_TOKEN": "t0ken", "ENGINEWATCH_MLFLOW_USERNAME": "u"},
            "set either ENGINEWATCH_MLFLOW_TOKEN or ENGINEWATCH_MLFLOW_USERNAME",
        ),
        (
            {"ENGINEWATCH_MLFLOW_PASSWORD": "t0ken"},
            "ENGINEWATCH_MLFLOW_USERNAME and ENGINEWATCH_MLFLOW_PASSWORD go together",
        ),
        ({"ENGINEWATCH_MLFLOW_SSL_CAFILE": "/no/such/ca.pem"}, "ENGINEWATCH_MLFLOW_SSL_CAFILE: "),
    ],
)
def test_a_wrong_mlflow_setting_is_one_line_without_secrets(
    environment: dict[str, str], message: str
) -> None:
    with pytest.raises(SettingsError) as caught:
        load_settings(environment)
    text = str(caught.value)
    assert text.startswith(message)
    assert "\n" not in text
    assert "t0ken" not in text


# How an answer is taken


def answer(status: int, body: dict[str, str] | None = None, text: str = "") -> Answer:
    return Answer(status, body or {}, text, 7.0 if status in (429, 503) else None)


@pytest.mark.parametrize(
    ("status", "body", "endpoint", "kind"),
    [
        (503, {}, "runs/log-batch", Unavailable),
        (502, {}, "runs/search", Unavailable),
        (429, {"error_code": "REQUEST_LIMIT_EXCEEDED"}, "runs/log-batch", Unavailable),
        (413, {}, "runs/log-batch", TooLarge),
        (413, {}, "runs/search", Refused),  # not a body that can be split
        (401, {}, "experiments/search", Refused),
        (403, {"error_code": "PERMISSION_DENIED"}, "runs/create", Refused),
        (404, {}, "experiments/search", Refused),  # no MLflow there
        (200, {}, "experiments/get-by-name", Refused),  # a page, not MLflow's JSON
    ],
)
def test_answers_are_outages_refusals_or_too_large(
    status: int, body: dict[str, str], endpoint: str, kind: type[Exception]
) -> None:
    shown = "http://u:***@mlflow:5000"
    error = failure(answer(status, body, "<html>nope</html>"), shown, endpoint)
    assert type(error) is kind
    assert f"{shown}/api/2.0/mlflow/{endpoint}" in str(error)
    if isinstance(error, Unavailable) and status in (429, 503):
        assert error.retry_after == 7.0


def test_a_refusal_says_which_setting_to_check() -> None:
    shown = "http://mlflow:5000"
    refused = str(failure(answer(403, {"error_code": "PERMISSION_DENIED"}), shown, "runs/create"))
    assert "check ENGINEWATCH_MLFLOW_TOKEN, or ENGINEWATCH_MLFLOW_USERNAME" in refused
    nothing = str(failure(answer(404, text="Not Found"), shown, "experiments/search"))
    assert nothing == (
        "no MLflow tracking API at http://mlflow:5000: http://mlflow:5000/api/2.0/mlflow/"
        "experiments/search answered 404 without MLflow's JSON (check ENGINEWATCH_MLFLOW_URL)"
    )
