"""What Telegraf sent and what it dropped, counted from its log: pure.

Telegraf keeps no record of what it could not use beyond its log:

- a message its parser refused: `E! [inputs.kafka_consumer] Error in plugin:
  ...`, the whole message dropped;
- a value json_v2 could not give its configured type: `E!
  [parsers.json_v2::kafka_consumer] unable to convert ...`, that value
  dropped, the rest of the message kept;
- a write InfluxDB refused for a field's type: `E! [outputs.influxdb] ...
  field type conflict`. With `partial write ... dropped=N` InfluxDB kept the
  other points of the request; without it (the field was new, and its types
  differed within the request) it kept none. Telegraf retries neither.

The output's `log_level = "debug"` (benchmarks/telegraf.conf) adds a line per
write, `D! [outputs.influxdb] Wrote batch of N metrics in ...`, also after a
refused one (Telegraf counts a refused write as done): so what a refused
request took with it is the size of the batch logged after it.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

_WROTE = re.compile(r"\[outputs\.influxdb\] Wrote batch of (\d+) metrics")
_DROPPED = re.compile(r"\bdropped=(\d+)")


@dataclass(frozen=True)
class TelegrafLog:
    metrics_sent: int  # in every write, refused or not
    batches: int
    dropped_messages: int  # messages the parser refused
    conversion_errors: int  # values that could not be given their configured type
    refused_writes: int  # requests InfluxDB refused whole for a field's type
    refused_metrics: int  # the metrics those requests held
    partial_writes: int  # requests it refused in part
    partial_dropped: int  # the points it dropped from those, as InfluxDB counted them


def read_log(text: str) -> TelegrafLog:
    sent = batches = dropped = conversions = 0
    refused = refused_metrics = partial = partial_dropped = 0
    refusal_pending = False
    for line in text.splitlines():
        if wrote := _WROTE.search(line):
            sent += int(wrote.group(1))
            batches += 1
            if refusal_pending:
                refused_metrics += int(wrote.group(1))
                refusal_pending = False
        elif " E! " not in line:
            continue
        elif "[inputs.kafka_consumer] Error in plugin:" in line:
            dropped += 1
        elif "[parsers.json_v2" in line and "unable to convert" in line:
            conversions += 1
        elif "[outputs.influxdb]" in line and "field type conflict" in line:
            if "partial write" in line:
                partial += 1
                found = _DROPPED.search(line)
                partial_dropped += int(found.group(1)) if found else 0
            else:
                refused += 1
                refusal_pending = True
    return TelegrafLog(
        sent,
        batches,
        dropped,
        conversions,
        refused,
        refused_metrics,
        partial,
        partial_dropped,
    )
