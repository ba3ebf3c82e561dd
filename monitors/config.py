"""The monitors file (YAML, `ENGINEWATCH_MONITORS`), loaded and checked into frozen models.

    monitors:
      - name: iris-inputs
        model: Iris classifier          # the `model` tag of every point
        window: 1m                      # tumbling windows, in event time
        time: ts                        # a field of the records; absent: the Kafka timestamp
        streams:
          - topic: iris-in
            name: input                 # the `stream` tag (default: the topic)
            fields: {sepal_length: numeric, species: categorical}
        drift: {reference: previous}
      - name: lstm-quality
        model: lstm
        window: 1m
        quality:
          prediction: {topic: lstm-out, field: prediction, id: id}
          truth: {topic: lstm-truth, field: value, id: id}
          label_delay: 10m
          threshold: 5

monitors/README.md describes every key and its default. `load_monitors(path)`
reads and checks a file; whatever is wrong in it is one `MonitorsError` line
naming the file, the monitor and the field: `monitors.yaml: monitor 'iris':
streams.0.fields.x: must be numeric or categorical (got 'number')`.
"""

from __future__ import annotations

import itertools
import re
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import (
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    ValidationError,
    ValidationInfo,
    field_validator,
    model_validator,
)

from enginewatch.core.configfile import NS, Duration, one_line, read_yaml
from enginewatch.core.points import tag_value_problem

# The monitors' union members that pydantic names in an error's location.
_BRANCHES = frozenset({"FirstRecords", "FileReference"})
_TOPIC = re.compile(r"^[A-Za-z0-9._-]{1,249}$")

FieldType = Literal["numeric", "categorical"]
NumericMethod = Literal["auto", "ks", "wasserstein", "psi", "jensenshannon"]
CategoricalMethod = Literal["auto", "chisquare", "jensenshannon", "psi"]
# Evidently's defaults (docs/ "data drift: how it works"): p-value 0.05 for the
# tests, 0.1 for the distances; PSI's rule of thumb calls 0.1 to 0.25 a moderate shift.
DEFAULT_THRESHOLDS: Mapping[str, float] = {
    "ks": 0.05,
    "chisquare": 0.05,
    "wasserstein": 0.1,
    "psi": 0.1,
    "jensenshannon": 0.1,
}
# Evidently switches from the tests to the distances above 1000 reference records.
AUTO_TEST_LIMIT = 1000


class MonitorsError(ValueError):
    """The monitors file cannot be used; the message is one line naming the
    file, the monitor and the field."""


def _number(value: Any) -> float:
    if isinstance(value, int | float) and not isinstance(value, bool):
        return float(value)
    raise ValueError(f"must be a number (got {value!r})")


def _tag(value: Any) -> str:
    if not isinstance(value, str):
        raise ValueError(f"must be a string (got {value!r})")
    problem = tag_value_problem(value)
    if problem:
        raise ValueError(f"{problem}: it is a tag value")
    return value


def _topic(value: Any) -> str:
    if not isinstance(value, str) or not _TOPIC.match(value):
        raise ValueError(f"must be a Kafka topic name (got {value!r})")
    return value


Number = Annotated[float, BeforeValidator(_number)]
Tag = Annotated[str, BeforeValidator(_tag)]
Topic = Annotated[str, BeforeValidator(_topic)]


class _Frozen(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class FieldSpec(_Frozen):
    """A field of a stream's records: numeric or categorical, and for numbers
    the histogram's bucket edges (default: the reference's deciles, else ten
    equal buckets between the window's minimum and maximum)."""

    type: FieldType
    buckets: tuple[Number, ...] | None = None

    @field_validator("buckets")
    @classmethod
    def _increasing(cls, edges: tuple[float, ...] | None) -> tuple[float, ...] | None:
        if edges is not None and (not edges or any(b <= a for a, b in itertools.pairwise(edges))):
            raise ValueError("must be a non-empty list of increasing numbers")
        return edges


def _field_spec(value: Any) -> Any:
    """`x: numeric` is short for `x: {type: numeric}`."""
    if isinstance(value, str):
        if value not in ("numeric", "categorical"):
            raise ValueError(f"must be numeric or categorical (got {value!r})")
        return {"type": value}
    return value


Fields = dict[Tag, Annotated[FieldSpec, BeforeValidator(_field_spec)]]


class StreamSpec(_Frozen):
    """A stream a monitor profiles: a topic of JSON objects (`fields` names the
    ones to profile), or of bare JSON numbers or strings (`bare: true`: one field,
    the record itself)."""

    topic: Topic
    name: Tag | None = None
    bare: bool = False
    fields: Fields = Field(min_length=1)

    @model_validator(mode="after")
    def _bare_has_one_field(self) -> StreamSpec:
        if self.bare and len(self.fields) != 1:
            raise ValueError("fields: a bare stream's records are one value: name one field")
        return self

    @property
    def stream(self) -> str:
        """The `stream` tag."""
        return self.name or self.topic


class FileReference(_Frozen):
    """A reference file: JSON Lines records (or a JSON list of them), a training sample."""

    file: Path

    @field_validator("file")
    @classmethod
    def _exists(cls, path: Path, info: ValidationInfo) -> Path:
        # A relative path is relative to the monitors file's folder.
        base = (info.context or {}).get("base")
        if not path.is_absolute() and isinstance(base, Path):
            path = base / path
        if not path.is_file():
            raise ValueError(f"no such file: {path}")
        return path


class FirstRecords(_Frozen):
    """The first N records of each field after the start."""

    first: int = Field(ge=1)


Reference = Literal["previous", "first-window"] | FirstRecords | FileReference


class DriftSpec(_Frozen):
    """Drift of every profiled field against a reference."""

    reference: Reference = "previous"

    @field_validator("reference", mode="before")
    @classmethod
    def _reference_shape(cls, value: Any, info: ValidationInfo) -> Any:
        """One message for a wrong reference, not one per shape it might have had."""
        if value in ("previous", "first-window"):
            return value
        kinds: dict[str, type[_Frozen]] = {"first": FirstRecords, "file": FileReference}
        if isinstance(value, dict) and len(value) == 1 and next(iter(value)) in kinds:
            try:
                return kinds[next(iter(value))].model_validate(value, context=info.context)
            except ValidationError as exc:
                error = exc.errors()[0]
                where = ".".join(str(part) for part in error["loc"])
                message = str(error["msg"]).removeprefix("Value error, ")
                raise ValueError(f"{where}: {message}") from None
        raise ValueError(
            f"must be previous, first-window, {{first: N}} or {{file: PATH}} (got {value!r})"
        )

    numeric: NumericMethod = "auto"
    categorical: CategoricalMethod = "auto"
    thresholds: dict[str, Number] = Field(default_factory=dict)
    # The stream drifts when at least this share of its fields drift (Evidently's drift_share).
    share: Number = Field(default=0.5, gt=0, le=1)
    # PSI and Jensen-Shannon over this many buckets cut at the reference's quantiles.
    buckets: int = Field(default=10, ge=2, le=100)

    @field_validator("thresholds")
    @classmethod
    def _known(cls, thresholds: dict[str, float]) -> dict[str, float]:
        for name, value in thresholds.items():
            if name not in DEFAULT_THRESHOLDS:
                raise ValueError(f"{name}: not a statistic; one of {', '.join(DEFAULT_THRESHOLDS)}")
            if value <= 0:
                raise ValueError(f"{name}: must be above 0 (got {value})")
        return thresholds

    def threshold(self, method: str) -> float:
        return self.thresholds.get(method, DEFAULT_THRESHOLDS[method])


class JoinSide(_Frozen):
    """One side of the quality join: a topic, the field holding the value
    (absent: the record is the bare value) and the field holding the record id."""

    topic: Topic
    name: Tag | None = None
    field: str | None = Field(default=None, min_length=1)
    id: str | None = Field(default=None, min_length=1)

    @property
    def stream(self) -> str:
        return self.name or self.topic


class QualitySpec(_Frozen):
    """Prediction quality: the model's output joined with the truth."""

    prediction: JoinSide
    truth: JoinSide
    # `id`: by record id; `arrival`: the n-th prediction with the n-th truth, as
    # the tutorial's demo does: fragile (one lost record shifts every pair after it).
    pairing: Literal["id", "arrival"] = "id"
    task: Literal["regression", "classification"] = "regression"
    # A record waiting longer than this (in event time) for its other side is unmatched.
    label_delay: Duration = Field(default=10 * 60 * NS, gt=0)
    # Records whose |prediction - truth| exceeds this are counted (the tutorial's divergence).
    threshold: Number | None = None
    # |truth| at or below this has no percentage error: MAPE skips it, WAPE does not.
    near_zero: Number = Field(default=1e-9, ge=0)

    @model_validator(mode="after")
    def _ids(self) -> QualitySpec:
        if self.pairing == "id":
            for side, spec in (("prediction", self.prediction), ("truth", self.truth)):
                if spec.id is None:
                    raise ValueError(f"{side}.id: pairing by id needs the id field of each side")
        if self.prediction.topic == self.truth.topic:
            raise ValueError("truth.topic: prediction and truth must be different topics")
        if self.task == "classification" and self.threshold is not None:
            raise ValueError("threshold: only a regression has a divergence threshold")
        return self


class Monitor(_Frozen):
    """One monitor: a model, the streams it profiles, drift, prediction quality."""

    name: str = Field(min_length=1, max_length=200, pattern=r"^[A-Za-z0-9._-]+$")
    model: Tag
    window: Duration = Field(default=60 * NS, gt=0)
    # How late (event time) a record may come after a later one closed nothing yet.
    lateness: Duration = Field(default=5 * NS, ge=0)
    time: str | None = Field(default=None, min_length=1)
    streams: tuple[StreamSpec, ...] = ()
    drift: DriftSpec | None = None
    quality: QualitySpec | None = None

    @model_validator(mode="after")
    def _something_to_do(self) -> Monitor:
        if not self.streams and self.quality is None:
            raise ValueError("streams: a monitor profiles streams or joins quality, or both")
        if self.drift is not None and not self.streams:
            raise ValueError("drift: drift needs streams to profile")
        names = [s.stream for s in self.streams]
        for name in names:
            if names.count(name) > 1:
                raise ValueError(f"streams: two streams are named {name!r}")
        if self.window % 1_000_000 != 0:
            raise ValueError("window: must be whole milliseconds")
        return self

    def topics(self) -> set[str]:
        """Every topic the monitor reads."""
        topics = {s.topic for s in self.streams}
        if self.quality is not None:
            topics |= {self.quality.prediction.topic, self.quality.truth.topic}
        return topics


class _MonitorsFile(_Frozen):
    monitors: tuple[Monitor, ...] = Field(min_length=1)

    @field_validator("monitors")
    @classmethod
    def _unique_names(cls, monitors: tuple[Monitor, ...]) -> tuple[Monitor, ...]:
        seen: set[str] = set()
        for monitor in monitors:
            if monitor.name in seen:
                raise ValueError(f"monitor {monitor.name!r}: name: another monitor has this name")
            seen.add(monitor.name)
        return monitors


@dataclass(frozen=True)
class Monitors:
    """A checked monitors file and the lookups the stages use."""

    path: str
    monitors: tuple[Monitor, ...]
    by_name: Mapping[str, Monitor] = field(init=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "by_name", {m.name: m for m in self.monitors})

    def topics(self) -> list[str]:
        """Every topic some monitor reads, sorted."""
        return sorted(set().union(*(m.topics() for m in self.monitors)))

    def __iter__(self) -> Iterator[Monitor]:
        return iter(self.monitors)

    def __len__(self) -> int:
        return len(self.monitors)


def monitors_from(data: Any, path: str = "monitors", base: Path | None = None) -> Monitors:
    """Check monitors given as parsed YAML (a mapping with `monitors`); relative
    reference files are found from `base` (default: the working directory)."""
    if not isinstance(data, dict):
        raise MonitorsError(f"{path}: must be a mapping with a 'monitors' list")
    try:
        checked = _MonitorsFile.model_validate(data, context={"base": base})
    except ValidationError as exc:
        raise MonitorsError(one_line(path, data, exc, "monitors", "monitor", _BRANCHES)) from None
    return Monitors(path, checked.monitors)


def load_monitors(path: Path | str) -> Monitors:
    """Read and check a monitors file, or raise MonitorsError (one line)."""
    return monitors_from(read_yaml(path, MonitorsError), str(path), Path(path).parent)
