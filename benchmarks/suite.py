"""The whole benchmark: every figure, several runs side by side, medians and ratios."""

from __future__ import annotations

import logging
import statistics
from collections.abc import Callable
from dataclasses import asdict
from pathlib import Path
from typing import Any

from archiver.sink import GZIP_LEVEL
from benchmarks import (
    archiving,
    correctness,
    machine,
    monitoring,
    pipeline,
    profiling,
    state,
    telegraf,
    throughput,
    workload,
)
from benchmarks.session import Scale, Session
from benchmarks.workload import Expected, Recording

log = logging.getLogger(__name__)

# The archiver's batch wait for the second latency figure (the default is 1.0 s).
# The former default, for comparison with the current 0.5 s.
TUNED_BATCH_SECONDS = "1.0"

# Every figure of a run: key -> (unit, what it is). Ratios are taken within a run.
METRICS: dict[str, tuple[str, str]] = {
    "ceilings.raw_consume": ("messages/s", "aiokafka consumer + orjson.loads, in one process"),
    "ceilings.noop_consume": ("messages/s", "Faust agent that drops every event"),
    "ceilings.noop_consume_cpu": ("µs CPU/message", "its CPU time per event"),
    "ceilings.noop_forward": ("messages/s", "Faust agent that sends every event on (Topic.send)"),
    "ceilings.noop_forward_cpu": ("µs CPU/message", "its CPU time per event"),
    "agents.keyed": ("reports/s", "one worker, input keyed by engine (one hop)"),
    "agents.keyed_cpu": ("µs CPU/report", "its CPU time per report"),
    "agents.keyed_ratio": ("ratio", "agents (one hop) / Faust no-op"),
    "agents.previous": ("reports/s", "the same, with the wiring before the change"),
    "agents.previous_cpu": ("µs CPU/report", "its CPU time per report"),
    "agents.speedup": ("ratio", "agents (one hop) / previous wiring"),
    "agents.two_hops": ("reports/s", "one worker, default topology (re-keyed by engine)"),
    "agents.two_hops_cpu": ("µs CPU/report", "its CPU time per report"),
    "agents.two_hops_ratio": ("ratio", "agents (two hops) / Faust no-op"),
    "scaling.two_workers": ("reports/s", "two workers, default topology, 4 partitions"),
    "scaling.two_workers_cpu": ("µs CPU/report", "their CPU time per report, both workers"),
    "scaling.ratio": ("ratio", "two workers / one worker"),
    "archiver.points": ("points/s", "enginewatch archiver, archive topic -> queryable in InfluxDB"),
    "archiver.points_cpu": ("µs CPU/point", "its CPU time per point"),
    "archiver.points_per_message": ("points/message", "archive messages as drained"),
    "archiver.bulk_post": ("points/s", "the same line protocol, POSTed 5 000 lines a request"),
    "archiver.ratio": ("ratio", "archiver / bulk POST"),
    "archiver.gzip": ("points/s", "the archiver with ENGINEWATCH_INFLUX_GZIP=true"),
    "archiver.gzip_cpu": ("µs CPU/point", "its CPU time per point"),
    "archiver.bulk_post_gzip": ("points/s", "the bulk POST, gzip-compressed the same way"),
    "archiver.ratio_gzip": ("ratio", "archiver / bulk POST, both gzip-compressed"),
    "archiver.live": ("points/s", "the archiver, archive messages as written live"),
    "archiver.live_cpu": ("µs CPU/point", "its CPU time per point"),
    "archiver.live_points_per_message": ("points/message", "archive messages as written live"),
    "archiver.live_ratio": ("ratio", "archiver, live-sized messages / bulk POST"),
    "transcode.fast": ("points/s", "archiver/transcode.py: archive message -> lines"),
    "transcode.reference": ("points/s", "decode_archive, then encode_point per point"),
    "transcode.ratio": ("ratio", "fast path / reference path"),
    "encoder.ours": ("points/s", "archiver/lineprotocol.encode_point"),
    "encoder.influxdb_client": ("points/s", "influxdb_client.Point(...).to_line_protocol()"),
    "encoder.ratio": ("ratio", "ours / influxdb-client"),
    "pipeline.enginewatch": (
        "reports/s",
        "agents + archiver, notifications -> queryable in InfluxDB",
    ),
    "pipeline.enginewatch_cpu": ("µs CPU/report", "CPU time per report, both workers"),
    "pipeline.enginewatch_services_cpu": ("µs CPU/report", "Kafka's and InfluxDB's meanwhile"),
    "pipeline.baseline": ("reports/s", "the tutorial-style baseline, same recording"),
    "pipeline.baseline_cpu": ("µs CPU/report", "its CPU time per report"),
    "pipeline.baseline_services_cpu": ("µs CPU/report", "Kafka's and InfluxDB's meanwhile"),
    "pipeline.ratio": ("ratio", "enginewatch / baseline"),
    "pipeline.recording_span": ("s", "engine time the recording covers"),
    "pipeline.baseline_stamped_span": ("s", "time span the baseline stamped its points with"),
    "pipeline.telegraf": (
        "messages/s",
        "Telegraf (kafka_consumer, json_v2, influxdb), same recording",
    ),
    "pipeline.telegraf_cpu": ("µs CPU/message", "its CPU time per message"),
    "pipeline.telegraf_services_cpu": ("µs CPU/message", "Kafka's and InfluxDB's meanwhile"),
    "pipeline.telegraf_ratio": ("ratio", "enginewatch / Telegraf, messages/s into InfluxDB"),
    "latency.p50": ("s", "produce -> queryable in InfluxDB, median"),
    "latency.p99": ("s", "produce -> queryable in InfluxDB, 99th percentile"),
    "latency.max": ("s", "produce -> queryable in InfluxDB, worst probe"),
    "latency.probes": ("probes", "probes counted (after the warm-up)"),
    "latency.rate": ("reports/s", "the paced input rate actually sent"),
    "latency_tuned.p50": ("s", f"median, ENGINEWATCH_BATCH_SECONDS={TUNED_BATCH_SECONDS}"),
    "latency_tuned.p99": ("s", f"99th percentile, ENGINEWATCH_BATCH_SECONDS={TUNED_BATCH_SECONDS}"),
    "latency_tuned.max": ("s", f"worst probe, ENGINEWATCH_BATCH_SECONDS={TUNED_BATCH_SECONDS}"),
    "monitors.profile": (
        "records/s",
        f"one monitors worker, a {monitoring.FIELDS}-field numeric profile, 1 s windows",
    ),
    "monitors.profile_cpu": ("µs CPU/record", "its CPU time per record"),
    "monitors.profile_ratio": ("ratio", "monitors profile / Faust no-op"),
    "monitors.join": ("records/s", "one monitors worker, predictions joined with truths by id"),
    "monitors.join_cpu": ("µs CPU/record", "its CPU time per record (a prediction or a truth)"),
    "monitors.join_ratio": ("ratio", "monitors join / Faust no-op"),
}


def run(scale: Scale, workdir: Path) -> dict[str, Any]:
    about = machine.describe()
    session = Session(scale, workdir)
    try:
        agents_input = workload.recording(scale.agents_messages, sensor_reports_only=True)
        agents_expected = workload.expected(agents_input.values, agents_input.models)
        mixed = workload.recording(scale.pipeline_messages, sensor_reports_only=False)
        mixed_expected = workload.expected(mixed.values, mixed.models)
        engine_map = throughput.write_engine_map(session, agents_input.models)
        runs: list[dict[str, float]] = []
        kept: dict[str, str] = {}
        for number in range(1, scale.runs + 1):
            log.info("run %d of %d", number, scale.runs)
            runs.append(
                one_run(
                    session, agents_input, agents_expected, mixed, mixed_expected, engine_map, kept
                )
            )
        log.info("profile (py-spy) and state")
        profiled = workload.Recording(
            agents_input.values[: scale.profile_messages],
            agents_input.keys[: scale.profile_messages],
            agents_input.models,
        )
        profile = profiling.profile_agents(
            session,
            profiled,
            workload.expected(profiled.values, profiled.models),
            engine_map,
        )
        sizes = state.state_per_engine(agents_expected, agents_input, kept["agents_app_id"])
        log.info("correctness: enginewatch and Telegraf on the same input, invalid lines in it")
        table = correctness.correctness(session, mixed, engine_map)
    finally:
        session.close()
    about["versions"]["telegraf"] = telegraf.telegraf_version()
    return {
        **about,
        "scale": asdict(scale),
        "workload": {
            "engines": len(agents_input.models),
            "agents_reports": len(agents_input),
            "agents_points": len(agents_expected.points),
            "pipeline_notifications": len(mixed),
            "pipeline_points": len(mixed_expected.points),
        },
        "correctness": table,
        "figures": {key: _summary(key, [r[key] for r in runs]) for key in METRICS},
        "profile": asdict(profile),
        "profile_before": profiling.profile_before(),
        "memory": {
            "peak_rss_mib": {
                label: round(max(values) / 2**20, 1)
                for label, values in sorted(session.peak_rss.items())
            },
            "state_bytes_per_engine": sizes,
        },
    }


def one_run(
    session: Session,
    agents_input: Recording,
    agents_expected: Expected,
    mixed: Recording,
    mixed_expected: Expected,
    engine_map: Path,
    kept: dict[str, str],
) -> dict[str, float]:
    """Every throughput and latency figure once, one after the other on the same services."""
    out: dict[str, float] = {}
    step = _stepper()

    step("raw consume")
    out["ceilings.raw_consume"] = throughput.raw_consume(session, agents_input)
    step("faust no-op, consume")
    noop = throughput.faust_noop(session, agents_input, "consume")
    out["ceilings.noop_consume"], out["ceilings.noop_consume_cpu"] = noop.rate, noop.cpu_us
    step("faust no-op, forward")
    forward = throughput.faust_noop(session, agents_input, "forward")
    out["ceilings.noop_forward"], out["ceilings.noop_forward_cpu"] = forward.rate, forward.cpu_us

    def agents(**options: Any) -> throughput.AgentsRun:
        return throughput.agents(session, agents_input, agents_expected, engine_map, **options)

    step("agents, keyed input")
    keyed = agents(keyed=True)
    kept.setdefault("agents_app_id", keyed.app_id)
    out["agents.keyed"], out["agents.keyed_cpu"] = keyed.throughput.rate, keyed.throughput.cpu_us
    step("agents, previous wiring")
    previous = agents(keyed=True, before_change=True).throughput
    out["agents.previous"], out["agents.previous_cpu"] = previous.rate, previous.cpu_us
    step("agents, two hops, one worker")
    one = agents(keyed=False).throughput
    out["agents.two_hops"], out["agents.two_hops_cpu"] = one.rate, one.cpu_us
    step("agents, two hops, two workers")
    two = agents(keyed=False, workers=2).throughput
    out["scaling.two_workers"], out["scaling.two_workers_cpu"] = two.rate, two.cpu_us
    out["agents.keyed_ratio"] = keyed.throughput.rate / noop.rate
    out["agents.two_hops_ratio"] = one.rate / noop.rate
    out["agents.speedup"] = keyed.throughput.rate / previous.rate
    out["scaling.ratio"] = two.rate / one.rate

    step("archiver")
    copies = session.scale.archive_copies
    points = agents_expected.points
    drained = archiving.backlog(session, points, copies, archiving.DRAINING_BATCH_INPUTS)
    archived = archiving.archiver(session, drained)
    out["archiver.points"], out["archiver.points_cpu"] = archived.rate, archived.cpu_us
    out["archiver.points_per_message"] = len(drained.points) / drained.messages
    step("bulk POST")
    out["archiver.bulk_post"] = archiving.bulk_post(session, drained.points)
    out["archiver.ratio"] = archived.rate / out["archiver.bulk_post"]
    step("archiver and bulk POST, gzip")
    gzipped = archiving.archiver(session, drained, influx_gzip="true")
    out["archiver.gzip"], out["archiver.gzip_cpu"] = gzipped.rate, gzipped.cpu_us
    out["archiver.bulk_post_gzip"] = archiving.bulk_post(session, drained.points, GZIP_LEVEL)
    out["archiver.ratio_gzip"] = gzipped.rate / out["archiver.bulk_post_gzip"]
    step("archiver, live-sized messages")
    live = archiving.backlog(session, points, copies, archiving.LIVE_BATCH_INPUTS)
    live_run = archiving.archiver(session, live)
    out["archiver.live"], out["archiver.live_cpu"] = live_run.rate, live_run.cpu_us
    out["archiver.live_points_per_message"] = len(live.points) / live.messages
    out["archiver.live_ratio"] = live_run.rate / out["archiver.bulk_post"]
    step("encoders")
    sample = points[: session.scale.encoder_points]
    out["encoder.ours"], out["encoder.influxdb_client"] = archiving.encoders(sample)
    out["encoder.ratio"] = out["encoder.ours"] / out["encoder.influxdb_client"]
    out["transcode.fast"], out["transcode.reference"] = archiving.transcoders(sample)
    out["transcode.ratio"] = out["transcode.fast"] / out["transcode.reference"]

    step("monitors, 10-field profile")
    profiled = monitoring.monitors_throughput(session, session.scale.monitors_records)
    out["monitors.profile"], out["monitors.profile_cpu"] = profiled.rate, profiled.cpu_us
    out["monitors.profile_ratio"] = profiled.rate / noop.rate
    step("monitors, prediction-truth join")
    joined = monitoring.join_throughput(session, session.scale.monitors_pairs)
    out["monitors.join"], out["monitors.join_cpu"] = joined.rate, joined.cpu_us
    out["monitors.join_ratio"] = joined.rate / noop.rate

    step("pipeline")
    running = pipeline.start_pipeline(session, engine_map)
    try:
        ours = pipeline.pipeline_throughput(session, running, mixed, mixed_expected)
        step("latency")
        delays = pipeline.latency(session, running)
    finally:
        pipeline.stop_pipeline(session, running)
    out["pipeline.enginewatch"], out["pipeline.enginewatch_cpu"] = ours.rate, ours.cpu_us
    out["pipeline.enginewatch_services_cpu"] = ours.services_cpu_us
    out["latency.p50"], out["latency.p99"], out["latency.max"] = delays.p50, delays.p99, delays.max
    out["latency.probes"], out["latency.rate"] = float(delays.probes), delays.rate
    step("latency, archiver batches of at most 1 s")
    running = pipeline.start_pipeline(session, engine_map, batch_seconds=TUNED_BATCH_SECONDS)
    try:
        tuned = pipeline.latency(session, running)
    finally:
        pipeline.stop_pipeline(session, running)
    out["latency_tuned.p50"], out["latency_tuned.p99"] = tuned.p50, tuned.p99
    out["latency_tuned.max"] = tuned.max
    step("baseline")
    theirs, stamped = pipeline.baseline_throughput(session, mixed, engine_map)
    out["pipeline.baseline"], out["pipeline.baseline_cpu"] = theirs.rate, theirs.cpu_us
    out["pipeline.baseline_services_cpu"] = theirs.services_cpu_us
    out["pipeline.ratio"] = ours.rate / theirs.rate
    out["pipeline.recording_span"] = pipeline.recording_span(mixed)
    out["pipeline.baseline_stamped_span"] = stamped
    step("telegraf")
    tg = telegraf.telegraf_throughput(session, mixed)
    out["pipeline.telegraf"], out["pipeline.telegraf_cpu"] = tg.rate, tg.cpu_us
    out["pipeline.telegraf_services_cpu"] = tg.services_cpu_us
    out["pipeline.telegraf_ratio"] = ours.rate / tg.rate
    return out


def _summary(key: str, values: list[float]) -> dict[str, Any]:
    unit, what = METRICS[key]
    return {"median": statistics.median(values), "runs": values, "unit": unit, "what": what}


def _stepper() -> Callable[[str], None]:
    def step(name: str) -> None:
        log.info("  %s", name)

    return step
