"""The columns of an InfluxQL query, read from its text, as Grafana names a table's."""

from __future__ import annotations

import pytest

from enginewatch.dashboards.query_columns import group_by_tags, select_columns, table_columns


@pytest.mark.parametrize(
    ("query", "columns"),
    [
        ('SELECT "a", b FROM "m"', ["a", "b"]),
        ('SELECT last("code") AS "state", "state" AS reported FROM "s"', ["state", "reported"]),
        ('SELECT mean("rps") FROM "records"', ["mean"]),
        # Only the outer SELECT: the subquery's columns are its own.
        ('SELECT "v" FROM (SELECT last("x") AS "v", "y" FROM "m") WHERE "v" = 1', ["v"]),
        # Commas and keywords inside quotes, regexes and calls do not split or end a clause.
        ('SELECT "a, from b", percentile("x", 95) FROM /m.*,/', ["a, from b", "percentile"]),
        ('SELECT * FROM "m"', None),
        ('SELECT /^cpu/ FROM "m"', None),
        ('SHOW TAG VALUES WITH KEY = "model"', None),
    ],
)
def test_select_columns(query: str, columns: list[str] | None) -> None:
    assert select_columns(query) == columns


def test_group_by_tags_skip_time_and_give_up_on_a_wildcard() -> None:
    query = 'SELECT mean("v") FROM "m" GROUP BY time($__interval), "engine", slot fill(none)'
    assert group_by_tags(query) == ["engine", "slot"]
    assert group_by_tags('SELECT "v" FROM "m" GROUP BY *') is None
    assert group_by_tags('SELECT "v" FROM "m"') == []


def test_table_columns_of_the_firing_alerts_query() -> None:
    query = (
        'SELECT "state", "value" FROM (SELECT last("firing") AS "firing", "state", "value" '
        'FROM "alerts" WHERE time <= ${__to}ms '
        'GROUP BY "alertname", "severity", "engine", "model") '
        'WHERE "firing" = 1 GROUP BY "alertname", "severity", "engine", "model"'
    )
    assert table_columns(query) == [
        "Time", "alertname", "severity", "engine", "model", "state", "value"
    ]  # fmt: skip
