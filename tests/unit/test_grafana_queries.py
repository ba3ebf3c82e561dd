"""Grafana's InfluxQL interpolation, checked against what Grafana's own code does."""

from __future__ import annotations

import pytest

from enginewatch.dashboards.interpolation import (
    ALL_VALUE,
    InterpolationError,
    TimeRange,
    VariableValue,
    calculate_interval_ms,
    format_interval,
    interpolate,
    interval_to_ms,
    referenced_names,
    regex_escape,
    replace_macros,
    replace_variables,
    round_interval,
    time_filter,
)

HOUR = TimeRange(1_700_000_000_000, 1_700_003_600_000)


@pytest.mark.parametrize(
    ("raw_ms", "nice_ms"),
    [
        (0, 1),
        (9.9, 1),
        (10, 10),
        (400, 500),
        (749, 500),
        (750, 1000),
        (2250, 2000),
        (3500, 5000),
        (4500, 5000),
        (12499, 10000),
        (12500, 15000),
        (44999, 30000),
        (60000, 60000),
        (89999, 60000),
        (90000, 120000),
        (86_400_000, 86_400_000),
        (3_628_800_000, 31_536_000_000),
    ],
)
def test_round_interval_follows_grafanas_steps(raw_ms: float, nice_ms: int) -> None:
    assert round_interval(raw_ms) == nice_ms


@pytest.mark.parametrize(
    ("text", "ms"),
    [
        ("10s", 10_000),
        ("1m", 60_000),
        ("500ms", 500),
        ("2h", 7_200_000),
        ("30", 30_000),
        (">10s", 10_000),
        ("1.5s", 1_000),
        ("1d", 86_400_000),
    ],
)
def test_interval_to_ms(text: str, ms: int) -> None:
    assert interval_to_ms(text) == ms


def test_interval_text_must_have_a_unit_grafana_knows() -> None:
    with pytest.raises(InterpolationError, match="invalid interval"):
        interval_to_ms("ten seconds")


def test_calculate_interval_divides_the_range_by_the_data_points() -> None:
    # One hour over 1200 pixels is 3 s, which Grafana rounds to 2 s.
    assert calculate_interval_ms(HOUR, 1200) == 2000
    # One hour over 300 points is 12 s -> 10 s.
    assert calculate_interval_ms(HOUR, 300) == 10_000


def test_calculate_interval_never_goes_below_the_low_limit() -> None:
    assert calculate_interval_ms(HOUR, 1200, "5s") == 5000
    assert calculate_interval_ms(HOUR, 10, "5s") == 300_000


@pytest.mark.parametrize(
    ("ms", "text"),
    [
        (1, "1ms"),
        (0, "1ms"),
        (500, "500ms"),
        (1000, "1s"),
        (90_000, "1m"),
        (120_000, "2m"),
        (3_600_000, "1h"),
        (86_400_000, "1d"),
        (31_536_000_000, "1y"),
    ],
)
def test_format_interval_uses_the_largest_whole_unit(ms: int, text: str) -> None:
    assert format_interval(ms) == text


def test_time_filter_is_absolute_milliseconds() -> None:
    assert time_filter(HOUR) == "time >= 1700000000000ms and time <= 1700003600000ms"


def test_macros_replaced_in_grafanas_order() -> None:
    query = (
        'SELECT mean("rps") FROM "records" WHERE $timeFilter '
        "GROUP BY time($__interval), time($interval) LIMIT $__interval_ms"
    )
    assert replace_macros(query, HOUR, 5000) == (
        'SELECT mean("rps") FROM "records" WHERE '
        "time >= 1700000000000ms and time <= 1700003600000ms "
        "GROUP BY time(5s), time(5s) LIMIT 5000"
    )


def test_regex_escape_matches_kbn() -> None:
    assert regex_escape("a.b*c+d?e^f$g|h(i)j[k]l{m}n/o\\p-q_r") == (
        "a\\.b\\*c\\+d\\?e\\^f\\$g\\|h\\(i\\)j\\[k\\]l\\{m\\}n\\/o\\\\p-q_r"
    )


def test_single_value_is_regex_escaped() -> None:
    model = VariableValue("model", "fraud.v2")
    assert (
        replace_variables('"model" =~ /^$model$/', {"model": model}) == '"model" =~ /^fraud\\.v2$/'
    )


def test_several_values_become_an_alternation() -> None:
    engine = VariableValue("engine", ("e1", "e.2"))
    query = '"engine" =~ /^$engine$/'
    assert replace_variables(query, {"engine": engine}) == '"engine" =~ /^(e1|e\\.2)$/'


def test_one_selected_value_of_a_multi_value_variable_has_no_parentheses() -> None:
    engine = VariableValue("engine", ("e1",))
    assert replace_variables("/^$engine$/", {"engine": engine}) == "/^e1$/"


def test_all_expands_to_every_option() -> None:
    engine = VariableValue("engine", (ALL_VALUE,), options=("e1", "e2", "e3"))
    assert replace_variables("/^$engine$/", {"engine": engine}) == "/^(e1|e2|e3)$/"


def test_a_custom_all_value_goes_in_unformatted() -> None:
    engine = VariableValue("engine", ALL_VALUE, options=("e1",), custom_all_value=".*")
    assert replace_variables("/^$engine$/", {"engine": engine}) == "/^.*$/"


def test_every_variable_syntax_and_explicit_formats() -> None:
    variables = {"m": VariableValue("m", ("a", "b"))}
    assert replace_variables("$m [[m]] ${m} ${m:pipe} [[m:csv]] ${m:raw}", variables) == (
        "(a|b) (a|b) (a|b) a|b a,b a,b"
    )


def test_unknown_names_and_server_macros_are_left_alone() -> None:
    text = "$timeFilter $__interval $__interval_ms $interval $nosuch"
    assert replace_variables(text, {}) == text


def test_from_and_to_are_builtins() -> None:
    assert replace_variables("$__from-${__to}", {}, HOUR) == "1700000000000-1700003600000"


def test_unknown_format_is_an_error() -> None:
    with pytest.raises(InterpolationError, match="format"):
        replace_variables("${m:nosuchformat}", {"m": VariableValue("m", "a")})


def test_interpolate_runs_both_steps() -> None:
    query = (
        'SELECT last("code") FROM "engine_status" WHERE "model" =~ /^$model$/ AND $timeFilter '
        'GROUP BY time($__interval), "engine"'
    )
    result = interpolate(query, {"model": VariableValue("model", "churn")}, HOUR, 10_000)
    assert result == (
        'SELECT last("code") FROM "engine_status" WHERE "model" =~ /^churn$/ AND '
        'time >= 1700000000000ms and time <= 1700003600000ms GROUP BY time(10s), "engine"'
    )


def test_referenced_names() -> None:
    assert referenced_names("a $model [[engine]] ${slot:csv} $timeFilter") == {
        "model",
        "engine",
        "slot",
        "timeFilter",
    }
