"""A model's own streams, for monitors to watch: its input records, its
predictions, and the ground truth that comes later.

Pure and deterministic: the same configuration (seed included) gives the same
records, byte for byte. The model is a credit limit model (a regression):
each applicant has an `income` (thousands a year), a `debt_ratio`, an `age` and
a `region`; the model predicts a credit limit (thousands) that an underwriter
later sets, the truth. The model learnt on applicants of ordinary incomes,
where the limit is 0.3 × income × (1 - debt ratio); above an income of 80
the underwriters grant more than that, which the model never saw.

At `shift` (a share of the records' span) the input changes: a new segment of
richer, more indebted applicants from another region comes in (`income`,
`debt_ratio` and `region` drift; `age` does not), so the monitors' drift
share rises above one half, and the predictions err more, since the model now
meets the incomes it did not learn.

    inputs       {"id": "1-42", "ts": 1767225600.04, "income": 48.2, "debt_ratio": 0.31,
                  "age": 37, "region": "north"}
    predictions  {"id": "1-42", "ts": 1767225600.09, "limit": 9.98}
    truths       {"id": "1-42", "ts": 1767225601.9, "limit": 10.6}

Every record is keyed by its id. A prediction follows its input by 50 ms; its
truth comes `TRUTH_DELAY` seconds later, or never (`P_NO_TRUTH`): the label
coverage stays below one. The records' times (`ts`, seconds since the epoch)
start at the last multiple of `align` seconds at or before `start` (a paced
sender sends those before `start` at once), and the shift comes at a multiple
of `align` too, so a monitor's windows of that length are whole and each is
entirely before or after the shift.
"""

from __future__ import annotations

import heapq
import itertools
import math
import random
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import orjson

ROLES = ("inputs", "predictions", "truths")
# The monitors file's view of the streams: fields and their types.
INPUT_FIELDS = {
    "income": "numeric",
    "debt_ratio": "numeric",
    "age": "numeric",
    "region": "categorical",
}
PREDICTION_FIELD = "limit"
TRUTH_FIELD = "limit"
ID_FIELD = "id"
TIME_FIELD = "ts"

SCORING_DELAY = 0.05  # seconds from an input to its prediction
TRUTH_DELAY = (0.5, 3.0)  # seconds from a prediction to its truth, uniform
P_NO_TRUTH = 0.05  # a prediction whose truth never comes
NOISE = 0.8  # the underwriters' own spread around the rule, thousands
RICH = 80.0  # above this income the underwriters grant more than the rule
RICH_BONUS = 0.4  # per thousand of income above RICH
REGIONS = ("north", "south", "east", "west")
REGION_WEIGHTS = (0.4, 0.3, 0.1, 0.2)
SHIFTED_REGION_WEIGHTS = (0.15, 0.15, 0.6, 0.1)


@dataclass(frozen=True)
class ModelStreamsConfig:
    start: datetime  # timezone-aware
    duration: float  # seconds of input records
    rate: float = 25.0  # input records per second
    seed: int = 1
    shift: float = 0.5  # the share of the records' span at which the input changes
    align: float = 1.0  # seconds: the first record and the shift at multiples of it

    def __post_init__(self) -> None:
        if self.start.tzinfo is None:
            raise ValueError("the start time needs a timezone")
        if not (self.duration > 0 and math.isfinite(self.duration)):
            raise ValueError("the duration must be a finite number above 0")
        if not (self.rate > 0 and math.isfinite(self.rate)):
            raise ValueError("the rate must be a finite number above 0")
        if not 0 <= self.shift <= 1:
            raise ValueError("the shift is a share of the duration, from 0 to 1")
        if not self.align > 0:
            raise ValueError("the alignment must be above 0")

    @property
    def step_us(self) -> int:
        return round(self.align * 1e6)

    @property
    def first_us(self) -> int:
        """The first record's time: the start, rounded down to a multiple of `align`."""
        return _epoch_us(self.start) // self.step_us * self.step_us

    @property
    def end_us(self) -> int:
        return _epoch_us(self.start) + round(self.duration * 1e6)

    @property
    def shift_us(self) -> int:
        """When the input changes: `shift` of the way from the first record to the
        end, at the nearest multiple of `align`."""
        at = self.first_us + (self.end_us - self.first_us) * self.shift
        return round(at / self.step_us) * self.step_us


@dataclass(frozen=True, slots=True)
class StreamRecord:
    role: str  # one of ROLES
    time_us: int  # the record's `ts`, when it is due
    key: bytes
    value: bytes


def applicant(rng: random.Random, shifted: bool) -> dict[str, Any]:
    """One applicant's fields; `shifted`: of the segment that comes in at the shift."""
    income = rng.lognormvariate(math.log(75.0 if shifted else 45.0), 0.3)
    debt_ratio = min(max(rng.betavariate(4, 6) + (0.15 if shifted else 0.0), 0.0), 0.95)
    age = min(max(round(rng.gauss(41, 12)), 18), 90)
    weights = SHIFTED_REGION_WEIGHTS if shifted else REGION_WEIGHTS
    region = rng.choices(REGIONS, weights)[0]
    return {
        "income": round(income, 2),
        "debt_ratio": round(debt_ratio, 3),
        "age": age,
        "region": region,
    }


def predicted_limit(fields: dict[str, Any]) -> float:
    """The model's rule, learnt on ordinary incomes."""
    return 0.3 * float(fields["income"]) * (1 - float(fields["debt_ratio"]))


def true_limit(rng: random.Random, fields: dict[str, Any]) -> float:
    """What the underwriters grant: the rule, more above RICH, with their own spread."""
    income = float(fields["income"])
    bonus = RICH_BONUS * max(income - RICH, 0.0)
    return predicted_limit(fields) + bonus + rng.gauss(0.0, NOISE)


def model_streams(config: ModelStreamsConfig) -> Iterator[StreamRecord]:
    """Every record of the three streams in time order (ties in a fixed order)."""
    rng = random.Random(f"model-streams-{config.seed}")
    step_us = round(1e6 / config.rate)
    pending: list[tuple[int, int, StreamRecord]] = []
    sequence = itertools.count()
    for number in itertools.count():
        at = config.first_us + number * step_us
        if at >= config.end_us:
            break
        # Records due before this input can go: nothing later comes before it.
        while pending and pending[0][0] <= at:
            yield heapq.heappop(pending)[2]
        ident = f"{config.seed}-{number}"
        key = ident.encode()
        fields = applicant(rng, at >= config.shift_us)
        yield StreamRecord(
            "inputs", at, key, _json({ID_FIELD: ident, TIME_FIELD: at / 1e6, **fields})
        )
        scored = at + round(SCORING_DELAY * 1e6)
        prediction = {
            ID_FIELD: ident,
            TIME_FIELD: scored / 1e6,
            PREDICTION_FIELD: round(predicted_limit(fields), 3),
        }
        heapq.heappush(
            pending,
            (scored, next(sequence), StreamRecord("predictions", scored, key, _json(prediction))),
        )
        truth_value = round(true_limit(rng, fields), 3)
        delay = rng.uniform(*TRUTH_DELAY)
        if rng.random() < P_NO_TRUTH:
            continue
        known = scored + round(delay * 1e6)
        truth = {ID_FIELD: ident, TIME_FIELD: known / 1e6, TRUTH_FIELD: truth_value}
        heapq.heappush(
            pending, (known, next(sequence), StreamRecord("truths", known, key, _json(truth)))
        )
    while pending:
        yield heapq.heappop(pending)[2]


def reference_sample(seed: int, count: int) -> list[bytes]:
    """Input records of the model's training sample (before any shift), as the
    input stream carries them: a monitor's drift reference (`{file: PATH}`)."""
    rng = random.Random(f"model-streams-reference-{seed}")
    return [_json({ID_FIELD: f"train-{n}", **applicant(rng, False)}) for n in range(count)]


def _json(value: dict[str, Any]) -> bytes:
    return orjson.dumps(value)


def _epoch_us(moment: datetime) -> int:
    delta = moment - datetime(1970, 1, 1, tzinfo=UTC)
    return (delta.days * 86_400 + delta.seconds) * 1_000_000 + delta.microseconds
