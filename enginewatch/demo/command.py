"""`enginewatch demo [--seconds S]`: the whole pipeline on the local services, then a summary.

Simulated engines -> `enginewatch agents` -> `enginewatch archiver` -> InfluxDB,
with `enginewatch alerts` on the archive topic, each a process of its own with
its own settings (an app id, topics and a database of the demo's own, the
simulated fleet's engine map, the demo's alert rules: enginewatch.demo.alerts).
The simulated fleet has its incidents: an engine falls into error for a while,
one runs hot. The model of the engine in error also has its own streams (its
inputs, shifting halfway, its predictions and the truth), which
`enginewatch monitors` watches (the demo's monitors file:
enginewatch.demo.monitoring). After the simulation it waits until every
notification is a point in InfluxDB, each incident's alert fired and resolved
and the monitor's windows are in, prints a per-model summary, the alerts and
the model's drift and quality per window read back from InfluxDB, renders the
dashboards into PNG files, stops what it started and says how to run the full
stack with compose. It exits 0 only if data flowed end to end (points in
InfluxDB for every simulated model, not one dead letter), each incident's
alert fired and resolved, and the monitor saw the drift after the shift (and
none before) and the predictions err more.

Faust keeps a data folder per worker (`datadir`); the demo's are under its
work folder (F_DATADIR, Faust's own variable), not in the working directory.
"""

from __future__ import annotations

import argparse
import importlib.util
import logging
import os
import signal
import sys
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from types import FrameType

from aiokafka.errors import KafkaError

from enginewatch.core.influxql import InfluxQLClient, InfluxQueryError, Series
from enginewatch.core.kafka import ToolError, bootstrap_servers
from enginewatch.core.kafkasecurity import KafkaSecurity
from enginewatch.core.settings import Settings, load_settings
from enginewatch.demo.alerts import (
    ALERTS_QUERY,
    DEMO_RULES,
    Episode,
    describe_incidents,
    episodes,
    format_alerts,
    missed_incidents,
)
from enginewatch.demo.monitoring import (
    REFERENCE_FILE,
    REFERENCE_RECORDS,
    Window,
    expected_windows,
    format_windows,
    monitor_name,
    monitors_file,
    queries,
    streams_rate,
    verdict,
    window_seconds,
    windows,
)
from enginewatch.demo.summary import (
    COUNT_ALL,
    QUERIES,
    count_points,
    format_table,
    missing_models,
    summarize,
)
from enginewatch.harness import kafka
from enginewatch.harness.processes import (
    Process,
    ProcessFailed,
    enginewatch_command,
    settings_env,
)
from enginewatch.tools.arguments import positive_float, positive_int
from enginewatch.tools.fleet import (
    FleetConfig,
    build_fleet,
    engine_map,
    incident_plan,
    notifications,
)
from enginewatch.tools.model_streams import (
    ROLES,
    ModelStreamsConfig,
    model_streams,
    reference_sample,
)
from enginewatch.tools.progress import format_duration
from enginewatch.tools.recording import NEWLINE
from enginewatch.tools.simulate import write_engine_map

SEED = 1  # the fleet of compose/engine-map.json
PARTITIONS = 4  # few partitions: the workers start faster on a small machine
READY_TIMEOUT = 180.0
DRAIN_TIMEOUT = 90.0
SNAPSHOT_TIMEOUT = 300.0
# After the last point: how long the alerts' last transitions may take to reach
# InfluxDB (alerts worker -> archive topic -> archiver).
ALERTS_TIMEOUT = 30.0
# After the last point: how long the monitor's last windows may take (monitors
# worker -> archive topic -> archiver).
MONITORS_TIMEOUT = 30.0
WORKERS = ("agents", "alerts", "archiver", "monitors")
SNAPSHOT_FIELD = "income"  # the field Model quality's quantiles and heatmap show

COMPOSE_HELP = """\
The full stack (Kafka, InfluxDB 2, provisioned Grafana, agents, archiver, alerts, Alertmanager)
runs with Docker Compose:
  docker compose -f compose/docker-compose.yml up -d                  # the stack, for your engines
  docker compose -f compose/docker-compose.yml --profile demo up -d   # plus this simulated fleet
then open Grafana on http://localhost:3000 (see compose/README.md)."""


class DemoError(RuntimeError):
    """The demo cannot go on; the message says why."""


class Interrupted(Exception):
    """Ctrl-C or SIGTERM: stop what was started, then exit."""


def configure(parser: argparse.ArgumentParser) -> None:
    # Where the demo keeps things may come from DEMO_* variables too, so
    # `make demo` can be pointed elsewhere (as the smoke test does).
    env = os.environ
    parser.epilog = "DEMO_DATABASE, DEMO_APP_ID, DEMO_OUT and DEMO_WORK set the defaults above."
    parser.add_argument(
        "--seconds",
        type=positive_float,
        default=60.0,
        metavar="S",
        help="how long the simulated engines publish (default 60; make demo: DEMO_SECONDS)",
    )
    parser.add_argument(
        "--engines", type=positive_int, default=5, metavar="N", help="engines (default 5)"
    )
    parser.add_argument(
        "--rate",
        type=positive_float,
        default=100.0,
        metavar="R",
        help="notifications per second, whole fleet (default 100)",
    )
    parser.add_argument(
        "--database",
        default=env.get("DEMO_DATABASE", "enginewatch_demo"),
        help="the InfluxDB database, dropped and created afresh (default enginewatch_demo)",
    )
    parser.add_argument(
        "--app-id",
        default=env.get("DEMO_APP_ID"),
        help="prefix of the demo's topics and consumer groups (default enginewatch-demo-TIME)",
    )
    parser.add_argument(
        "--out",
        type=Path,
        default=Path(env.get("DEMO_OUT", "snapshots/demo")),
        metavar="DIR",
        help="where the dashboard snapshots go (default snapshots/demo)",
    )
    parser.add_argument(
        "--work",
        type=Path,
        default=Path(env["DEMO_WORK"]) if env.get("DEMO_WORK") else None,
        metavar="DIR",
        help="where the logs and the engine map go (default .run/demo/APP_ID)",
    )
    parser.add_argument(
        "--keep-topics", action="store_true", help="keep the demo's Kafka topics afterwards"
    )


def run(args: argparse.Namespace) -> int:
    settings = load_settings()
    # The demo says what it does itself; the tools' per-step notes would clutter it.
    logging.getLogger("enginewatch.tools").setLevel(logging.WARNING)
    started = datetime.now(UTC)
    app_id = args.app_id or f"enginewatch-demo-{started:%Y%m%dT%H%M%S}"
    demo = Demo(
        settings=settings,
        app_id=app_id,
        database=args.database,
        fleet=FleetConfig(args.engines, args.rate, started, args.seconds, SEED, incidents=True),
        out=args.out,
        workdir=args.work or Path(".run") / "demo" / app_id,
        keep_topics=args.keep_topics,
    )
    previous = signal.signal(signal.SIGTERM, _interrupt)
    try:
        return demo.run()
    except (Interrupted, KeyboardInterrupt):
        print("\nenginewatch demo: interrupted", file=sys.stderr)
        return 130
    finally:
        signal.signal(signal.SIGTERM, previous)


def _interrupt(signum: int, frame: FrameType | None) -> None:
    raise Interrupted


@dataclass
class Demo:
    settings: Settings
    app_id: str
    database: str
    fleet: FleetConfig
    out: Path
    workdir: Path
    keep_topics: bool

    def __post_init__(self) -> None:
        self.bootstrap = bootstrap_servers(self.settings.kafka.broker)
        self.security = KafkaSecurity.from_config(self.settings.kafka)
        self.topics = {
            "input": f"{self.app_id}-notify",
            "archive": f"{self.app_id}-archive",
            "dead": f"{self.app_id}-dead-letters",
            "alerts": f"{self.app_id}-alerts",
        }
        self.map_path = self.workdir / "engines.json"
        self.rules_path = self.workdir / "alert-rules.yaml"
        self.engines = build_fleet(self.fleet.engines, self.fleet.seed)
        self.models = engine_map(self.engines)
        self.incidents = incident_plan(self.fleet)
        # The monitored model: the one whose engine falls into error.
        errors = [i.engine for i in self.incidents if i.kind == "error"]
        self.watched = self.engines[errors[0] if errors else 0].model
        self.window = window_seconds(self.fleet.duration or 60.0)
        self.streams = ModelStreamsConfig(
            self.fleet.start,
            self.fleet.duration or 60.0,
            rate=streams_rate(self.window),
            seed=self.fleet.seed,
            align=self.window,
        )
        self.streams_prefix = f"{self.app_id}-model"
        self.monitors_path = self.workdir / "monitors.yaml"
        self.children: list[Process] = []
        influx = self.settings.influx
        self.influx = InfluxQLClient(
            influx.url,
            self.database,
            influx.token.get_secret_value(),
            timeout=30,
            cafile=influx.ssl_cafile,
        )
        self.tty = sys.stdout.isatty()
        self.env: dict[str, str] = {}  # the workers' settings
        self._said_at = -1e9
        self._drawn = False  # a status line is on the terminal, to end

    # The run -----------------------------------------------------------------

    def run(self) -> int:
        try:
            self.prepare()
            self.start_workers()
            expected = self.simulate()
            points = self.drain(expected)
            alerts = self.wait_for_alerts()
            monitored = self.wait_for_monitors()
            ok = self.report(expected, points)
            ok = self.report_alerts(alerts) and ok
            ok = self.report_monitors(monitored) and ok
            self.snapshots()
            say("\n" + COMPOSE_HELP)
            return 0 if ok else 1
        except (DemoError, ProcessFailed, ToolError) as exc:
            print(f"enginewatch demo: {exc}", file=sys.stderr)
            return 1
        finally:
            self.stop()

    def prepare(self) -> None:
        say(
            f"enginewatch demo: {self.fleet.engines} simulated engines, "
            f"~{self.fleet.rate:g} notifications/s for {format_duration(self.fleet.duration or 0)}"
        )
        say(f"  app id {self.app_id}, InfluxDB database {self.database}, logs in {self.workdir}/")
        for line in describe_incidents(self.incidents, self.engines):
            say(line)
        shift = (self.streams.shift_us - self.streams.first_us) / 1e6
        first = (self.streams.first_us / 1e6) - self.fleet.start.timestamp()
        say(
            f"  {self.watched}'s own streams run from {first:+.1f} s, its input shifts "
            f"{shift:g} s later: `enginewatch monitors` ({self.window} s windows) should see "
            "it drift and its predictions err more"
        )
        self.workdir.mkdir(parents=True, exist_ok=True)
        try:  # with the demo's own credentials, when it has any
            self.influx.execute(f'DROP DATABASE "{self.database}"')
            self.influx.execute(f'CREATE DATABASE "{self.database}"')
        except InfluxQueryError as exc:
            raise DemoError(f"{exc}; is it running (`make up`)?") from None
        # The topics exist before the workers start: Faust subscribes only to
        # topics it finds at start-up.
        try:
            for role, topic in self.topics.items():
                # As the agents declare them: the dead letters in one partition.
                partitions = 1 if role == "dead" else PARTITIONS
                kafka.create_topic(
                    topic, partitions, bootstrap=self.bootstrap, security=self.security
                )
            for role in ROLES:  # one partition each: every stream in time order
                kafka.create_topic(
                    f"{self.streams_prefix}-{role}",
                    1,
                    bootstrap=self.bootstrap,
                    security=self.security,
                )
        except (OSError, KafkaError) as exc:
            raise DemoError(
                f"Kafka at {self.bootstrap}: {exc!r}; is it running (`make up`)?"
            ) from None
        write_engine_map(self.map_path, self.models)
        self.rules_path.write_text(DEMO_RULES, encoding="utf-8")
        sample = reference_sample(self.fleet.seed, REFERENCE_RECORDS)
        (self.workdir / REFERENCE_FILE).write_bytes(b"".join(r + NEWLINE for r in sample))
        self.monitors_path.write_text(
            monitors_file(self.watched, self.streams_prefix, self.window), encoding="utf-8"
        )

    def start_workers(self) -> None:
        self.env.update(
            settings_env(
                app_id=self.app_id,
                input_topic=self.topics["input"],
                archive_topic=self.topics["archive"],
                dead_letter_topic=self.topics["dead"],
                partitions=str(PARTITIONS),
                engine_map=str(self.map_path.resolve()),
                influx_bucket=self.database,
                alert_rules=str(self.rules_path.resolve()),
                alerts_topic=self.topics["alerts"],
                monitors=str(self.monitors_path.resolve()),
            )
        )
        # Faust's data folders under the work folder: `{conf.name}` is Faust's own
        # placeholder (each worker's app id), filled in by Faust.
        faust_dir = self.workdir / "faust"
        faust_dir.mkdir(parents=True, exist_ok=True)  # Faust makes the last folder only
        self.env["F_DATADIR"] = str(faust_dir.resolve() / "{conf.name}-data")
        say("starting the agents, the alerts worker, the monitors worker and the archiver ...")
        workers = [self._start(name, "-l", "info") for name in WORKERS]
        for worker in workers:
            worker.wait_for_log("Ready", READY_TIMEOUT)
        say("  all ready")

    def simulate(self) -> int:
        """Run the simulator for the demo's time; the number of notifications it sends."""
        fleet = self.fleet
        expected = sum(1 for _ in notifications(fleet))
        simulator = self._start(
            "simulate",
            "--engines", str(fleet.engines),
            "--rate", f"{fleet.rate:g}",
            "--duration", f"{fleet.duration:g}",
            "--seed", str(fleet.seed),
            "--start", fleet.start.isoformat().replace("+00:00", "Z"),
            *(["--incidents"] if fleet.incidents else []),
            "--model-streams", self.streams_prefix,
            "--streams-rate", f"{self.streams.rate:g}",
            "--streams-align", f"{self.streams.align:g}",
            name="simulator",
        )  # fmt: skip
        say(f"simulating {expected:,} notifications ...")
        began = time.monotonic()
        total = format_duration(fleet.duration or 0)
        while simulator.running():
            self._check_workers()
            elapsed = format_duration(time.monotonic() - began)
            self._status(f"  {elapsed}/{total}  points in InfluxDB: {self._points():,}")
            time.sleep(1)
        self._end_status()
        if simulator.exit_code() != 0:
            raise DemoError(
                f"the simulator failed (status {simulator.exit_code()}):\n{simulator.tail()}"
            )
        return expected

    def drain(self, expected: int) -> int:
        """Wait until every notification is a point in InfluxDB (or the time is up)."""
        say("waiting for the last points to reach InfluxDB ...")
        deadline = time.monotonic() + DRAIN_TIMEOUT
        points = self._points()
        while points < expected and time.monotonic() < deadline:
            self._check_workers()
            self._status(f"  points in InfluxDB: {points:,} of {expected:,}")
            time.sleep(1)
            points = self._points()
        self._end_status()
        return points

    def wait_for_alerts(self) -> list[Episode]:
        """The alerts InfluxDB holds, once each incident's alert fired and resolved
        (or the time is up: then what there is)."""
        deadline = time.monotonic() + ALERTS_TIMEOUT
        found = episodes(self._query(ALERTS_QUERY))
        while missed_incidents(self.incidents, self.engines, found):
            if time.monotonic() > deadline:
                break
            self._check_workers()
            time.sleep(1)
            found = episodes(self._query(ALERTS_QUERY))
        return found

    def wait_for_monitors(self) -> list[Window]:
        """The monitor's windows InfluxDB holds, once each window its clocks passed is
        in (or the time is up: then what there is)."""
        expected = expected_windows(model_streams(self.streams), self.window)
        deadline = time.monotonic() + MONITORS_TIMEOUT
        while True:
            found = self._windows()
            profiled = {w.start_ms for w in found if w.records is not None}
            judged = {w.start_ms for w in found if w.coverage is not None}
            if expected.profiles <= profiled and expected.quality <= judged:
                return found
            if time.monotonic() > deadline:
                return found
            self._check_workers()
            time.sleep(1)

    def report_monitors(self, found: list[Window]) -> bool:
        """The model's drift and quality per window, and whether they show the shift."""
        name = monitor_name(self.watched)
        say(
            f"\n{self.watched}'s input and predictions, read back from InfluxDB "
            f"(monitor {name}; data_profile, data_drift, model_quality):\n"
        )
        start_ms = int(self.fleet.start.timestamp() * 1000)
        say(format_windows(found, start_ms) if found else "  no window")
        expected = expected_windows(model_streams(self.streams), self.window)
        judged = verdict(found, expected, start_ms, self.streams.shift_us // 1000, self.window)
        say("")
        for line in judged.lines:
            say(line)
        if not judged.ok:
            say(f"see {self.workdir}/monitors.log")
        return judged.ok

    def report_alerts(self, found: list[Episode]) -> bool:
        """The alerts that fired (and resolved), and whether each incident's did."""
        start_ms = int(self.fleet.start.timestamp() * 1000)
        say("\nalerts, read back from InfluxDB (measurement alerts):\n")
        say(format_alerts(found, start_ms))
        missed = missed_incidents(self.incidents, self.engines, found)
        if missed:
            say(f"NOT FIRED AND RESOLVED: {', '.join(missed)}; see {self.workdir}/alerts.log")
            return False
        if self.incidents:
            say("each incident's alert fired and resolved")
        return True

    def report(self, expected: int, points: int) -> bool:
        results = {name: self._query(query) for name, query in QUERIES.items()}
        rows = summarize(results)
        say("\nper model, read back from InfluxDB:\n")
        say(format_table(rows.values()))
        dead = kafka.size(self.topics["dead"], bootstrap=self.bootstrap, security=self.security)
        say(
            f"\n{expected:,} notifications -> {points:,} points in InfluxDB "
            f"(database {self.database}); {dead:,} dead letters"
        )
        missing = missing_models(rows, self.models.values())
        ok = True
        if missing:
            ok = False
            say(f"NO DATA for: {', '.join(missing)}; logs in {self.workdir}/")
        if dead:
            ok = False
            say(
                f"the agents rejected {dead:,} simulated notification(s): see {self.topics['dead']}"
            )
        if points < expected:
            say(f"{expected - points:,} notification(s) did not reach InfluxDB in time")
        if ok:
            say("data flowed end to end: engines -> agents -> archiver -> InfluxDB")
        return ok

    def snapshots(self) -> None:
        if importlib.util.find_spec("enginewatch.dashboards.snapshot") is None:
            say("\n(no `enginewatch snapshot` in this installation: no dashboard snapshots)")
            return
        say("\nrendering the dashboards ...")
        # Model detail of the model that fell into error: its alerts on the time axes.
        # Model quality of the same model, which is also the one monitored.
        chosen = ["--var", f"model={self.watched}", "--var", f"field={SNAPSHOT_FIELD}"]
        child = self._start("snapshot", *chosen, "--out", str(self.out))
        child.wait(SNAPSHOT_TIMEOUT)  # stop() ends it when it takes longer
        pngs = [line for line in child.log().splitlines() if line.endswith(".png")]
        if child.exit_code() != 0 or not pngs:
            say(f"  the snapshots failed (status {child.exit_code()}); see {child.log_path}")
            return
        say("dashboard snapshots:")
        for png in pngs:
            say(f"  {png}")

    def stop(self) -> None:
        for child in reversed(self.children):
            child.stop()
        self.children.clear()
        self.influx.close()
        if not self.keep_topics:
            try:
                kafka.delete_topics(
                    f"{self.app_id}-", bootstrap=self.bootstrap, security=self.security
                )
            except Exception as exc:  # cleaning up must not hide the outcome
                print(
                    f"enginewatch demo: could not delete the demo's topics: {exc}", file=sys.stderr
                )

    # Helpers ---------------------------------------------------------------

    def _start(self, *args: str, name: str | None = None) -> Process:
        """`enginewatch ARGS` with the workers' settings, logging to NAME.log in the work folder."""
        name = name or args[0]
        child = Process(
            enginewatch_command(*args), self.env, self.workdir / f"{name}.log", name=name
        )
        self.children.append(child.start())
        return child

    def _check_workers(self) -> None:
        for child in self.children:
            if child.name in WORKERS:
                child.check()

    def _windows(self) -> list[Window]:
        return windows({name: self._query(q) for name, q in queries(self.watched).items()})

    def _points(self) -> int:
        return count_points(self._query(COUNT_ALL))

    def _query(self, influxql: str) -> list[Series]:
        try:
            return self.influx.query(influxql)
        except InfluxQueryError as exc:
            raise DemoError(str(exc)) from None

    def _status(self, line: str) -> None:
        """A progress line: redrawn each time on a terminal, else one every 10 s."""
        if self.tty:
            sys.stdout.write("\r" + line.ljust(72))
            sys.stdout.flush()
            self._drawn = True
        elif time.monotonic() - self._said_at >= 10:
            self._said_at = time.monotonic()
            say(line)

    def _end_status(self) -> None:
        if self._drawn:
            sys.stdout.write("\n")
            sys.stdout.flush()
            self._drawn = False


def say(line: str) -> None:
    print(line, flush=True)
