"""docs/benchmarks.md from the results: pure rendering, no measuring.

The numbers all come from the results of the run; the explanations around
them are written to hold whatever the numbers are, and say which targets the
run met.
"""

from __future__ import annotations

from typing import Any

# (figure, comparison, target) of the issues' targets.
TARGETS: tuple[tuple[str, str, float, str], ...] = (
    ("agents.keyed_ratio", ">=", 2.0, "agents (one hop) / Faust no-op agent"),
    ("agents.two_hops_ratio", ">=", 1.5, "agents (two hops, the default) / Faust no-op agent"),
    ("pipeline.ratio", ">=", 3.0, "enginewatch / tutorial-style baseline, reports/s into InfluxDB"),
    ("pipeline.telegraf_ratio", ">=", 0.5, "enginewatch / Telegraf, messages/s into InfluxDB"),
    ("archiver.live_ratio", ">=", 0.5, "archiver, live-sized messages / bulk POST"),
    ("archiver.ratio", ">=", 0.7, "archiver / plain bulk POST"),
    ("latency.p99", "<", 1.0, "p99 latency at 2 000 reports/s, default settings (s)"),
)

# The figures each section's table shows, in order.
CEILINGS = (
    "ceilings.raw_consume",
    "ceilings.noop_consume",
    "ceilings.noop_consume_cpu",
    "ceilings.noop_forward",
    "ceilings.noop_forward_cpu",
)
AGENTS = (
    "agents.keyed",
    "agents.keyed_cpu",
    "agents.keyed_ratio",
    "agents.two_hops",
    "agents.two_hops_cpu",
    "agents.two_hops_ratio",
    "agents.previous",
    "agents.previous_cpu",
    "agents.speedup",
)
ARCHIVER = (
    "archiver.points",
    "archiver.points_cpu",
    "archiver.points_per_message",
    "archiver.bulk_post",
    "archiver.ratio",
    "archiver.gzip",
    "archiver.gzip_cpu",
    "archiver.bulk_post_gzip",
    "archiver.ratio_gzip",
    "archiver.live",
    "archiver.live_cpu",
    "archiver.live_points_per_message",
    "archiver.live_ratio",
)
ENCODER = (
    "encoder.ours",
    "encoder.influxdb_client",
    "encoder.ratio",
    "transcode.fast",
    "transcode.reference",
    "transcode.ratio",
)
LATENCY = (
    "latency.p50",
    "latency.p99",
    "latency.max",
    "latency_tuned.p50",
    "latency_tuned.p99",
    "latency_tuned.max",
    "latency.probes",
    "latency.rate",
)
SCALING = (
    "agents.two_hops",
    "agents.two_hops_cpu",
    "scaling.two_workers",
    "scaling.two_workers_cpu",
    "scaling.ratio",
)
MONITORS = (
    "ceilings.noop_consume",
    "monitors.profile",
    "monitors.profile_cpu",
    "monitors.profile_ratio",
    "monitors.join",
    "monitors.join_cpu",
    "monitors.join_ratio",
)
BASELINE = (
    "pipeline.enginewatch",
    "pipeline.enginewatch_cpu",
    "pipeline.enginewatch_services_cpu",
    "pipeline.baseline",
    "pipeline.baseline_cpu",
    "pipeline.baseline_services_cpu",
    "pipeline.ratio",
    "pipeline.recording_span",
    "pipeline.baseline_stamped_span",
)
TELEGRAF = (
    "pipeline.enginewatch",
    "pipeline.enginewatch_cpu",
    "pipeline.enginewatch_services_cpu",
    "pipeline.telegraf",
    "pipeline.telegraf_cpu",
    "pipeline.telegraf_services_cpu",
    "pipeline.telegraf_ratio",
)

# The correctness table's columns (results["correctness"]["columns"]) and rows.
CORRECTNESS_COLUMNS = (
    ("enginewatch", "enginewatch"),
    ("telegraf", "Telegraf, `telegraf.conf`"),
    ("telegraf_generic", "Telegraf, `telegraf-generic.conf`"),
)
CORRECTNESS_ROWS: tuple[tuple[str, tuple[str, ...]], ...] = (
    ("points sent to InfluxDB", ("points_sent",)),
    ("points InfluxDB accepted", ("points_written",)),
    ("points lost: InfluxDB refused their write, a field's type had changed", ("points_lost",)),
    ("points stored (a later point of the same series and time replaces one)", ("points_stored",)),
    ("points with a rate (`rps`, `*_rps`, `*_per_second`)", ("rate_points",)),
    ("points with a model name", ("model_points",)),
    ("{lists} sensor-report lists: stored as their amount (sum, count or mean)", ("lists_amount",)),
    ("... stored as their last element only", ("lists_last_element",)),
    ("... not stored, or as something else", ("lists_other",)),
    ("{invalid} invalid lines: dead letters, each with its reason", ("dead_letters",)),
    ("messages refused, logged and dropped", ("messages_dropped",)),
    ("invalid lines stored as points all the same", ("invalid_stored",)),
    ("values the parser could not convert (logged, dropped)", ("conversion_errors",)),
    (
        "writes refused for a field's type: whole / in part",
        ("writes_refused_whole", "writes_refused_in_part"),
    ),
)

# Development measurements of the first agents change (batches), one factor at
# a time (same machine, 80 000 reports, one worker, input keyed by engine): CPU per report.
CHANGE_STEPS: tuple[tuple[str, str], ...] = (
    ("before: one event at a time, `Topic.send` per report, asyncio loop", "272 µs"),
    ("`take_events` batches, still `Topic.send` per report", "185 µs"),
    ("`take_events`, `app.producer.send`, delivery awaited once per batch", "104 µs"),
    ("the same on uvloop", "86 µs"),
    ("`take_events`, one archive message per engine and batch, asyncio loop", "84 µs"),
    ("for scale: the Faust no-op agent, asyncio loop / uvloop", "75 µs / 57 µs"),
    ("for scale: a no-op agent taking `take_events` batches, asyncio loop", "67 µs"),
)


# Development measurements of the second change (input in bulk), one step at a
# time: single runs of the benchmark's own steps on the same machine (50 000
# reports, one worker), each step on top of the ones before. Figures of single
# runs vary by a fifth or more from run to run on this machine.
BULK_STEPS: tuple[tuple[str, str, str, str, str], ...] = (
    # step, no-op agent, one hop, two hops, archiver over live-sized messages
    (
        "before: batches from Faust streams (`noack_take`)",
        "10 700/s",
        "10 200/s, 102 µs",
        "8 500/s, 121 µs",
        "29 000 points/s",
    ),
    (
        "input in bulk (on asyncio's loop: see 6 below)",
        "13 300/s",
        "30 700/s, 25 µs",
        "12 900/s, 39 µs",
        "",
    ),
    (
        "uvloop again, fetches held 100 ms, stopped partitions",
        "13 900/s",
        "35 800/s, 23 µs",
        "19 400/s, 46 µs",
        "57 000 points/s",
    ),
    (
        "fetches of 20 ms while a partition is stopped; two archiver batches in flight",
        "12 800/s",
        "26 700/s, 29 µs",
        "15 300/s, 49 µs",
        "140 000-205 000 points/s",
    ),
    (
        "record batches of up to 1 MB",
        "11 600/s",
        "46 900/s, 19 µs",
        "35 900/s, 29 µs",
        "213 000 points/s",
    ),
)


def render(results: dict[str, Any]) -> str:
    figures: dict[str, dict[str, Any]] = results["figures"]
    sections = [
        _header(results),
        _headline(figures),
        _ceilings(figures),
        _agents(figures, results["profile"], results["profile_before"]),
        _archiver(figures),
        _latency(figures),
        _scaling(figures),
        _baseline(figures),
        _memory(results["memory"]),
        _monitors(figures),
        _telegraf(figures, results["correctness"], results["versions"].get("telegraf", "")),
        _method(results),
    ]
    return "\n".join(sections)


def _header(results: dict[str, Any]) -> str:
    machine, versions = results["machine"], results["versions"]
    scale = results["scale"]
    software = ", ".join(f"{name} {version}" for name, version in versions.items())
    load = ", ".join(str(x) for x in machine["load_average_at_start"])
    return f"""# Benchmarks

Written by `make bench` (`python -m benchmarks`, {scale["name"]} scale) on
{results["date"]}, commit `{results["commit"]}`, in {results["duration_s"]:.0f} s.
Every figure is the median of {scale["runs"]} run(s); each ratio is taken
between figures of the same run and then its median reported. Absolute numbers
hold for this machine only:

- **Machine:** {machine["cpu"]}, {machine["cores"]} cores, {machine["memory_gib"]} GiB,
  {machine["os"]}; load average at the start {load}. Kafka, InfluxDB, the
  workers and the benchmark itself share these cores (and other work may run
  beside them).
- **Software:** {software}.
- **Workload:** the simulated fleet (`enginewatch simulate`'s engines:
  {results["workload"]["engines"]} engines, seed 7), keyed by engine:
  {results["workload"]["agents_reports"]:,} sensor reports for the agents,
  {results["workload"]["pipeline_notifications"]:,} notifications of every type
  for the whole pipeline.
"""


def _headline(figures: dict[str, dict[str, Any]]) -> str:
    rows = []
    for key, comparison, target, label in TARGETS:
        median = figures[key]["median"]
        met = median >= target if comparison == ">=" else median < target
        rows.append(
            f"| {label} | {comparison} {target:g} | {_num(median)} | {_runs(figures[key])} | "
            f"{'met' if met else '**not met**'} |"
        )
    for key, label in (
        ("agents.speedup", "agents now / agents before the change, reports/s"),
        ("scaling.ratio", "two agents workers / one, reports/s"),
        ("encoder.ratio", "our line-protocol encoder / influxdb-client's Point"),
        ("monitors.profile_ratio", "monitors worker, 10-field profile / Faust no-op, records/s"),
        ("monitors.join_ratio", "monitors worker, prediction-truth join / Faust no-op, records/s"),
    ):
        rows.append(f"| {label} | | {_num(figures[key]['median'])} | {_runs(figures[key])} | |")
    return (
        "## Headline: ratios measured side by side\n\n"
        "| figure | target | median | runs | |\n|---|---|---|---|---|\n" + "\n".join(rows) + "\n"
    )


def _ceilings(figures: dict[str, dict[str, Any]]) -> str:
    return f"""## 1. Ceilings on the same broker

{_table(figures, CEILINGS)}
The raw consumer reads with `getmany` and parses every value with
`orjson.loads`, in the benchmark's own process: what any Python consumer pays
at least. The Faust no-op agent (`benchmarks/noop_app.py`, the workers' shared
Faust settings) iterates its stream and drops every event; its rate is read
from its consumer group's committed offsets (committed every 1 000 events).
The forwarding no-op sends each event on with `Topic.send`, the way the agents
used to: the difference between the two is what Faust charges per message
sent, which is why the agents no longer send that way. Both no-op agents get
every setting the workers share (uvloop, the shorter fetch wait, larger record
batches), so what the ratios below measure is the bulk input alone.
"""


def _agents(
    figures: dict[str, dict[str, Any]], profile: dict[str, Any], before: dict[str, Any]
) -> str:
    was, now = before["by_package"], profile["by_package"]
    names = list(was) + [name for name in now if name not in was]
    packages = "\n".join(
        f"| {name} | {_us(was.get(name))} | {_us(now.get(name))} |" for name in names
    )
    top = "\n".join(f"| `{name}` | {us:.1f} |" for name, us in profile["top"])
    top_before = "\n".join(f"| `{name}` | {us:.1f} |" for name, us in before["top"][:8])
    steps = "\n".join(f"| {what} | {cost} |" for what, cost in CHANGE_STEPS)
    bulk_steps = "\n".join(f"| {' | '.join(row)} |" for row in BULK_STEPS)
    return f"""## 2. Agents

{_table(figures, AGENTS)}
One `enginewatch agents` worker, four input partitions, the sensor reports
produced after the worker has joined its group; the rate is read from the
archive topic (the points' count against the records' CreateTime) over the
steady part of the run. *One hop*: the input is keyed by engine
(`ENGINEWATCH_INPUT_KEYED_BY_ENGINE=true`, as the simulator and most engine
producers key it), so `derive` reads it directly; that is the shape of the
no-op agent. *Two hops* is the default topology: `route-by-engine` first
re-keys the input by engine on an internal topic (one message per engine and
batch there), so each report is produced and consumed once more; its ratio is
to the same one-hop no-op agent. *Previous wiring* (`benchmarks/before_app.py`)
is the agents as they were before the first change below (one event at a
time), run beside today's on the same recording.

### Where a worker's CPU time goes, before and after the bulk input

Sampled with py-spy from outside the worker (one-hop agents). *Before*: the
`make bench` run of commit `{before["commit"]}` ({before["events"]:,} reports,
{before["samples"]:,} on-CPU samples, {before["cpu_us_per_event"]:.0f} µs of CPU
per report while sampled), kept in `benchmarks/profile_before.json`. *Now*: this
run ({profile["events"]:,} reports, {profile["samples"]:,} samples,
{profile["cpu_us_per_event"]:.0f} µs per report). A sample counts for the package
of its innermost Python frame; time in C extensions (orjson, uvloop, zlib)
counts for the Python function that called them, which is why the main event
loop shows up as mode's worker function that runs it, and the consumer's own
thread and loop as `ServiceThread._start_thread` (under mode).

| innermost frame in | before, µs per report | now, µs per report |
|---|---|---|
{packages}
| all sampled CPU | {before["cpu_us_per_event"]:.1f} | {profile["cpu_us_per_event"]:.1f} |

Our own code (parsing, derivation, resolution, archive encoding) is on the
stack for {before["ours_inclusive"]:.1f} µs per report before and
{profile["ours_inclusive"]:.1f} µs now. Before, the most sampled functions were
Faust's and mode's, moving events one at a time:

| function (before) | µs per report |
|---|---|
{top_before}

Now:

| function (now) | µs per report |
|---|---|
{top}

### The first change: batches, straight to the producer

Faust's per-event machinery (the stream iterator, `wait_first`, the
conductor, acknowledgements, the monitor's sensors) costs a fixed amount per
event, and `Topic.send` cost more than that again for every archive message,
plus a small produce request each. The first change, in `agents/app.py` and
`enginewatch/core/faustapp.py`:

1. **Batching:** both agents take batches of up to 1 000 events instead of one
   event at a time, so the agent's own code runs once per batch.
2. **Straight to the producer:** messages go to `app.producer.send` (no
   `Topic.send` with its futures and callbacks), and their delivery is awaited
   once per batch, before the batch's offsets can be committed.
3. **One message per engine and batch, on both hops:** `route-by-engine`
   sends an engine's input messages of the batch as one message on the
   internal by-engine topic (the messages byte for byte one after the other,
   their origins and lengths in a header), and `derive` publishes one archive
   message per engine and batch holding that engine's points in order (the
   archive format is unchanged; `origin` names the group's first input
   message). A group holds at most 128 KiB of input, and 50 input messages
   on the by-engine topic or 500 on the archive topic.

Development measurements, one factor at a time (same machine, CPU per report,
one-hop agents):

| wiring | CPU per report |
|---|---|
{steps}

### The second change: input in bulk

After the first change the agents ran at about Faust's no-op pace, because
every message still went through Faust one at a time on its way in: in the
consumer's fetch loop two tasks per message (`wait_first` of the delivery and
of the flow's suspension), the conductor's lock and callback, an `Event`, a
queue, the stream iterator and its sensors, then `noack_take`'s buffer. The
second change (`enginewatch/core/bulk.py`, and `enginewatch/core/faust_private.py`,
the one module that reaches into Faust):

1. **Fetches handed over whole:** for the topics an agent reads in bulk
   (`read_in_bulk`; the agents' input and by-engine topics, the archiver's
   archive topic), the consumer takes each fetched partition's records out of
   what it hands Faust's conductor (`Consumer._wait_next_records`) and puts
   them, as aiokafka returns them, in a buffer; the agent takes batches from
   it (`take_bulk_batches`): no Event, no queue, no task per message.
2. **Acknowledged a batch at once** (`acknowledge_batch`), into the same
   bookkeeping `Consumer.ack` fills, so Faust's commits work as before: only
   offsets acknowledged without a gap from the committed one are committed,
   a batch in flight holds a rebalance up as a message a stream took does,
   records of an earlier consumer generation or taken while a rebalance holds
   the flow are dropped, unacknowledged, as a stream skips them, and the
   continuity check still stops a worker handed input past a gap.
3. **Backpressure per partition:** a full buffer stops its partition's fetches
   through Faust's own `on_buffer_full` and resumes them when half empty, so
   one busy topic never holds up another's fetches (the by-engine topic's,
   read by the same consumer); while a partition is stopped a fetch waits at
   most 20 ms, as one going on meanwhile would otherwise wait for the fetch's
   full second.
4. **Shorter fetch wait:** Faust has the broker hold a fetch up to 1.5 s when
   the partitions asked for have nothing new, and aiokafka keeps one fetch in
   flight per broker; the workers' consumers ask for 100 ms (`shorten_fetch_wait`).
5. **Record batches of up to 1 MB** (Faust's largest produce request, under
   the broker's default `message.max.bytes`) instead of 16 KiB: each
   batch's by-engine and archive messages leave in one record batch per
   partition, which more than halved the two-hop agents' CPU per report.
6. **uvloop kept:** reading a topic in bulk builds Faust's flow control when
   the app is made, and with it the event loop, before `run_worker` used to
   set uvloop's policy; the first development step above ran on asyncio's
   loop for that reason. Every worker command now sets the policy before it
   makes its app (`enginewatch/cli.py`).
7. **Left alone:** Faust's group membership, rebalancing, assignment,
   recovery, tables and commits; the agents' stages; a producer linger of
   5 ms (no gain with 1 MB record batches).

Development measurements, one step at a time (single runs of the benchmark's
own steps; rates, and CPU per report):

| step | no-op agent | one hop | two hops | archiver, live-sized |
|---|---|---|---|---|
{bulk_steps}

The run above measures the whole of both changes: *previous wiring* against
*one hop*.
"""


def _us(value: float | None) -> str:
    return "" if value is None else f"{value:.1f}"


def _archiver(figures: dict[str, dict[str, Any]]) -> str:
    bulk = figures["archiver.bulk_post"]["median"]
    cpu_us = figures["archiver.points_cpu"]["median"]
    serial = 1 / (1 / bulk + cpu_us / 1e6)
    return f"""## 3. Archiver

{_table(figures, ARCHIVER)}
One `enginewatch archiver` (default settings) drains an archive topic holding
the agents' points for this recording, ten times over (each copy later in
time, so every point is distinct), in archive messages exactly as the agents
write them when they drain a backlog in the default topology: `derive` then
takes full batches of by-engine messages, and writes an engine's points from
up to 500 inputs into one message. Points are counted from InfluxDB's own
write statistics (`SHOW STATS FOR 'shard'`, polled every 50 ms: asking costs
the server nothing like a query over the data), and a final `count(*)` checks
that every field value is there. The bulk POST sends the same line protocol
to a fresh database in 5 000-line requests, one after the other, built
beforehand. The gzip rows repeat both with compression (level 5). The
*live* rows drain messages as the agents write them while keeping up with a
fleet at 2 000 reports/s: a batch of the agents then holds what one fetch
brought, so an engine's message holds a few points. That is what a backlog
looks like after an outage of InfluxDB.

Before the bulk input, the archiver drained those at 0.07 to 0.09 of the bulk
POST, in bursts at Faust's no-op pace separated by lulls of about a second.
The lulls had two causes, found with a log of every fetch: Faust has the broker
hold a fetch up to 1.5 s when the partitions asked for have nothing new, and
aiokafka keeps one fetch in flight per broker, asking only for partitions
whose fetched records were all taken; so whenever a fetch went out for
partitions just drained, the others, with records waiting on the broker,
waited for it. And a fetch asks for the partitions active when it starts: one
stopped for a full buffer and going on meanwhile waited for that fetch's full
second. The workers now ask the broker to hold a fetch 100 ms, and 20 ms while
a partition is stopped (section 2).

What made the difference:

1. **One pass from message to line** (`archiver/transcode.py`): the archive JSON is
   read once and each point goes straight to its line, with the escaped
   measurement and tags of a series and the escaped field keys worked out
   once and cached; anything unusual falls back on the reference path
   (decode, then encode), which says exactly what is wrong. The last rows of
   the encoder table compare the two in one process.
2. **Overlap:** requests are written one at a time and in order, but the
   next one is prepared while InfluxDB works on the one in flight, and the
   next batch is taken and encoded while the last request of the one before
   is written (two batches in flight, acknowledged in the order taken); a
   strictly serial archiver, at {_num(cpu_us)} µs of CPU per point of its own and
   InfluxDB's {_num(1e6 / bulk)} µs per point, would reach at most
   {_num(serial)} points/s.
3. **Larger archive messages** (agents): up to 500 inputs a message instead
   of 50, as the archiver's cost was largely per message.
4. **Input in bulk** (section 2): Faust's cost per message is gone from the
   archiver's input too, which is what lets it drain live-sized messages at
   the ratio above to a bulk POST, where it reached 0.07 to 0.09 before.
5. **No compression by default** (`ENGINEWATCH_INFLUX_GZIP`): the gzip rows
   show what it costs on a local link.
6. **Garbage collection:** workers freeze what start-up created and collect
   less often (`enginewatch/core/faustapp.py`), which saved about a tenth of the
   archiver's CPU per point in development runs.

Both the archiver and InfluxDB need a core at this rate, on a machine with
two that also runs Kafka: the archiver's CPU per point, next to InfluxDB's,
is what bounds the ratio here.

### Line protocol: our encoder against influxdb-client

{_table(figures, ENCODER)}
The same points (the agents' output for the recording), best of three passes
in one process: `archiver.lineprotocol.encode_point` against
`influxdb_client.Point(...).tag(...).field(...).time(..., NS).to_line_protocol()`;
then from archive messages (500 points each) to lines, the archiver's fast
path against `decode_archive` followed by `encode_point`.
"""


def _latency(figures: dict[str, dict[str, Any]]) -> str:
    return f"""## 4. Latency: produced to queryable in InfluxDB

{_table(figures, LATENCY)}
The agents and the archiver as deployed by default (two hops), fed the
simulated fleet at a steady 2 000 notifications per second in wall-clock
time. Among them, 50 probe reports a second carry the moment they are sent as
their timestamp; a thread asks InfluxDB every 50 ms for the probes that became
queryable, and a probe counts as visible halfway between the last query that
did not see it and the first that did (so +-25 ms). The first 2 s are not
counted. Most of the latency is the archiver's batching: at this rate its
batches end by time, not size, after `ENGINEWATCH_BATCH_SECONDS` (default
0.5 s), so a point waits up to that long before it is written; the second set
of figures is the same run with the setting at 1 s, the former default.
"""


def _scaling(figures: dict[str, dict[str, Any]]) -> str:
    ratio = figures["scaling.ratio"]["median"]
    cpu = figures["scaling.two_workers_cpu"]["median"] / figures["agents.two_hops_cpu"]["median"]
    return f"""## 5. Scaling: one against two agents workers

{_table(figures, SCALING)}
The default topology over a 4-partition input: one worker, then two workers
of the same app sharing the partitions (both joined before the input is
produced, so no rebalance falls into the measurement). Two workers cannot be
twice as fast here: the machine has two cores, and the broker (which handles
every record twice in this topology) and the benchmark reading the output
share them with the workers. In this run two workers reached {ratio:.2f} times
the rate of one, spending {cpu:.2f} times the CPU per report (each worker also
runs Faust's own consumer thread, timers and group membership): one worker
already keeps this machine's cores busy together with the broker, so the
second adds coordination rather than capacity. On a machine with cores to
spare, the same figure measures how the agents scale out; their state is per
engine and partitioned, so nothing else stands in the way.
"""


def _baseline(figures: dict[str, dict[str, Any]]) -> str:
    return f"""## 6. Baseline: the tutorial's way

{_table(figures, BASELINE)}
The same recording (notifications of every type) goes through enginewatch's
agents and archiver as deployed by default (two hops, two processes), and
through `benchmarks/baseline`, written the way the FastScore "Monitor a
Workflow with Grafana" tutorial builds its monitoring and archiver models: a
regular expression per tap tried on every report, a dict per point, batches of
ten through an InfluxDB 1.x client (one HTTP request each), and the wall-clock
time as each point's time. Both are timed the same way, by InfluxDB's write
statistics. "Services" is the CPU that Kafka and InfluxDB spent meanwhile, per
report: the cost a pipeline puts on the rest of the system.

Speed is not the baseline's worst problem. Its points carry the time they were
archived, not the time the engine reported: the recording covers
{_num(figures["pipeline.recording_span"]["median"])} s of engine time, the
baseline stamped it into {_num(figures["pipeline.baseline_stamped_span"]["median"])} s,
so any replay or backlog lands in the wrong place on every dashboard (with
the whole-second timestamps of the tutorial's archiver, points of one series
within a second would even overwrite each other). It also drops health, logs,
console output and configuration events, writes no point for the last
unfilled batch of ten, and computes its rates from the difference of
successive counts divided by the previous interval.
"""


def _memory(memory: dict[str, Any]) -> str:
    rss = "\n".join(f"| {label} | {mib} |" for label, mib in memory["peak_rss_mib"].items())
    state = memory["state_bytes_per_engine"]
    return f"""## 7. Memory

Peak resident set size (`VmHWM`) of each process, the largest over all runs:

| process | peak RSS (MiB) |
|---|---|
{rss}

State per engine (the agents are the only stateful stage; {state["engines"]:.0f} engines):

| what | bytes per engine |
|---|---|
| carried amounts in memory (Faust table value: tap -> amount) | {state["carried_in_memory"]:.0f} |
| carried amounts in the changelog topic (key + latest value) | {state["changelog"]:.0f} |
| engine -> model name mapping in memory | {state["model_name_in_memory"]:.0f} |

A worker's memory is dominated by Python, Faust and its buffers (the stream
buffer holds up to 4 096 events); a fleet of 10 000 engines would add a few
megabytes of state. The archiver's peak comes from its batches: a batch is
at most 1 000 archive messages (each holding at most 128 KiB of input), held
as raw messages until written; their lines are made request by request, at
most two requests of `ENGINEWATCH_BATCH_POINTS` (5 000) lines at a time.
"""


def _monitors(figures: dict[str, dict[str, Any]]) -> str:
    return f"""## 8. Monitors

{_table(figures, MONITORS)}
One `enginewatch monitors` worker (`benchmarks/monitoring.py`), its input on
topics of one partition each, produced once the worker holds them. *Profile*:
one monitor profiling a stream of records of ten numeric fields (count,
missing, mean, standard deviation, extremes, a KLL sketch and a histogram per
field, 1 s windows of 1 000 records in event time). *Join*: one monitor
joining predictions with their truths by id (each truth 0.1 s after its
prediction, both topics produced side by side, regression figures per 1 s
window). The rate is read from the archive topic: each window's points say how
many records it took in (the profile's `records`; the join's matched pairs,
unmatched predictions, orphan and late truths), against the CreateTime of the
message that carried them; a last record far later closes every window. A
record crosses the worker twice where it crosses the no-op agent once: the
intake reads it and sends its observation on the worker's own topic (one
message per batch and monitor), which the evaluation reads; per record the
profile updates ten sketches where the join matches one pair.
"""


def _telegraf(figures: dict[str, dict[str, Any]], table: dict[str, Any], version: str) -> str:
    given = table["input"]
    kinds = ", ".join(f"{kind} ({n})" for kind, n in given["invalid_kinds"].items())
    head = " | ".join(title for _, title in CORRECTNESS_COLUMNS)
    rows = []
    for label, keys in CORRECTNESS_ROWS:
        text = label.format(lists=f"{given['sensor_lists']:,}", invalid=given["invalid_lines"])
        cells = [
            " / ".join(_count(table["columns"][column][key]) for key in keys)
            for column, _ in CORRECTNESS_COLUMNS
        ]
        rows.append(f"| {text} | " + " | ".join(cells) + " |")
    return f"""## 9. Telegraf side by side

{_table(figures, TELEGRAF)}
The same recording as section 6 (notifications of every type) through
Telegraf {version} (`inputs.kafka_consumer` with the `json_v2` parser,
`outputs.influxdb`), a real process built by `services/local.sh telegraf`,
into the same InfluxDB. Its configuration is committed:
`benchmarks/telegraf.conf`, configured as well as Telegraf's documentation
allows for this input (the comments there say why each setting): the
measurement from `type`, the engine's own `timestamp` to the nanosecond,
`src` and `tap` and the other dimensions as tags, every field named and
forced to the type enginewatch's contract gives it, batches of 5 000 metrics
(InfluxDB's advice) with up to 10 000 messages in flight, and the broker's
protocol version. As for the baseline, the recording is produced first and
Telegraf started on it; points are counted from InfluxDB's write statistics.
How many points Telegraf makes of a recording is not known beforehand, so a
run ends once its consumer group has committed every message (Telegraf
commits a message only after its metrics were written) and the count then
stood still for 3 s. Its rate is the steady part's points per second divided
by the points it made per message; enginewatch's is the figure of section 6,
from the same run.

{_pace(figures["pipeline.telegraf_ratio"]["median"])} What each makes of the
same input:

| {given["messages"]:,} messages in, {given["invalid_lines"]} of them invalid | {head} |
|---|---|---|---|
{chr(10).join(rows)}

The same recording with {given["invalid_lines"]} invalid lines put in
(`benchmarks/invalid.py`, the kinds taking turns: {kinds}), through each
pipeline into a database of its own, once per benchmark. enginewatch's
column is its real agents and archiver (checked against the exact
expectation of the agents' pure pipeline); Telegraf's are read back from
InfluxDB and from its own log (`[inputs.kafka_consumer] Error in plugin`
for a refused message, `[parsers.json_v2] unable to convert` for a value,
`field type conflict` for a write, the output's `Wrote batch of N metrics`
for what it sent). The second Telegraf column is the configuration a user
writes first (`benchmarks/telegraf-generic.conf`: every key of a message as
a field of the type it has there).

- **Rates** need state per engine and tap: a report's amount over its
  `delta_time`, with the amounts of reports without one carried into the
  next. json_v2 maps one message to metrics; nothing in its configuration
  keeps anything between messages, so Telegraf writes `data` and
  `delta_time` and leaves the division (without the carried amounts) to
  every query.
- **Model names**: messages name their engine by UUID; enginewatch resolves
  it (a map file, Composer, Connect) and tags every point. Telegraf has the
  model only where a message names it (output reports); a static
  engine-to-model table in `processors.enum` (not in this build) would be a
  copy of the fleet to keep up to date by hand.
- **Lists**: json_v2 makes a metric per element of a list; they share their
  series and time, so InfluxDB keeps the last, and a gauge's mean or a
  count's sum is gone. A rejection list's length can be had (GJSON's `#`,
  stored as `data_length`), its sum or mean cannot. Telegraf's documentation
  itself advises the XPath parser for arrays; it is not measured here.
- **Types**: without forced types, a field that is a number in one message
  and a string in another (a rejected record's `amount`, a list of strings
  against a number) makes InfluxDB refuse the later write: in part when the
  field exists already, whole when it is new within the request, and
  Telegraf does not retry either. Forcing types avoids the conflicts, and
  turns the values that do not fit into conversion errors instead.
- **Invalid input**: Telegraf logs and drops a message it cannot parse,
  and writes one whose fields fit the forced types whatever they mean (a
  numeric `state` becomes the string `3`); there is no dead-letter output to
  send it to. enginewatch writes each to the dead-letter topic with its
  reason and counts it (`enginewatch_dead_letters`).

Telegraf's processors (Starlark, for one) could compute some of this in code
of one's own: that is writing a pipeline, not configuring one, and is not
measured here.
"""


def _pace(ratio: float) -> str:
    if ratio < 1:
        return f"Telegraf moved the messages {1 / ratio:.1f} times as fast as enginewatch."
    return f"enginewatch moved the messages {ratio:.1f} times as fast as Telegraf."


def _count(value: int | None) -> str:
    return "—" if value is None else f"{value:,}"


def _method(results: dict[str, Any]) -> str:
    return f"""## How it is measured

- Real services only: the local Kafka and InfluxDB (`make up`), workers
  started as subprocesses (`.venv/bin/enginewatch agents` and so on, with
  `ENGINEWATCH_*` settings), every run on its own topics, consumer groups and
  databases, removed afterwards.
- From outside: the archive topic's records and their CreateTime, a consumer
  group's committed offsets, InfluxDB's write statistics; CPU from
  `/proc/PID/stat`, memory from `/proc/PID/status`.
- A rate is taken over the steady part of a run: from 10 % to 90 % of its
  work, and not before the input was fully produced.
- Every number of every run is in `docs/benchmarks.json`.
- `make bench` reproduces all of it (about {results["duration_s"] / 60:.0f} minutes here);
  `python -m benchmarks --smoke` checks the harness in about a minute.
"""


def _table(figures: dict[str, dict[str, Any]], keys: tuple[str, ...]) -> str:
    rows = [
        f"| {figures[k]['what']} | {_num(figures[k]['median'])} | {figures[k]['unit']} | "
        f"{_runs(figures[k])} |"
        for k in keys
    ]
    return "| figure | median | unit | runs |\n|---|---|---|---|\n" + "\n".join(rows) + "\n"


def _runs(figure: dict[str, Any]) -> str:
    return ", ".join(_num(v) for v in figure["runs"])


def _num(value: float) -> str:
    if value >= 1000:
        return f"{value:,.0f}"
    if value >= 100:
        return f"{value:.0f}"
    if value >= 10:
        return f"{value:.1f}"
    return f"{value:.2f}"
