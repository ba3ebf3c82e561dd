"""Drift of a field's window profile against its reference profile, from the sketches.

Numbers: PSI and Jensen-Shannon over `buckets` buckets cut at the reference's
quantiles (deciles by default, so each holds a tenth of the reference), the
two-sample Kolmogorov-Smirnov statistic and its asymptotic p-value, and the
Wasserstein distance divided by the reference's standard deviation, both over
the weighted values the KLL sketches retain (exact while a sketch holds every
value; beyond that within its rank error). Categories: chi-square with its
p-value, Jensen-Shannon and PSI over the values the frequent-items sketches
hold (the rest as one value, `other`).

Which statistic decides (Evidently's defaults): with at most 1000 reference
values, KS (drift at p < 0.05) for numbers and chi-square (p < 0.05) for
categories; with more, the normed Wasserstein distance (>= 0.1) for numbers
and Jensen-Shannon (>= 0.1) for categories. PSI decides at >= 0.1.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt
from scipy import stats

from enginewatch.core.points import FieldValue
from monitors.config import AUTO_TEST_LIMIT, DriftSpec
from monitors.profile import CategoricalProfile, NumericProfile

# Empty buckets get this share, as Evidently does, so PSI stays finite.
FLOOR = 1e-4
# Statistics that are p-values: drift when below the threshold; the others when at or above.
P_VALUES = {"ks": "ks_p", "chisquare": "chisquare_p"}


Shares = Sequence[float] | npt.NDArray[np.float64]


@dataclass(frozen=True, slots=True)
class FieldDrift:
    fields: dict[str, FieldValue]
    drifted: bool


def psi(reference: Shares, current: Shares) -> float:
    """Population stability index over bucket shares (empty buckets floored)."""
    r = np.maximum(np.asarray(reference, dtype=float), FLOOR)
    c = np.maximum(np.asarray(current, dtype=float), FLOOR)
    return float(np.sum((c - r) * np.log(c / r)))


def jensen_shannon(reference: Shares, current: Shares) -> float:
    """The Jensen-Shannon distance (natural log; the square root of the
    divergence), as scipy.spatial.distance.jensenshannon and Evidently give it."""
    r = np.asarray(reference, dtype=float)
    c = np.asarray(current, dtype=float)
    r, c = r / r.sum(), c / c.sum()
    m = (r + c) / 2
    divergence = (_kl(r, m) + _kl(c, m)) / 2
    return math.sqrt(max(divergence, 0.0))


def _kl(p: np.ndarray, q: np.ndarray) -> float:
    mask = p > 0
    return float(np.sum(p[mask] * np.log(p[mask] / q[mask])))


def _weighted(sketch: NumericProfile) -> tuple[np.ndarray, np.ndarray]:
    pairs = list(sketch.sketch)
    values = np.fromiter((v for v, _ in pairs), dtype=float, count=len(pairs))
    weights = np.fromiter((w for _, w in pairs), dtype=float, count=len(pairs))
    return values, weights


def _cdfs(
    reference: NumericProfile, current: NumericProfile
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The support (every retained value, sorted) and both empirical CDFs on it."""
    rv, rw = _weighted(reference)
    cv, cw = _weighted(current)
    support = np.unique(np.concatenate([rv, cv]))
    order_r, order_c = np.argsort(rv), np.argsort(cv)
    cum_r = np.concatenate([[0.0], np.cumsum(rw[order_r])]) / rw.sum()
    cum_c = np.concatenate([[0.0], np.cumsum(cw[order_c])]) / cw.sum()
    cdf_r = cum_r[np.searchsorted(rv[order_r], support, side="right")]
    cdf_c = cum_c[np.searchsorted(cv[order_c], support, side="right")]
    return support, cdf_r, cdf_c


def kolmogorov_smirnov(reference: NumericProfile, current: NumericProfile) -> tuple[float, float]:
    """The two-sample KS statistic from the sketches and its asymptotic p-value
    (scipy's `ks_2samp(method="asymp")` on the same values gives the same)."""
    _, cdf_r, cdf_c = _cdfs(reference, current)
    d = float(np.max(np.abs(cdf_r - cdf_c)))
    n, m = reference.n, current.n
    effective = n * m / (n + m)
    # scipy's own rounding, but at least one: kstwo has no distribution of 0 values.
    return d, float(stats.kstwo.sf(d, max(1, round(effective))))


def wasserstein_normed(reference: NumericProfile, current: NumericProfile) -> float | None:
    """The first Wasserstein distance over the reference's standard deviation
    (population), as Evidently norms it; None when the reference is constant."""
    support, cdf_r, cdf_c = _cdfs(reference, current)
    distance = float(np.sum(np.abs(cdf_r - cdf_c)[:-1] * np.diff(support)))
    spread = math.sqrt(max(reference.m2, 0.0) / reference.n)
    return distance / spread if spread > 0 else None


def decile_edges(reference: NumericProfile, buckets: int) -> list[float]:
    """The reference's quantiles cutting `buckets` equal shares (ties merged)."""
    ranks = [i / buckets for i in range(1, buckets)]
    edges: list[float] = []
    for value in reference.sketch.get_quantiles(ranks):
        if not edges or value > edges[-1]:
            edges.append(float(value))
    return edges


def numeric(
    reference: NumericProfile, current: NumericProfile, spec: DriftSpec
) -> FieldDrift | None:
    """Every numeric statistic, and whether the deciding one says drift; None
    when either side has no value."""
    if not reference.n or not current.n:
        return None
    edges = decile_edges(reference, spec.buckets)
    r = reference.sketch.get_pmf(edges)
    c = current.sketch.get_pmf(edges)
    d, p = kolmogorov_smirnov(reference, current)
    fields: dict[str, FieldValue] = {
        "psi": psi(r, c),
        "jensenshannon": jensen_shannon(r, c),
        "ks": d,
        "ks_p": p,
    }
    w = wasserstein_normed(reference, current)
    if w is not None:
        fields["wasserstein"] = w
    method = spec.numeric
    if method == "auto":
        method = "ks" if reference.n <= AUTO_TEST_LIMIT or w is None else "wasserstein"
    elif method == "wasserstein" and w is None:
        method = "ks"
    return _decide(fields, method, spec, reference.n, current.n)


def categorical(
    reference: CategoricalProfile, current: CategoricalProfile, spec: DriftSpec
) -> FieldDrift | None:
    if not reference.n or not current.n:
        return None
    ref, cur = reference.frequencies(), current.frequencies()
    values = sorted(set(ref) | set(cur))
    r = [float(ref.get(v, 0)) for v in values]
    c = [float(cur.get(v, 0)) for v in values]
    other_r, other_c = reference.n - sum(r), current.n - sum(c)
    if other_r > 0 or other_c > 0:
        r.append(max(other_r, 0.0))
        c.append(max(other_c, 0.0))
    r_share = np.asarray(r) / reference.n
    c_share = np.asarray(c) / current.n
    chi, chi_p = chi_square(r_share, c)
    fields: dict[str, FieldValue] = {
        "psi": psi(r_share, c_share),
        "jensenshannon": jensen_shannon(r_share, c_share),
        "chisquare": chi,
        "chisquare_p": chi_p,
    }
    method = spec.categorical
    if method == "auto":
        method = "chisquare" if reference.n <= AUTO_TEST_LIMIT else "jensenshannon"
    return _decide(fields, method, spec, reference.n, current.n)


def chi_square(reference_shares: Shares, observed: Shares) -> tuple[float, float]:
    """Pearson's chi-square of the observed counts against the counts the
    reference's shares expect (floored, so a new value gives a large statistic,
    not an infinite one), as scipy.stats.chisquare, and its p-value."""
    shares = np.maximum(np.asarray(reference_shares, dtype=float), FLOOR)
    shares /= shares.sum()
    counts = np.asarray(observed, dtype=float)
    expected = shares * counts.sum()
    statistic = float(np.sum((counts - expected) ** 2 / expected))
    dof = max(len(counts) - 1, 1)
    return statistic, float(stats.chi2.sf(statistic, dof))


def _decide(
    fields: dict[str, FieldValue], method: str, spec: DriftSpec, ref_n: int, cur_n: int
) -> FieldDrift:
    threshold = spec.threshold(method)
    value = fields[P_VALUES.get(method, method)]
    assert isinstance(value, float)
    drifted = value < threshold if method in P_VALUES else value >= threshold
    fields.update(
        method=method,
        statistic=value,
        threshold=threshold,
        drifted=int(drifted),
        reference_count=ref_n,
        count=cur_n,
    )
    return FieldDrift(fields, drifted)
