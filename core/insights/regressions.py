"""Regressions: did a series get worse right after a deployment, and which deployment was it?

For each deployment the values of every baselined series in the window before it are compared with
those after it. The windows are ``regression_window_s`` long but never reach past the neighbouring
deployments, so a change is only ever attributed to the deployment it followed. A regression is:

* significant — Mann–Whitney p < ``regression_alpha`` (core.programmes.migration_stats, the same
  test the migration's old-vs-new comparison uses), the p corrected for autocorrelation: values a
  minute apart (and rolling means such as the step-duration recording rule) are correlated, so the
  test's z is shrunk by √((1 − ρ) / (1 + ρ)), ρ the lag-1 autocorrelation of the values around
  their window's median (:func:`autocorrelated_p`);
* large — Cliff's delta (after vs before, worse direction) ≥ ``regression_min_effect`` (0.5: after a
  random after-value exceeds a random before-value three times in four);
* material — the median moved by at least ``regression_min_change_percent`` in the worse direction.

A series sampled sparsely (the 15-minute points of older history) gets windows wide enough for
:data:`MIN_SIDE` values a side, still clipped at the neighbouring deployments; a pair with fewer than
:data:`MIN_EFFECTIVE` independent values on a side (n (1 − ρ) / (1 + ρ)) is not judged.

Requiring all three keeps noise out: the effect size does not grow with the sample count as p does.
The confidence is ``1 − p`` (corrected); the likely cause is the deployment (its component and
version) and the affected component comes from the series' labels. Only durations, errors and
hit/success/availability rates are tested (:func:`is_tested`): load and queue depth follow demand,
not deployments. Pure over numpy/polars; the false-positive rate on noise is measured by
tests/test_insights_regressions.py and stated in docs/insights.md.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from statistics import NormalDist

import numpy as np
import polars as pl

from core.config import Settings
from core.programmes.migration_stats import mann_whitney

MIN_SIDE = 10  # values needed on each side of a deployment
MIN_EFFECTIVE = 5.0  # ... and independent values: n (1 − ρ) / (1 + ρ) on the smaller side
LOWER_IS_WORSE = ("cache_hit", "availability", "success", "up{")  # metrics whose fall is the regression


def worse_when_lower(name: str) -> bool:
    """True for series where lower values are worse (hit rates, availability, success rates)."""
    return any(part in name for part in LOWER_IS_WORSE) or name.startswith("up")


def is_tested(name: str) -> bool:
    """Series a deployment can regress: durations (``*_seconds``), errors, and hit/success/availability rates.

    Load, utilisation and queue depth follow demand (a deployment at 14:00 meets the afternoon's traffic), so
    they are baselined and scored but not blamed on deployments.
    """
    metric = name.split("{", 1)[0]
    return metric.endswith("_seconds") or "error" in metric or worse_when_lower(name)


def cliffs_delta(after: np.ndarray, before: np.ndarray) -> float:
    """P(after > before) − P(after < before) from the Mann–Whitney U of ``after`` (ties count half)."""
    u, _ = mann_whitney(after, before)
    if np.isnan(u):
        return 0.0
    return float(2 * u / (after.size * before.size) - 1)


@dataclass(frozen=True)
class Comparison:
    """One before/after comparison, in the worse direction (positive = worse)."""

    n_before: int
    n_after: int
    before_median: float
    after_median: float
    change_percent: float | None
    p_value: float
    effect: float  # Cliff's delta, signed so that positive is worse
    autocorrelation: float = 0.0  # lag-1, of the values around their window's median; p is corrected for it

    def is_regression(self, alpha: float, min_effect: float, min_change_percent: float) -> bool:
        """Significant, large and material, all three in the worse direction."""
        change = self.change_percent if self.change_percent is not None else float("inf")
        return self.p_value < alpha and self.effect >= min_effect and change >= min_change_percent


def compare_windows(before: np.ndarray, after: np.ndarray, *, lower_is_worse: bool = False) -> Comparison | None:
    """Compare two windows of one series; None with fewer than :data:`MIN_SIDE` finite values on a side."""
    b, a = before[np.isfinite(before)], after[np.isfinite(after)]
    if b.size < MIN_SIDE or a.size < MIN_SIDE:
        return None
    sign = -1.0 if lower_is_worse else 1.0
    _, p = mann_whitney(a, b)
    mb, ma = float(np.median(b)), float(np.median(a))
    rho = lag1_autocorrelation(np.concatenate([b - mb, a - ma]))
    if min(b.size, a.size) * (1 - rho) / (1 + rho) < MIN_EFFECTIVE:  # too few independent values to judge
        return None
    effect = sign * cliffs_delta(a, b)
    change = None if mb == 0 else sign * (ma - mb) / abs(mb) * 100
    return Comparison(int(b.size), int(a.size), mb, ma, change, autocorrelated_p(float(p), rho), effect, rho)


def lag1_autocorrelation(residuals: np.ndarray) -> float:
    """Lag-1 autocorrelation of residuals (each window around its own median), clipped to [0, 0.99]."""
    x = residuals - residuals.mean()
    denominator = float((x * x).sum())
    if x.size < 3 or denominator == 0:
        return 0.0
    return float(min(0.99, max(0.0, float((x[1:] * x[:-1]).sum()) / denominator)))


def autocorrelated_p(p: float, rho: float) -> float:
    """The two-sided p of a rank test whose values are AR(1)-correlated at ``rho``.

    Correlated values carry less evidence than their count says: the effective sample size is
    n (1 − ρ) / (1 + ρ), so the test's z shrinks by the square root of that ratio.
    """
    if rho <= 0 or p >= 1:
        return p
    z = -NormalDist().inv_cdf(max(p, 1e-300) / 2) * math.sqrt((1 - rho) / (1 + rho))
    return min(1.0, math.erfc(z / math.sqrt(2)))


@dataclass(frozen=True)
class Regression:
    """A series that got worse after a deployment."""

    series: str
    component: str  # the affected component, from the series' labels
    deployment_id: str
    deployed_component: str  # the likely cause
    version: str
    deployed_ms: int
    comparison: Comparison

    @property
    def confidence(self) -> float:
        """1 − p of the Mann–Whitney test."""
        return 1.0 - self.comparison.p_value


def component_of(series: str) -> str:
    """The component a series belongs to, from its labels (endpoint, database, agent, host, queue, step, job)."""
    for label in ("endpoint", "database", "agent", "host", "queue", "step", "job"):
        marker = f'{label}="'
        if marker in series:
            value = series.split(marker, 1)[1].split('"', 1)[0]
            return f"{label} {value}"
    return series.split("{", 1)[0]


def windows(deployed: Sequence[int], window_ms: int) -> list[tuple[int, int, int]]:
    """(before start, deployment, after end) per deployment time: ``window_ms`` each way, clipped at neighbours."""
    times = sorted(deployed)
    out = []
    for i, ts in enumerate(times):
        start = max(ts - window_ms, times[i - 1]) if i else ts - window_ms
        end = min(ts + window_ms, times[i + 1]) if i + 1 < len(times) else ts + window_ms
        out.append((start, ts, end))
    return out


def window_for(ts: np.ndarray, window_ms: int) -> int:
    """``window_ms``, widened to hold :data:`MIN_SIDE` values at the series' median spacing (sparse or old data)."""
    if ts.size < 2:
        return window_ms
    return max(window_ms, int(MIN_SIDE * float(np.median(np.diff(ts)))))


def detect(values: pl.DataFrame, deployments: pl.DataFrame, settings: Settings) -> list[Regression]:
    """Regressions of ``values`` (series, ts epoch ms, value) after ``deployments`` (id, component, version, ts).

    Several deployments at the same instant share their windows; the first (by id) is named.
    """
    if values.is_empty() or deployments.is_empty():
        return []
    deploys = deployments.sort("ts", "id").unique("ts", keep="first", maintain_order=True)
    found = []
    for (name,), group in values.sort("series", "ts").group_by("series", maintain_order=True):
        if not is_tested(str(name)):
            continue
        ts, v = group["ts"].to_numpy(), group["value"].to_numpy().astype(np.float64)
        spans = windows(deploys["ts"].to_list(), window_for(ts, int(settings.regression_window_s * 1000)))
        lower = worse_when_lower(str(name))
        for (start, at, end), row in zip(spans, deploys.iter_rows(named=True), strict=True):
            lo, mid, hi = np.searchsorted(ts, [start, at, end])
            result = compare_windows(v[lo:mid], v[mid:hi], lower_is_worse=lower)
            if result and result.is_regression(
                settings.regression_alpha, settings.regression_min_effect, settings.regression_min_change_percent
            ):
                found.append(
                    Regression(
                        str(name), component_of(str(name)), row["id"], row["component"], row["version"], at, result
                    )
                )
    return sorted(found, key=lambda r: (-r.comparison.effect, r.deployed_ms, r.series))


def chart_marks(found: Sequence[Regression]) -> pl.DataFrame:
    """Regressions as chart marks: ts (Datetime UTC), series, label."""
    return pl.DataFrame(
        {
            "ts": [r.deployed_ms for r in found],
            "series": [r.series for r in found],
            "label": [
                f"regression after {r.deployed_component} {r.version}: {r.comparison.change_percent or 0:+.0f} %"
                for r in found
            ],
        },
        schema={"ts": pl.Int64, "series": pl.String, "label": pl.String},
    ).with_columns(pl.from_epoch("ts", time_unit="ms").dt.replace_time_zone("UTC"))
