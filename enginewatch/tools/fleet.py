"""A simulated fleet of FastScore / ModelOp model engines and the notifications it publishes.

Pure and deterministic: the same configuration (seed included) gives the same
engines, UUIDs and messages, byte for byte, so it is tested without Kafka.

Message formats follow the engines' Pneumo notifications (as the FastScore SDK
parses them) and the enginewatch metric contract:

    {"type": "sensor-report", "timestamp": "2024-05-01T12:00:00.731204Z",
     "src": "<engine uuid>", "id": 6, "tap": "manifold.0.records.count",
     "delta_time": 0.6, "data": 57}
    {"type": "engine-state", ..., "state": "running"}
    {"type": "engine-config", ..., "item": "stream", "op": "attach", "ref": 0}
    {"type": "health", ..., "instance": "engine-1", "health": "ok"}
    {"type": "log", ..., "level": 64, "text": "..."}
    {"type": "model-console", ..., "text": "..."}

and the four more an engine's bus carries (README.md, "Metric reference"):

    {"type": "jet-status-report", ..., "jets": [{"pid": 731, "sandbox": "3f9c2a7d01be",
     "total_consumed": 5210, "total_produced": 5210, "run_time": 41.2,
     "memory": 318767104, "busy": true}]}
    {"type": "output-report", ..., "model": "credit-approval",
     "outputs": [{"id": 51023, "score": 0.4127}], "skipped": 0}
    {"type": "rejected-data-report", ..., "reason": "schema", "slot": 0, "count": 2}
    {"type": "output-eof", ..., "last": true}

Time is a simulated clock in integer microseconds: every engine reports each
of its taps once a round, and a round lasts as long as the fleet needs to
publish `rate` notifications per simulated second.

With `incidents`, two engines have trouble on a schedule, so an alert fires
and resolves (`incident_plan`): the second engine falls into `error` for a
while and recovers, the third runs hot (CPU above 90 %) for a while. The
schedule is a share of the run (of each 10 minutes when it runs forever), so a
short demo sees both begin and end. Without it the fleet is as it always was,
message for message.
"""

from __future__ import annotations

import heapq
import itertools
import math
import random
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import orjson

# Engine UUIDs are name-based (UUID 5) under this namespace: stable per seed.
UUID_NAMESPACE = uuid.uuid5(uuid.NAMESPACE_URL, "https://enginewatch.invalid/simulator")

# The first names are given to the first engines; one has a space and a
# non-ASCII letter on purpose, so every path handles such names.
MODEL_NAMES = (
    "Prévision de la demande",
    "credit-approval",
    "housing-price-predictor",
    "fraud-detector-xgb",
    "churn score v2",
    "iris-gbc",
    "stock-price-lstm",
    "recommender-tf",
    "Kundenbewertung Süd",
    "enron-ecomm-lasso",
    "basel-risk",
    "toy model",
)


# Sensor ids: 1..8 are the eight sensors an engine has by default (manifold
# slots 0 and 1: records.size, rejected.by.encoding, records.count,
# rejected.by.schema); 9..12 are added for CPU, memory and the jet's counts.
REPORTS_PER_ROUND = 12

LOG_DEBUG, LOG_INFO, LOG_WARNING, LOG_ERROR = 128, 64, 16, 8

# Chances per engine and round (a round is typically well under a second).
P_ERROR = 0.002
P_PAUSE = 0.002
P_SPLIT_REPORT = 0.08  # a count report split into a delta_time 0 part and the rest
P_LIST_COUNT = 0.05  # a record count sent as a list of per-batch counts
P_CONSOLE = 0.03
P_LOG = 0.05
P_RESTREAM = 0.002
HEALTH_EVERY = 10  # rounds

# The bus reports, in simulated seconds whatever the rate: a jet-status report
# every few seconds, an output report now and then, the rejected data of a
# round at most this often, an input stream that ends (and is attached again)
# every few minutes.
JET_STATUS_EVERY = (4.5, 5.5)
OUTPUT_REPORT_EVERY = (10.0, 40.0)
REJECTED_REPORT_EVERY = (2.0, 8.0)
STREAM_LENGTH = (180.0, 480.0)
FIRST_STREAM_LENGTH = (30.0, 300.0)
P_SKIPPED = 0.2  # an output report that skipped a few records

# Incidents: which engine has which, and when, as shares of the run's length
# (INCIDENT_PERIOD seconds when the run has none). The hot spell begins first
# and ends last, so its alert's `for` has room inside a short run.
ERROR_ENGINE, HOT_ENGINE = 1, 2
ERROR_SPELL = (0.30, 0.55)
HOT_SPELL = (0.15, 0.60)
INCIDENT_PERIOD = 600.0
HOT_CPU = 95.0  # percent, with a third of the usual noise; never below HOT_CPU_FLOOR
HOT_CPU_FLOOR = 91.0


@dataclass(frozen=True)
class FleetConfig:
    engines: int
    rate: float  # notifications per simulated second, whole fleet (about)
    start: datetime  # the simulated clock's start, timezone-aware
    duration: float | None = None  # simulated seconds; None runs forever
    seed: int = 1
    incidents: bool = False  # an engine falls into error, one runs hot (incident_plan)

    def __post_init__(self) -> None:
        if self.engines < 1:
            raise ValueError("at least one engine")
        if not (self.rate > 0 and math.isfinite(self.rate)):
            raise ValueError("the rate must be a finite number above 0")
        if self.start.tzinfo is None:
            raise ValueError("the start time needs a timezone")
        if self.duration is not None and not self.duration > 0:
            raise ValueError("the duration must be above 0")

    @property
    def round_us(self) -> int:
        """Length of a reporting round in microseconds (at least 1)."""
        return max(1, round(1e6 * self.engines * REPORTS_PER_ROUND / self.rate))


@dataclass(frozen=True)
class Incident:
    """A spell of trouble of one engine, from `start` to `end` simulated seconds
    after the run's start, again every `period` seconds."""

    kind: str  # "error" (the engine is in error) or "hot" (its CPU above 90 %)
    engine: int  # the engine's index
    start: float
    end: float
    period: float

    def active(self, seconds: float) -> bool:
        return self.start <= seconds % self.period < self.end


def incident_plan(config: FleetConfig) -> list[Incident]:
    """The incidents of the fleet: none without `config.incidents`, else the
    error engine's and the hot engine's, for those the fleet has."""
    if not config.incidents:
        return []
    period = config.duration or INCIDENT_PERIOD
    spells = (("error", ERROR_ENGINE, ERROR_SPELL), ("hot", HOT_ENGINE, HOT_SPELL))
    return [
        Incident(kind, index, round(low * period, 6), round(high * period, 6), period)
        for kind, index, (low, high) in spells
        if index < config.engines
    ]


@dataclass(frozen=True)
class Engine:
    """One simulated engine: identity and the character of its workload."""

    index: int
    src: str
    model: str
    instance: str
    jet: int
    input_rps: float
    bytes_in: int
    bytes_out: int
    reject_ratio: float
    memory_base: int
    memory_as_list: bool
    rejects_as_list: bool
    phase: float  # where in a round this engine reports, as a fraction


@dataclass(frozen=True, order=True)
class Notification:
    """One message of the simulated fleet: its time, its engine and its JSON value."""

    time_us: int
    src: str = field(compare=False)
    value: bytes = field(compare=False)

    @property
    def key(self) -> bytes:
        return self.src.encode("utf-8")


def engine_uuid(seed: int, index: int) -> str:
    return str(uuid.uuid5(UUID_NAMESPACE, f"fleet/{seed}/engine/{index}"))


def model_name(index: int) -> str:
    base = MODEL_NAMES[index % len(MODEL_NAMES)]
    generation = index // len(MODEL_NAMES)
    return base if generation == 0 else f"{base} {generation + 1}"


def build_fleet(engines: int, seed: int) -> list[Engine]:
    """The engines of a fleet: stable UUIDs, model names and workloads per seed."""
    fleet = []
    for index in range(engines):
        rng = random.Random(f"{seed}/profile/{index}")
        fleet.append(
            Engine(
                index=index,
                src=engine_uuid(seed, index),
                model=model_name(index),
                instance=f"engine-{index + 1}",
                jet=rng.randrange(10_000_000, 99_999_999),
                input_rps=round(rng.uniform(20, 400), 1),
                bytes_in=rng.randrange(80, 2400),
                bytes_out=rng.randrange(16, 400),
                reject_ratio=rng.choice((0.0, 0.002, 0.01, 0.03)),
                memory_base=rng.randrange(250, 1800) * 1024 * 1024,
                memory_as_list=rng.random() < 0.5,
                rejects_as_list=rng.random() < 0.5,
                phase=rng.uniform(0.0, 0.6),
            )
        )
    return fleet


def engine_map(fleet: list[Engine]) -> dict[str, str]:
    """Engine UUID -> model name, the form of an engine map file."""
    return {engine.src: engine.model for engine in fleet}


def rfc3339(time_us: int) -> str:
    """Microseconds since the epoch as RFC 3339 UTC, e.g. `2024-05-01T12:00:00.731204Z`."""
    moment = datetime(1970, 1, 1, tzinfo=UTC) + timedelta(microseconds=time_us)
    return moment.strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def notifications(config: FleetConfig) -> Iterator[Notification]:
    """The fleet's notifications in time order, for `config.duration` simulated seconds."""
    fleet = build_fleet(config.engines, config.seed)
    start_us = _epoch_us(config.start)
    plan = incident_plan(config)
    sims = [
        _EngineSim(engine, config.seed, start_us, [i for i in plan if i.engine == engine.index])
        for engine in fleet
    ]
    end_us = None if config.duration is None else start_us + round(config.duration * 1e6)
    round_us = config.round_us
    # Messages wait in a heap until no later round can send anything earlier:
    # nothing of round n+1 comes before its start. The sequence number keeps
    # ties in a fixed order.
    pending: list[tuple[int, int, Notification]] = []
    sequence = itertools.count()
    number = 0
    while True:
        round_start = start_us + number * round_us
        if end_us is not None and round_start >= end_us:
            break
        for sim in sims:
            for item in sim.round(number, round_start, round_us):
                heapq.heappush(pending, (item.time_us, next(sequence), item))
        next_round = round_start + round_us
        while pending and pending[0][0] < next_round:
            item = heapq.heappop(pending)[2]
            if end_us is not None and item.time_us >= end_us:
                return
            yield item
        number += 1
    while pending:
        item = heapq.heappop(pending)[2]
        if end_us is not None and item.time_us >= end_us:
            return
        yield item


def _epoch_us(moment: datetime) -> int:
    delta = moment - datetime(1970, 1, 1, tzinfo=UTC)
    return (delta.days * 86_400 + delta.seconds) * 1_000_000 + delta.microseconds


Emit = Callable[..., None]


@dataclass
class _Jet:
    """The engine's model runner, a process: a new one (pid, sandbox) at every start."""

    pid: int
    sandbox: str
    started_us: int
    memory: float  # bytes
    memory_base: float
    consumed: int = 0  # records since it started: the sum of its taps' reports
    produced: int = 0
    busy: bool = False


@dataclass
class _Round:
    """What a round's sensor reports said, for the bus reports that follow them."""

    accepted: int = 0
    # (slot, reason, count, the rejected records when the tap listed them)
    rejections: list[tuple[int, str, int, list[Any] | None]] = field(default_factory=list)


class _EngineSim:
    """The changing state of one engine: its lifecycle and its running totals.

    The bus reports (jet status, output reports, rejected data, end of input)
    draw on a random stream of their own and close a round's burst, so the
    other messages are the same with or without them.
    """

    def __init__(
        self, engine: Engine, seed: int, start_us: int, incidents: list[Incident] | None = None
    ) -> None:
        self.engine = engine
        self.start_us = start_us
        self.incidents = incidents or []
        self.rng = random.Random(f"{seed}/run/{engine.index}")
        self.bus = random.Random(f"{seed}/bus/{engine.index}")
        self.state = "starting"
        self.rounds_left = 0  # of the current error or pause
        self.memory = float(engine.memory_base)
        self.scored = 0
        self.last_us = 0  # time of its last message: an engine's times strictly increase
        self.jet: _Jet | None = None
        self.now_us = start_us  # the current round's start
        self.this_round = _Round()
        # When the next bus reports are due (the first stream was running before
        # the simulation began).
        bus = self.bus
        self.next_status_us = start_us + _us(bus.uniform(1.0, JET_STATUS_EVERY[1]))
        self.next_output_us = start_us + _us(bus.uniform(*OUTPUT_REPORT_EVERY))
        self.next_rejected_us = start_us
        self.stream_end_us = start_us + _us(bus.uniform(*FIRST_STREAM_LENGTH))

    def round(self, number: int, round_start: int, round_us: int) -> list[Notification]:
        """This engine's messages for one round, in the order it sends them."""
        rng, src = self.rng, self.engine.src
        # The engine sends its messages of a round in a burst, from its phase
        # on, each at least a microsecond after the one before: no two share a
        # time, so none overwrites another in InfluxDB.
        step = max(1, round_us // 100)
        self.last_us = max(self.last_us, round_start + int(self.engine.phase * round_us))
        self.now_us = round_start
        self.this_round = _Round()
        out: list[Notification] = []

        def sender(draws: random.Random) -> Emit:
            def emit(kind: str, **fields: Any) -> None:
                self.last_us += draws.randint(1, step)
                message = {"type": kind, "timestamp": rfc3339(self.last_us), "src": src, **fields}
                out.append(Notification(self.last_us, src, orjson.dumps(message)))

            return emit

        emit = sender(rng)
        in_error_spell = self._in_spell("error", round_start)
        if self.state == "starting":
            self._boot(emit, reload=False)
        elif in_error_spell:
            if self.state != "error":
                self._fail(emit)
            # It recovers at the first round after the spell.
            self.rounds_left = 1
        elif self.state in ("error", "paused"):
            self.rounds_left -= 1
            if self.rounds_left <= 0:
                self._recover(emit)
        elif rng.random() < P_ERROR:
            self._fail(emit)
        elif rng.random() < P_PAUSE:
            self._pause(emit)

        if number > 0:
            self._reports(emit, round_start, round_us, first=number == 1)
        if number % HEALTH_EVERY == HEALTH_EVERY - 1:
            health = "fail" if self.state == "error" else "ok"
            emit("health", instance=self.engine.instance, health=health)
        if self.state == "running":
            self._chatter(emit)
        self._bus_reports(sender(self.bus))
        return out

    def _in_spell(self, kind: str, time_us: int) -> bool:
        seconds = (time_us - self.start_us) / 1e6
        return any(i.kind == kind and i.active(seconds) for i in self.incidents)

    # Lifecycle: init -> running, now and then an error or a pause, and back.

    def _boot(self, emit: Emit, *, reload: bool) -> None:
        engine = self.engine
        self._start_jet()
        emit("engine-state", state="init")
        emit("engine-config", item="model", op="reload" if reload else "load")
        emit("engine-config", item="stream", op="attach", ref=0)
        emit("engine-config", item="stream", op="attach", ref=1)
        emit("engine-config", item="jet", op="start", ref=engine.jet)
        emit("engine-state", state="running")
        emit("health", instance=engine.instance, health="ok")
        verb = "reloaded" if reload else "loaded"
        emit("log", level=LOG_INFO, text=f"model '{engine.model}' {verb}")
        emit("model-console", text=f"{engine.model}: begin() done, ready to score\n")
        self.state = "running"

    def _fail(self, emit: Emit) -> None:
        self.jet = None  # the model runner exited: no jet to report on until the restart
        emit("model-console", text=_traceback(self.rng))
        emit("log", level=LOG_ERROR, text="model runner exited with an exception; see console")
        emit("engine-state", state="error")
        emit("health", instance=self.engine.instance, health="fail")
        self.state = "error"
        self.rounds_left = self.rng.randint(3, 8)

    def _pause(self, emit: Emit) -> None:
        emit("engine-state", state="paused")
        emit("log", level=LOG_INFO, text="engine paused by operator request")
        self.state = "paused"
        self.rounds_left = self.rng.randint(2, 6)

    def _recover(self, emit: Emit) -> None:
        if self.state == "error":
            emit("engine-config", item="jet", op="stop", ref=self.engine.jet)
            self._boot(emit, reload=True)
            return
        emit("engine-state", state="running")
        emit("log", level=LOG_INFO, text="engine resumed")
        self.state = "running"

    # Sensor reports: every tap once a round; zero counts while not running.

    def _reports(self, emit: Emit, round_start: int, round_us: int, *, first: bool) -> None:
        rng, engine = self.rng, self.engine
        seconds = round_us / 1e6
        # The first report of a sensor has no interval behind it yet.
        timing: dict[str, Any] = {} if first else {"delta_time": round(seconds, 6)}
        running = self.state == "running"

        # A slow swell of the input (period 5 minutes, shifted per engine).
        cycle = round_start / 1e6 / 300 + engine.phase
        expected = engine.input_rps * (1 + 0.35 * math.sin(2 * math.pi * cycle)) * seconds
        records_in = _poisson(rng, expected) if running else 0
        by_schema = _binomial(rng, records_in, engine.reject_ratio)
        by_encoding = _binomial(rng, records_in - by_schema, engine.reject_ratio / 4)
        accepted = records_in - by_schema - by_encoding
        out_rejected = 1 if accepted and rng.random() < 0.01 else 0
        records_out = accepted - out_rejected
        self.scored += accepted
        self.this_round.accepted = accepted

        def report(sid: int, tap: str, data: Any) -> None:
            emit("sensor-report", id=sid, tap=tap, **timing, data=data)

        def count(sid: int, tap: str, amount: int) -> None:
            if not first and amount > 1 and rng.random() < P_SPLIT_REPORT:
                # Two reports in one interval: the first says no time has
                # passed, so its amount is carried into the next one's rate.
                part = rng.randrange(1, amount)
                emit("sensor-report", id=sid, tap=tap, delta_time=0, data=part)
                amount -= part
            if amount > 2 and rng.random() < P_LIST_COUNT:
                cut = sorted(rng.sample(range(1, amount), 2))
                report(sid, tap, [cut[0], cut[1] - cut[0], amount - cut[1]])
            else:
                report(sid, tap, amount)

        def rejected(sid: int, tap: str, amount: int, reason: str) -> None:
            # Rejection sensors may report the rejected records themselves.
            records = None
            if engine.rejects_as_list:
                records = [_rejected_record(rng, reason) for _ in range(amount)]
                report(sid, tap, records)
            else:
                report(sid, tap, amount)
            if amount:
                self.this_round.rejections.append((int(tap.split(".")[1]), reason, amount, records))

        count(6, "manifold.0.records.count", records_in)
        count(2, "manifold.0.records.size", _size(rng, records_in, engine.bytes_in))
        rejected(8, "manifold.0.records.rejected.by.schema", by_schema, "schema")
        rejected(4, "manifold.0.records.rejected.by.encoding", by_encoding, "encoding")
        report(11, f"jet.{engine.jet}.input.records.count", accepted)
        report(12, f"jet.{engine.jet}.output.records.count", accepted)
        count(5, "manifold.1.records.count", records_out)
        count(1, "manifold.1.records.size", _size(rng, records_out, engine.bytes_out))
        rejected(7, "manifold.1.records.rejected.by.schema", out_rejected, "schema")
        rejected(3, "manifold.1.records.rejected.by.encoding", 0, "encoding")

        busy = records_in / max(engine.input_rps * seconds, 1e-9) if running else 0.0
        noise = rng.gauss(0, 3)
        if self._in_spell("hot", round_start):
            # A runaway model: the CPU pinned, whatever the input.
            cpu = min(99.5, max(HOT_CPU_FLOOR, HOT_CPU + noise / 3))
        else:
            cpu = min(99.5, max(0.3, 4.0 + 45.0 * busy + noise))
        report(9, "sys.cpu.utilization", round(cpu, 2))
        drift = rng.gauss(0, engine.memory_base * 0.002) + 20 * accepted
        self.memory = max(engine.memory_base * 0.8, self.memory + drift)
        if engine.memory_as_list:
            # Several samples taken during the interval, as a list.
            samples = rng.randint(3, 6)
            report(
                10, "sys.memory", [int(self.memory + rng.gauss(0, 4096)) for _ in range(samples)]
            )
        else:
            report(10, "sys.memory", int(self.memory))

    # The bus reports, at the end of a round's burst, on the bus's own random stream.

    def _start_jet(self) -> None:
        """A new model runner: another process, another sandbox, its totals from 0."""
        bus = self.bus
        base = self.engine.memory_base * bus.uniform(0.25, 0.5)
        self.jet = _Jet(
            pid=bus.randrange(100, 32768),
            sandbox=f"{bus.getrandbits(48):012x}",
            started_us=self.now_us,
            memory=base,
            memory_base=base,
        )

    def _bus_reports(self, emit: Emit) -> None:
        bus, now, jet = self.bus, self.now_us, self.jet
        running = self.state == "running"
        if jet is not None:
            # What the jet's taps reported this round, it has consumed and produced.
            accepted = self.this_round.accepted
            jet.consumed += accepted
            jet.produced += accepted
            jet.busy = running and accepted > 0
            drift = bus.gauss(0, jet.memory_base * 0.002) + 12 * accepted
            jet.memory = max(jet.memory_base * 0.8, jet.memory + drift)
        if jet is not None and now >= self.next_status_us:
            self.next_status_us = now + _us(bus.uniform(*JET_STATUS_EVERY))
            status = {
                "pid": jet.pid,
                "sandbox": jet.sandbox,
                "total_consumed": jet.consumed,
                "total_produced": jet.produced,
                "run_time": round((now - jet.started_us) / 1e6, 3),
                "memory": int(jet.memory),
                "busy": jet.busy,
            }
            emit("jet-status-report", jets=[status])
        if self.this_round.rejections and now >= self.next_rejected_us:
            self.next_rejected_us = now + _us(bus.uniform(*REJECTED_REPORT_EVERY))
            slot, reason, amount, records = bus.choice(self.this_round.rejections)
            if records is None:
                emit("rejected-data-report", reason=reason, slot=slot, count=amount)
            else:
                emit("rejected-data-report", reason=reason, slot=slot, records=records)
        if not running:
            return
        if now >= self.next_output_us:
            self.next_output_us = now + _us(bus.uniform(*OUTPUT_REPORT_EVERY))
            outputs = [
                {"id": bus.randrange(1_000_000), "score": round(bus.random(), 4)}
                for _ in range(bus.randint(1, 4))
            ]
            skipped = bus.randint(1, 3) if bus.random() < P_SKIPPED else 0
            emit("output-report", model=self.engine.model, outputs=outputs, skipped=skipped)
        if now >= self.stream_end_us:
            # The input stream ended; the engine attaches it again and goes on.
            self.stream_end_us = now + _us(bus.uniform(*STREAM_LENGTH))
            emit("output-eof", last=True)
            emit("engine-config", item="stream", op="attach", ref=0)

    def _chatter(self, emit: Emit) -> None:
        rng = self.rng
        if rng.random() < P_CONSOLE:
            emit("model-console", text=rng.choice(_CONSOLE_LINES).format(n=self.scored))
        if rng.random() < P_LOG:
            level, text = rng.choice(_LOG_LINES)
            emit("log", level=level, text=text)
        if rng.random() < P_RESTREAM:
            emit("engine-config", item="stream", op="reattach", ref=rng.choice((0, 1)))


_CONSOLE_LINES = (
    "scored {n} records so far\n",
    "batch done: mean score 0.4127, {n} records total\n",
    "température moyenne 21.4 °C, {n} enregistrements\n",
    "warning: feature 'income' missing, imputed with median\n",
)
_LOG_LINES = (
    (LOG_DEBUG, "manifold: flushed output batch"),
    (LOG_INFO, "stream 0: end of batch"),
    (LOG_INFO, "sensor report sent"),
    (LOG_WARNING, "input record took longer than 250 ms to score"),
)


def _traceback(rng: random.Random) -> str:
    line = rng.randint(20, 140)
    return (
        "Traceback (most recent call last):\n"
        f'  File "model.py", line {line}, in action\n'
        "    score = clf.predict_proba(features)[0][1]\n"
        "ValueError: Input contains NaN, infinity or a value too large for dtype('float64').\n"
    )


def _us(seconds: float) -> int:
    return round(seconds * 1e6)


def _rejected_record(rng: random.Random, reason: str) -> Any:
    if reason == "encoding":
        return '{"id": ' + str(rng.randrange(1_000_000)) + ', "amount": 1'
    return {"id": rng.randrange(1_000_000), "amount": rng.choice(("n/a", None, -1))}


def _size(rng: random.Random, records: int, mean_bytes: int) -> int:
    if not records:
        return 0
    return max(2 * records, round(records * mean_bytes * rng.uniform(0.9, 1.1)))


def _poisson(rng: random.Random, mean: float) -> int:
    if mean <= 0:
        return 0
    if mean > 50:  # normal approximation: plenty close for counts this large
        return max(0, round(rng.gauss(mean, math.sqrt(mean))))
    limit, product, k = math.exp(-mean), rng.random(), 0
    while product > limit:
        product *= rng.random()
        k += 1
    return k


def _binomial(rng: random.Random, trials: int, p: float) -> int:
    if trials <= 0 or p <= 0:
        return 0
    return min(trials, _poisson(rng, trials * p))
