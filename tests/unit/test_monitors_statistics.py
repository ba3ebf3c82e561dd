"""The monitors' statistics against scipy and numpy on the same data, within
the error the sketches state; and the profiles' merge properties."""

from __future__ import annotations

import itertools
import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy import stats
from scipy.spatial.distance import jensenshannon

from monitors import drift
from monitors.config import DriftSpec
from monitors.profile import PMF_ERROR, RANK_ERROR, CategoricalProfile, NumericProfile
from monitors.quality import QualitySums

# The sketches' errors are stated at the 99th percentile of many trials; twice
# that keeps these tests from failing by chance and still catches a wrong formula.
MARGIN = 2.0


def numeric(values: np.ndarray | list[float]) -> NumericProfile:
    profile = NumericProfile()
    for value in values:
        profile.update(float(value))
    return profile


def categorical(values: list[str]) -> CategoricalProfile:
    profile = CategoricalProfile()
    for value in values:
        profile.update(value)
    return profile


def rank(values: np.ndarray, value: float) -> float:
    """The share of the values at or below `value`."""
    return float(np.searchsorted(np.sort(values), value, side="right") / len(values))


@pytest.fixture(scope="module")
def samples() -> tuple[np.ndarray, np.ndarray]:
    """Large enough that both sketches compact (estimation mode)."""
    rng = np.random.default_rng(7)
    return rng.normal(0, 1, 20_000), rng.normal(0.3, 1.2, 15_000)


def test_the_large_samples_are_sketched_not_kept(samples: tuple[np.ndarray, np.ndarray]) -> None:
    a, _ = samples
    assert numeric(a).sketch.is_estimation_mode()


def test_moments_are_exact(samples: tuple[np.ndarray, np.ndarray]) -> None:
    a, _ = samples
    profile = numeric(a)
    summary = profile.summary()
    assert summary["count"] == len(a)
    assert summary["mean"] == pytest.approx(np.mean(a), rel=1e-12, abs=1e-12)
    assert summary["std"] == pytest.approx(np.std(a, ddof=1), rel=1e-12)
    assert (summary["min"], summary["max"]) == (float(np.min(a)), float(np.max(a)))


def test_quantiles_within_the_rank_error(samples: tuple[np.ndarray, np.ndarray]) -> None:
    a, _ = samples
    summary = numeric(a).summary()
    for name, q in (("p1", 0.01), ("p5", 0.05), ("p50", 0.5), ("p95", 0.95), ("p99", 0.99)):
        value = summary[name]
        assert isinstance(value, float)
        assert abs(rank(a, value) - q) <= MARGIN * RANK_ERROR, name


def test_ks_against_scipy(samples: tuple[np.ndarray, np.ndarray]) -> None:
    a, b = samples
    d, p = drift.kolmogorov_smirnov(numeric(a), numeric(b))
    expected = stats.ks_2samp(a, b, method="asymp")
    # Each sketch's CDF is off by at most its rank error.
    assert abs(d - expected.statistic) <= MARGIN * 2 * RANK_ERROR
    assert d > 0.05
    assert expected.pvalue < 1e-10
    assert p < 1e-10


def test_ks_is_exact_while_the_sketches_hold_every_value() -> None:
    rng = np.random.default_rng(1)
    a, b = rng.normal(0, 1, 150), rng.normal(0.2, 1, 120)
    d, p = drift.kolmogorov_smirnov(numeric(a), numeric(b))
    expected = stats.ks_2samp(a, b, method="asymp")
    assert d == pytest.approx(expected.statistic, abs=1e-12)
    assert p == pytest.approx(expected.pvalue, rel=1e-9)


def test_wasserstein_against_scipy(samples: tuple[np.ndarray, np.ndarray]) -> None:
    a, b = samples
    got = drift.wasserstein_normed(numeric(a), numeric(b))
    expected = stats.wasserstein_distance(a, b) / np.std(a)
    assert got is not None
    # A CDF error of e over the range where the distributions live moves the
    # area by at most e times that range (in units of the reference's spread).
    spread = (max(a.max(), b.max()) - min(a.min(), b.min())) / np.std(a)
    assert abs(got - expected) <= MARGIN * 2 * RANK_ERROR * spread
    small_a, small_b = a[:100], b[:100]
    exact = drift.wasserstein_normed(numeric(small_a), numeric(small_b))
    assert exact == pytest.approx(
        stats.wasserstein_distance(small_a, small_b) / np.std(small_a), rel=1e-9
    )


def _exact_shares(values: np.ndarray, edges: list[float]) -> np.ndarray:
    counts = np.histogram(values, bins=[-np.inf, *edges, np.inf])[0]
    return np.asarray(counts / len(values), dtype=float)


def test_psi_and_jensen_shannon_against_exact_buckets(
    samples: tuple[np.ndarray, np.ndarray],
) -> None:
    a, b = samples
    ref, cur = numeric(a), numeric(b)
    result = drift.numeric(ref, cur, DriftSpec(numeric="psi"))
    assert result is not None
    edges = drift.decile_edges(ref, 10)
    # The edges are the reference's deciles: each bucket holds a tenth of it.
    assert np.allclose(_exact_shares(a, edges), 0.1, atol=MARGIN * PMF_ERROR)
    r, c = _exact_shares(a, edges), _exact_shares(b, edges)
    expected_psi = float(np.sum((c - r) * np.log(c / r)))
    expected_js = float(jensenshannon(r, c))
    # Each bucket share is off by at most the PMF error; bound PSI's derivative
    # (|ln(c/r)| + |c - r| / min share) and JS's by the same error.
    worst = MARGIN * PMF_ERROR * len(r)
    slope = float(np.max(np.abs(np.log(c / r))) + 2)
    got_psi, got_js = result.fields["psi"], result.fields["jensenshannon"]
    assert isinstance(got_psi, float)
    assert isinstance(got_js, float)
    assert abs(got_psi - expected_psi) <= worst * slope
    assert abs(got_js - expected_js) <= worst
    assert result.fields["method"] == "psi"
    # (This sample's PSI lies near 0.1: the decision follows the sketch's own figure.)
    assert result.drifted == (got_psi >= 0.1)
    assert result.fields["statistic"] == got_psi


def test_psi_and_jensen_shannon_formulas_on_given_shares() -> None:
    r, c = [0.25, 0.25, 0.5], [0.1, 0.3, 0.6]
    assert drift.psi(r, c) == pytest.approx(
        sum((ci - ri) * math.log(ci / ri) for ri, ci in zip(r, c, strict=True))
    )
    assert drift.jensen_shannon(r, c) == pytest.approx(float(jensenshannon(r, c)))
    assert drift.psi(r, r) == 0.0
    assert drift.jensen_shannon(r, r) == 0.0


def test_chi_square_against_scipy() -> None:
    ref = categorical(["a"] * 30 + ["b"] * 50 + ["c"] * 20)
    cur = categorical(["a"] * 40 + ["b"] * 35 + ["c"] * 25)
    result = drift.categorical(ref, cur, DriftSpec())
    assert result is not None
    expected = stats.chisquare([40, 35, 25], f_exp=[0.3 * 100, 0.5 * 100, 0.2 * 100])
    assert result.fields["chisquare"] == pytest.approx(expected.statistic, rel=1e-12)
    assert result.fields["chisquare_p"] == pytest.approx(expected.pvalue, rel=1e-9)
    assert result.fields["jensenshannon"] == pytest.approx(
        float(jensenshannon([0.3, 0.5, 0.2], [0.4, 0.35, 0.25]))
    )
    assert result.fields["method"] == "chisquare"
    assert result.drifted == (expected.pvalue < 0.05)


def test_auto_follows_evidently_by_reference_size(samples: tuple[np.ndarray, np.ndarray]) -> None:
    a, b = samples
    large = drift.numeric(numeric(a), numeric(b), DriftSpec())
    small = drift.numeric(numeric(a[:1000]), numeric(b[:1000]), DriftSpec())
    assert large is not None
    assert small is not None
    assert (large.fields["method"], large.fields["threshold"]) == ("wasserstein", 0.1)
    assert (small.fields["method"], small.fields["threshold"]) == ("ks", 0.05)
    assert small.fields["statistic"] == small.fields["ks_p"]
    words = [str(i % 7) for i in range(2000)]
    big = drift.categorical(categorical(words), categorical(words[:500]), DriftSpec())
    assert big is not None
    assert big.fields["method"] == "jensenshannon"


def test_no_drift_without_values() -> None:
    assert drift.numeric(NumericProfile(), numeric([1.0]), DriftSpec()) is None
    assert drift.categorical(categorical(["a"]), CategoricalProfile(), DriftSpec()) is None


# -- merging ---------------------------------------------------------------------

finite = st.floats(min_value=-1e6, max_value=1e6, allow_nan=False)


@settings(max_examples=60, deadline=None)
@given(
    values=st.lists(finite, min_size=1, max_size=3000),
    cuts=st.lists(st.integers(min_value=0, max_value=3000), max_size=5),
)
def test_numeric_parts_merge_to_the_whole(values: list[float], cuts: list[int]) -> None:
    """The same values split into parts (windows, partitions) merge to the whole's profile."""
    bounds = sorted({0, len(values), *(c % (len(values) + 1) for c in cuts)})
    merged = NumericProfile()
    for start, end in itertools.pairwise(bounds):
        part = numeric(values[start:end])
        merged.merge(NumericProfile.from_json(part.to_json()))
    whole = numeric(values)
    assert merged.n == whole.n
    assert (merged.low, merged.high) == (whole.low, whole.high)
    scale = max(1.0, max(abs(v) for v in values))
    assert merged.mean == pytest.approx(whole.mean, abs=1e-9 * scale)
    assert merged.m2 == pytest.approx(whole.m2, rel=1e-6, abs=1e-6 * scale * scale)
    array = np.asarray(values)
    for q in (0.01, 0.25, 0.5, 0.75, 0.99):
        estimate = merged.sketch.get_quantile(q)
        low = rank(array, estimate) - np.mean(array == estimate)
        high = rank(array, estimate)
        # Some rank of the value returned is within the rank error of q.
        assert low - MARGIN * RANK_ERROR <= q <= high + MARGIN * RANK_ERROR


@settings(max_examples=60, deadline=None)
@given(
    values=st.lists(st.sampled_from([f"v{i}" for i in range(40)]), min_size=1, max_size=2000),
    cut=st.integers(min_value=0, max_value=2000),
)
def test_categorical_parts_merge_to_the_whole(values: list[str], cut: int) -> None:
    cut %= len(values) + 1
    merged = categorical(values[:cut])
    merged.merge(CategoricalProfile.from_json(categorical(values[cut:]).to_json()))
    whole = categorical(values)
    # Under 96 distinct values, the frequencies are exact, merged or not.
    assert merged.frequencies() == whole.frequencies() == {v: values.count(v) for v in set(values)}
    assert merged.summary() == whole.summary()


@settings(max_examples=60, deadline=None)
@given(
    pairs=st.lists(st.tuples(st.floats(-100, 100), st.floats(-100, 100)), min_size=1, max_size=200),
    cut=st.integers(min_value=0, max_value=200),
)
def test_quality_sums_merge_and_match_numpy(pairs: list[tuple[float, float]], cut: int) -> None:
    cut %= len(pairs) + 1
    parts = [QualitySums(), QualitySums()]
    for index, (prediction, truth) in enumerate(pairs):
        parts[index >= cut].pair(prediction, truth, 0, 1e-9, 5.0)
    merged = QualitySums.from_json(parts[0].to_json())
    merged.merge(parts[1])
    fields = merged.metrics("regression", 5.0)
    p = np.asarray([x for x, _ in pairs])
    t = np.asarray([y for _, y in pairs])
    error = p - t
    assert fields["matched"] == len(pairs)
    assert fields["mae"] == pytest.approx(np.mean(np.abs(error)), abs=1e-9)
    assert fields["rmse"] == pytest.approx(np.sqrt(np.mean(error**2)), abs=1e-9)
    assert fields["bias"] == pytest.approx(np.mean(error), abs=1e-9)
    assert fields["above_threshold"] == int(np.sum(np.abs(error) > 5.0))
    if np.all(np.abs(t) > 1e-9):
        assert fields["mape"] == pytest.approx(np.mean(np.abs(error) / np.abs(t)), rel=1e-9)
    else:
        assert "mape" not in fields
    if np.sum(np.abs(t)) > 0:
        assert fields["wape"] == pytest.approx(np.sum(np.abs(error)) / np.sum(np.abs(t)), rel=1e-9)


def test_classification_from_confusion_counts() -> None:
    truths = ["a", "a", "b", "b", "b", "c"]
    predictions = ["a", "b", "b", "b", "a", "a"]
    sums = QualitySums()
    for prediction, truth in zip(predictions, truths, strict=True):
        sums.pair(prediction, truth, 0, 0.0, None)
    assert sums.metrics("classification", None)["accuracy"] == pytest.approx(3 / 6)
    per_class = sums.per_class()
    # a: predicted 3 times, right once; truly a twice.
    assert per_class["a"]["precision"] == pytest.approx(1 / 3)
    assert per_class["a"]["recall"] == pytest.approx(1 / 2)
    assert per_class["a"]["f1"] == pytest.approx(2 * (1 / 3) * (1 / 2) / (1 / 3 + 1 / 2))
    assert per_class["b"]["precision"] == pytest.approx(2 / 3)  # predicted b 3 times
    assert per_class["b"]["recall"] == pytest.approx(2 / 3)
    assert per_class["c"] == {"support": 1, "predicted": 0, "recall": 0.0}
