"""Old-versus-new performance statistics: descriptive figures and the Mann–Whitney U test.

A migration is judged on whether the new system is *slower*, not on whether its mean moved a
little: timings are skewed and heavy-tailed, so a mean or a t-test is pulled around by a few
slow outliers. The Mann–Whitney U test asks whether one system's timings tend to be larger
than the other's without assuming any distribution, which is why the regression flag uses it.

:func:`mann_whitney` uses scipy when it is installed and otherwise the normal approximation
with tie and continuity corrections — the same figure scipy's ``method="asymptotic"`` gives —
so the flag does not depend on an optional dependency in any case that matters (the two agree
to well under 0.01 in p from about ten timings a side).

Pure functions over numbers; the migration view (core.programmes.migration) and the
recording rule behind the regression alert both call :func:`compare`, so the page and the
alert flag the same operations.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

MIN_SAMPLES = 5  # timings of each system below which nothing is judged
REGRESSION_PERCENT = 10.0  # new slower than old by more than this (median) ...
ALPHA = 0.05  # ... and the difference significant at this level: a regression


def mann_whitney(a: np.ndarray, b: np.ndarray) -> tuple[float, float]:
    """(U of ``a``, two-sided p) of the Mann–Whitney U test; p = 1 when either side is empty or all are tied."""
    a, b = np.asarray(a, dtype=np.float64), np.asarray(b, dtype=np.float64)
    if not a.size or not b.size:
        return float("nan"), 1.0
    try:
        from scipy.stats import mannwhitneyu  # optional: exact p for small samples without ties
    except ImportError:
        return _normal_approximation(a, b)
    result = mannwhitneyu(a, b, alternative="two-sided")
    return float(result.statistic), float(result.pvalue)


def _normal_approximation(a: np.ndarray, b: np.ndarray) -> tuple[float, float]:
    """U and p from the normal approximation, with the tie correction of the variance and a continuity correction."""
    n1, n2 = a.size, b.size
    ranks, counts = _midranks(np.concatenate([a, b]))
    u = float(ranks[:n1].sum() - n1 * (n1 + 1) / 2)
    n = n1 + n2
    ties = float(((counts**3) - counts).sum())
    variance = n1 * n2 / 12 * ((n + 1) - ties / (n * (n - 1)))
    if variance <= 0:  # every timing equal: no evidence of any difference
        return u, 1.0
    mean = n1 * n2 / 2
    z = (abs(u - mean) - 0.5) / math.sqrt(variance)
    return u, float(min(1.0, math.erfc(max(z, 0.0) / math.sqrt(2))))


def _midranks(values: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """1-based ranks, tied values sharing the mean of their ranks; and the size of each group of equal values."""
    order = np.argsort(values, kind="mergesort")
    ordered = values[order]
    starts = np.flatnonzero(np.concatenate([[True], ordered[1:] != ordered[:-1]]))
    ends = np.concatenate([starts[1:], [values.size]])
    mean_rank = (starts + ends + 1) / 2  # ranks start..end-1 (0-based) → mean of start+1..end
    ranks = np.empty(values.size)
    ranks[order] = np.repeat(mean_rank, ends - starts)
    return ranks, (ends - starts).astype(np.float64)


@dataclass(frozen=True)
class Described:
    """Descriptive figures of one system's timings of one operation."""

    n: int
    p50: float | None
    p95: float | None
    p99: float | None
    mean: float | None
    std: float | None
    min: float | None
    max: float | None


def describe(values: np.ndarray) -> Described:
    """Count, percentiles (linear interpolation), mean, sample standard deviation, min and max."""
    v = np.asarray(values, dtype=np.float64)
    v = v[np.isfinite(v)]
    if not v.size:
        return Described(0, None, None, None, None, None, None, None)
    p50, p95, p99 = (float(x) for x in np.percentile(v, [50, 95, 99]))
    std = float(v.std(ddof=1)) if v.size > 1 else 0.0
    return Described(int(v.size), p50, p95, p99, float(v.mean()), std, float(v.min()), float(v.max()))


@dataclass(frozen=True)
class Comparison:
    """The new system against the old on one operation; Δ is (new − old) / old × 100, positive = slower."""

    old: Described
    new: Described
    delta_percent: float | None  # on the median
    p_value: float | None
    regression: bool
    verdict: str  # regression, improved, no significant change, too few samples


def delta(new: float | None, old: float | None) -> float | None:
    """(new − old) / old in percent; None without both or when old is 0."""
    if new is None or old is None or old == 0:
        return None
    return (new - old) / abs(old) * 100


def compare(
    old: np.ndarray,
    new: np.ndarray,
    *,
    regression_percent: float = REGRESSION_PERCENT,
    alpha: float = ALPHA,
    min_samples: int = MIN_SAMPLES,
) -> Comparison:
    """Describe both sides and flag a regression: median more than ``regression_percent`` higher *and* p < ``alpha``.

    Both conditions, because with thousands of timings a 2 % change is "significant" yet harmless,
    and with five timings a 40 % change may be noise. Below ``min_samples`` on either side nothing is judged.
    """
    o, n = describe(old), describe(new)
    change = delta(n.p50, o.p50)
    if o.n < min_samples or n.n < min_samples:
        return Comparison(o, n, change, None, False, "too few samples")
    finite = [v[np.isfinite(v)] for v in (np.asarray(new, dtype=np.float64), np.asarray(old, dtype=np.float64))]
    _, p = mann_whitney(*finite)
    significant = p < alpha
    regression = significant and change is not None and change > regression_percent
    if regression:
        verdict = "regression"
    elif significant and change is not None and change < 0:
        verdict = "improved"
    elif significant and change is not None and change > 0:
        verdict = "slower"
    else:
        verdict = "no significant change"
    return Comparison(o, n, change, p, regression, verdict)


def slowdown_percent(
    old: np.ndarray,
    new: np.ndarray,
    *,
    regression_percent: float = REGRESSION_PERCENT,
    alpha: float = ALPHA,
    min_samples: int = MIN_SAMPLES,
) -> float | None:
    """How many percent slower (median) ``new`` is than ``old`` when that difference is significant, else 0.

    None with fewer than ``min_samples`` on either side. A value above ``regression_percent`` is exactly
    :func:`compare`'s regression flag: the ``migration_performance_regression_percent`` recording rule writes
    this, so its alert and the Migration page flag the same operations.
    """
    o, n = np.asarray(old, dtype=np.float64), np.asarray(new, dtype=np.float64)
    o, n = o[np.isfinite(o)], n[np.isfinite(n)]  # as describe() counts them
    if o.size < min_samples or n.size < min_samples:
        return None
    change = delta(float(np.median(n)), float(np.median(o)))  # the median is describe()'s p50
    if change is None or change <= 0:
        return 0.0
    _, p = mann_whitney(n, o)
    return round(change, 2) if p < alpha else 0.0
