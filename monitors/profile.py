"""Profiles of one field over one window: mergeable, and serialisable into a table value.

A numeric field keeps its counts, the running mean and sum of squared
deviations (Welford's update; Chan's formula merges two), its minimum and
maximum, and a KLL quantile sketch (Apache DataSketches, k = 200: rank error
about 1.3 %, the sketch holds every value exactly up to k of them). A
categorical field keeps its counts, a frequent-items sketch (exact for up to
96 distinct values a window, then the error `FREQUENT_EPSILON` of the total
weight) and an HLL distinct count (lg k = 12: relative error about 1.6 %).

KLL compacts with random coin flips that DataSketches seeds from the clock:
beyond k values a window, its quantiles differ from one run to the next within
the rank error. Everything else is exact and deterministic.
"""

from __future__ import annotations

import base64
import math
from dataclasses import dataclass, field
from typing import Any

import datasketches

from enginewatch.core.points import FieldValue

KLL_K = 200
FREQUENT_LG_MAP = 7
HLL_LG_K = 12
HLL_TYPE = datasketches.tgt_hll_type.HLL_8
QUANTILES: tuple[tuple[str, float], ...] = (
    ("p1", 0.01),
    ("p5", 0.05),
    ("p25", 0.25),
    ("p50", 0.50),
    ("p75", 0.75),
    ("p95", 0.95),
    ("p99", 0.99),
)
# The most frequent values a window reports (as `data_histogram` points).
TOP_VALUES = 10
# Equal-width buckets of a numeric histogram with no configured edges and no reference.
DEFAULT_BUCKETS = 10
RANK_ERROR = datasketches.kll_doubles_sketch.get_normalized_rank_error(KLL_K, False)
PMF_ERROR = datasketches.kll_doubles_sketch.get_normalized_rank_error(KLL_K, True)
FREQUENT_EPSILON = datasketches.frequent_strings_sketch.get_epsilon_for_lg_size(FREQUENT_LG_MAP)


def _b64(raw: bytes) -> str:
    return base64.b64encode(raw).decode("ascii")


def _unb64(text: Any) -> bytes:
    if not isinstance(text, str):
        raise ValueError("a sketch must be base64 text")
    return base64.b64decode(text)


@dataclass(slots=True)
class NumericProfile:
    missing: int = 0
    invalid: int = 0
    n: int = 0
    mean: float = 0.0
    m2: float = 0.0  # the sum of squared deviations from the mean
    low: float = math.inf
    high: float = -math.inf
    sketch: datasketches.kll_doubles_sketch = field(
        default_factory=lambda: datasketches.kll_doubles_sketch(KLL_K)
    )

    def update(self, value: float) -> None:
        self.n += 1
        delta = value - self.mean
        self.mean += delta / self.n
        self.m2 += delta * (value - self.mean)
        self.low = min(self.low, value)
        self.high = max(self.high, value)
        self.sketch.update(value)

    def merge(self, other: NumericProfile) -> None:
        self.missing += other.missing
        self.invalid += other.invalid
        if other.n:
            n = self.n + other.n
            delta = other.mean - self.mean
            self.mean += delta * other.n / n
            self.m2 += other.m2 + delta * delta * self.n * other.n / n
            self.n = n
            self.low = min(self.low, other.low)
            self.high = max(self.high, other.high)
            self.sketch.merge(other.sketch)

    def std(self) -> float | None:
        """The sample standard deviation (n - 1, as pandas), None below two values."""
        return math.sqrt(max(self.m2, 0.0) / (self.n - 1)) if self.n > 1 else None

    def summary(self) -> dict[str, FieldValue]:
        fields: dict[str, FieldValue] = {
            "count": self.n,
            "missing": self.missing,
            "invalid": self.invalid,
        }
        if self.n:
            fields.update(mean=self.mean, min=self.low, max=self.high)
            std = self.std()
            if std is not None:
                fields["std"] = std
            values = self.sketch.get_quantiles([q for _, q in QUANTILES])
            fields.update({name: float(v) for (name, _), v in zip(QUANTILES, values, strict=True)})
        return fields

    def histogram(self, edges: list[float] | None) -> list[tuple[str, int]]:
        """(upper bound, count) per bucket: the counts below each edge, then
        `+Inf`; without edges, ten equal buckets between minimum and maximum."""
        if not self.n:
            return []
        if not edges:
            if self.high == self.low:
                return [(_bound(self.high), self.n)]
            step = (self.high - self.low) / DEFAULT_BUCKETS
            edges = [self.low + step * i for i in range(1, DEFAULT_BUCKETS)]
        shares = self.sketch.get_pmf(edges)
        bounds = [_bound(e) for e in edges] + ["+Inf"]
        return [(b, round(share * self.n)) for b, share in zip(bounds, shares, strict=True)]

    def to_json(self) -> dict[str, Any]:
        return {
            "missing": self.missing,
            "invalid": self.invalid,
            "n": self.n,
            "mean": self.mean,
            "m2": self.m2,
            "min": self.low if self.n else None,
            "max": self.high if self.n else None,
            "kll": _b64(self.sketch.serialize()),
        }

    @classmethod
    def from_json(cls, value: Any) -> NumericProfile:
        n = int(value["n"])
        return cls(
            int(value["missing"]),
            int(value["invalid"]),
            n,
            float(value["mean"]),
            float(value["m2"]),
            float(value["min"]) if n else math.inf,
            float(value["max"]) if n else -math.inf,
            datasketches.kll_doubles_sketch.deserialize(_unb64(value["kll"])),
        )


def _bound(edge: float) -> str:
    """A bucket's upper edge as its tag: six significant digits, as Grafana shows it."""
    return f"{edge:.6g}"


def _new_hll() -> datasketches.hll_sketch:
    return datasketches.hll_sketch(HLL_LG_K, HLL_TYPE)


@dataclass(slots=True)
class CategoricalProfile:
    missing: int = 0
    invalid: int = 0
    n: int = 0
    items: datasketches.frequent_strings_sketch = field(
        default_factory=lambda: datasketches.frequent_strings_sketch(FREQUENT_LG_MAP)
    )
    distinct: datasketches.hll_sketch = field(default_factory=_new_hll)

    def update(self, value: str) -> None:
        self.n += 1
        self.items.update(value)
        self.distinct.update(value)

    def merge(self, other: CategoricalProfile) -> None:
        self.missing += other.missing
        self.invalid += other.invalid
        if other.n:
            self.n += other.n
            self.items.merge(other.items)
            union = datasketches.hll_union(HLL_LG_K)
            union.update(self.distinct)
            union.update(other.distinct)
            self.distinct = union.get_result(HLL_TYPE)

    def frequencies(self) -> dict[str, int]:
        """Value -> estimated count, every value the sketch holds (exact while it
        holds all of them)."""
        no_false_positives = datasketches.frequent_items_error_type.NO_FALSE_POSITIVES
        return {
            item: int(estimate)
            for item, estimate, _, _ in self.items.get_frequent_items(no_false_positives)
        }

    def top(self) -> list[tuple[str, int]]:
        """The most frequent values, most frequent first (ties by value)."""
        ranked = sorted(self.frequencies().items(), key=lambda kv: (-kv[1], kv[0]))
        return ranked[:TOP_VALUES]

    def summary(self) -> dict[str, FieldValue]:
        fields: dict[str, FieldValue] = {
            "count": self.n,
            "missing": self.missing,
            "invalid": self.invalid,
        }
        if self.n:
            fields["distinct"] = round(self.distinct.get_estimate())
            top = self.top()
            if top:
                fields["top"] = top[0][0]
                fields["top_share"] = top[0][1] / self.n
        return fields

    def to_json(self) -> dict[str, Any]:
        return {
            "missing": self.missing,
            "invalid": self.invalid,
            "n": self.n,
            "items": _b64(self.items.serialize()),
            "hll": _b64(self.distinct.serialize_compact()),
        }

    @classmethod
    def from_json(cls, value: Any) -> CategoricalProfile:
        return cls(
            int(value["missing"]),
            int(value["invalid"]),
            int(value["n"]),
            datasketches.frequent_strings_sketch.deserialize(_unb64(value["items"])),
            datasketches.hll_sketch.deserialize(_unb64(value["hll"])),
        )


Profile = NumericProfile | CategoricalProfile


def add(profile: Profile, value: float | str) -> bool:
    """Count `value` in `profile` when it is of the profile's type."""
    if isinstance(profile, NumericProfile):
        if isinstance(value, float):
            profile.update(value)
            return True
    elif isinstance(value, str):
        profile.update(value)
        return True
    return False


def new_profile(kind: str) -> Profile:
    return NumericProfile() if kind == "numeric" else CategoricalProfile()


def profile_from_json(kind: str, value: Any) -> Profile:
    return (
        NumericProfile.from_json(value)
        if kind == "numeric"
        else CategoricalProfile.from_json(value)
    )
