"""Which topics a worker makes ready before it subscribes, and the keyed-input check."""

from __future__ import annotations

from pathlib import Path

import pytest

from agents.app import create_agents_app
from agents.command import keyed_input_problem
from agents.resolve.resolver import Resolver
from archiver.app import create_archiver_app
from archiver.filesink import FileSink
from enginewatch.core.faustapp import COMPACTED, TopicSpec, app_topics
from enginewatch.core.settings import KafkaConfig, Settings, TopicsConfig


def settings(**topics: object) -> Settings:
    return Settings(kafka=KafkaConfig(app_id="t"), topics=TopicsConfig.model_validate(topics))


@pytest.mark.parametrize("keyed", [False, True])
def test_the_agents_read_their_input_by_engine_topic_and_changelog(keyed: bool) -> None:
    app = create_agents_app(settings(partitions=4, input_keyed_by_engine=keyed), Resolver([]))
    expected = {
        "notify": TopicSpec(4),
        "t-agents-carried-amounts-changelog": TopicSpec(4, COMPACTED),
    }
    if not keyed:
        expected["t-agents-by-engine"] = TopicSpec(4)
    assert app_topics(app) == expected


def test_the_archiver_reads_the_archive_topic(tmp_path: Path) -> None:
    app = create_archiver_app(
        settings(archive_topic="points"), "archiver", lambda: FileSink(tmp_path, 1, 1.0)
    )
    assert set(app_topics(app)) == {"points"}


def test_a_keyed_input_must_have_the_tables_partition_count() -> None:
    keyed = TopicsConfig(input_topic="notify", partitions=8, input_keyed_by_engine=True)
    assert keyed_input_problem(keyed, 8) is None
    assert keyed_input_problem(keyed, 3) == (
        "ENGINEWATCH_INPUT_KEYED_BY_ENGINE: the input topic 'notify' has 3 partition(s), "
        "ENGINEWATCH_PARTITIONS is 8; they must be equal"
    )
    assert keyed_input_problem(TopicsConfig(partitions=8), 3) is None, "re-keyed: any count"
