"""Anomaly detectors for alert rules: rolling z-score, IQR fences, seasonal forecast interval, and a combined one.

Every detector turns a series (oldest first) into a score per point in "how unusual"
units, with the band it expected the point in (:class:`Scores`), and compares the
score with a threshold chosen by a sensitivity: a preset (``low``, ``medium``,
``high``) or a number between 0 (only the wildest points) and 1 (anything a bit
odd). The thresholds behind the presets are calibrated by bench/anomaly.py on the
labelled NAB series and stored in core/analytics/anomaly_calibration.py. Detectors look
only backwards (trailing windows shifted by one point), so the score of the newest
point is exactly what an evaluation cycle sees. Their parameters are durations
converted with the series' step (core/analytics/anomaly_plan.py), so the same rule
means the same on 10-second and on hourly data. Cost: bench/results.json
(``anomaly_<name>_ms_per_1k_points``).

The combined detector (``auto``) is the robust z-score of each point against the
last day — or, when the data shows a daily or weekly pattern, of its residual from
the median of the same phase (± a quarter hour) in the last three periods — with a spread that stays
meaningful on discrete and sparse series (:func:`robust_scale`). Scores are
continuous and uncapped, so a huge spike ranks above a routine one. An excursion like one
that happened around the same time (± half an hour) on most of the last three days is a
scheduled job, not an incident, even when its start drifts by a few minutes
(:func:`discount_recurring`). :func:`refractory` turns flagged points into alarms, one per
incident, re-armed by a clearly stronger one.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, replace

import numpy as np
import polars as pl

from core.analytics.anomaly_calibration import CALIBRATED, PRESETS
from core.analytics.anomaly_plan import DAY_S, SEASONS, Plan, plan_series, resolution

MAD_TO_SIGMA = 1.4826  # MAD of a normal distribution × this = its standard deviation
MEAN_AD_TO_SIGMA = 1.2533  # mean absolute deviation of a normal distribution × this = its standard deviation
TAIL_QUANTILE = 0.99  # the tail-aware spread: this quantile of absolute deviations …
TAIL_Z = 2.5758  # … divided by what it is for a normal distribution (two-sided 99 %)
REARM_FACTOR = 2.0  # a later point re-arms the refractory when it scores this many times the last alarm
RECURRING_TOLERANCE_S = 1800.0  # a daily excursion this close to the same time on earlier days recurs
PHASE_JITTER_S = 900.0  # the seasonal forecast reads each earlier period ± this around the phase (timing wobble)
Sensitivity = float | str


@dataclass(frozen=True)
class Scores:
    """Per point: the score, and the band the detector expected — ``expected ± (margin + threshold · scale)``.

    ``recurring_high`` / ``recurring_low`` (``auto`` only) are the usual excursions above / below
    the expected value around the same time on earlier days, in the values' units
    (:func:`discount_recurring`); they widen the band on their side where a job recurs.
    """

    score: np.ndarray
    expected: np.ndarray
    scale: np.ndarray
    margin: np.ndarray | float = 0.0
    recurring_high: np.ndarray | float = 0.0
    recurring_low: np.ndarray | float = 0.0

    def band(self, threshold: float) -> tuple[np.ndarray, np.ndarray]:
        """(low, high) per point: values inside score below ``threshold``."""
        return (
            self.expected - self.margin - _reach(threshold * self.scale, self.recurring_low),
            self.expected + self.margin + _reach(threshold * self.scale, self.recurring_high),
        )


def _reach(plain: np.ndarray, usual: np.ndarray | float) -> np.ndarray:
    """How far from the expected value a point may lie and still score below the threshold.

    ``plain`` is threshold × scale; where a recurring excursion of size ``usual`` discounts the
    score (:func:`discount_recurring`: score = d/scale · clip(d/usual − 1, 0, 1)), the limit is
    the root of d·(d − usual) = usual · plain when that lies below 2 · usual, else ``plain``.
    """
    usual = np.asarray(usual, dtype=np.float64)
    with np.errstate(invalid="ignore"):  # warm-up: an infinite spread times no usual excursion
        root = (usual + np.sqrt(usual * usual + 4.0 * usual * plain)) / 2.0
    return np.where((usual > 0) & (plain < REARM_FACTOR * usual), root, plain)


def _trailing(values: np.ndarray) -> pl.Series:
    """The series shifted one step, so window statistics never include the point being scored."""
    return pl.Series(values, dtype=pl.Float64).shift(1)


def _floor(values: np.ndarray, plan: Plan) -> float:
    """The smallest spread: one quantum of the values (the plan's, or measured), or a last resort far below any
    real change for a series that has never moved."""
    quantum = plan.resolution if plan.resolution is not None else resolution(values)
    finite = values[np.isfinite(values)]
    return max(quantum, float(np.median(np.abs(finite))) * 1e-6 if finite.size else 0.0, 1e-9)


def robust_scale(values: np.ndarray, center: np.ndarray, plan: Plan, tail: bool = False) -> np.ndarray:
    """The spread of the trailing window around ``center``, as a standard deviation that is never zero.

    1.4826 × the median absolute deviation (MAD) where that is positive; where more than
    half the window sits on one value (a sparse count, a flat gauge) MAD is 0, and the
    mean absolute deviation (× 1.2533) takes over; both are floored at the series'
    resolution (one count, one rounding step), since no change smaller than that can be
    seen, so a single routine event on a mostly-zero series scores about 1, not infinity.

    With ``tail``, the spread is also at least the 99th percentile of absolute deviations
    ÷ 2.576 (what that percentile is for a normal distribution) over the window: on a normal
    series this changes nothing, but a heavy-tailed or bursty one — where deviations
    of ten MADs happen every day — is measured by the size of its routine excursions, so
    only a larger one than it usually has scores high.
    """
    deviation = pl.Series(np.abs(values - center)).shift(1)
    mad = deviation.rolling_median(plan.window, min_samples=plan.warmup).to_numpy() * MAD_TO_SIGMA
    scale = mad
    if (mad == 0).any():  # only then is the mean absolute deviation needed
        mean_ad = deviation.rolling_mean(plan.window, min_samples=plan.warmup).to_numpy() * MEAN_AD_TO_SIGMA
        scale = np.where(mad > 0, mad, mean_ad)
    if tail:
        q99 = deviation.rolling_quantile(TAIL_QUANTILE, window_size=plan.window, min_samples=plan.warmup).to_numpy()
        scale = np.fmax(scale, q99 / TAIL_Z)
    return np.maximum(np.nan_to_num(scale, nan=np.inf), _floor(values, plan))


def robust_z(values: np.ndarray, plan: Plan, tail: bool = False) -> Scores:
    """|x − median| / robust spread over the trailing window: a z-score that one earlier spike cannot inflate."""
    median = _trailing(values).rolling_median(plan.window, min_samples=plan.warmup).to_numpy()
    scale = robust_scale(values, median, plan, tail)
    score = np.nan_to_num(np.abs(values - median) / scale, nan=0.0)
    return Scores(score, median, scale)


def seasonal_expected(values: np.ndarray, period: int, seasons: int = SEASONS, jitter: int = 0) -> np.ndarray:
    """The median of the same phase in the last ``seasons`` periods (NaN until one period of history).

    With ``jitter`` (points), each earlier period contributes the median of its ± ``jitter`` points around that
    phase rather than the single point at it: a daily pattern's timing wobbles by minutes from day to day (a job
    starting late, a ramp a little early), and one sample a day is then a noisy forecast — a routine spike that
    happened to sit exactly on that phase on two of three days makes every calm point there look low.
    """
    source = values
    if jitter > 0:
        source = (
            pl.Series(values, dtype=pl.Float64).rolling_median(2 * jitter + 1, center=True, min_samples=1).to_numpy()
        )
    lagged = np.full((seasons, len(values)), np.nan)
    for k in range(1, seasons + 1):
        if period * k < len(values):
            lagged[k - 1, period * k :] = source[: -period * k]
    out = np.full(len(values), np.nan)
    seen = ~np.isnan(lagged).all(axis=0)
    out[seen] = np.nanmedian(lagged[:, seen], axis=0)
    return out


def seasonal_z(values: np.ndarray, plan: Plan, tail: bool = False) -> Scores:
    """Robust z of the residual from :func:`seasonal_expected`: a daily pattern is expected rather than alarming.

    Without a period, or with less than two periods of history, this is :func:`robust_z`.
    """
    if not plan.period or len(values) < plan.period * 2:
        return robust_z(values, plan, tail)
    jitter = min(round(PHASE_JITTER_S / plan.step_s), plan.period // 4)
    expected = seasonal_expected(values, plan.period, jitter=jitter)
    expected = np.where(np.isnan(expected), values, expected)  # no history yet: residual 0, nothing scored
    inner = robust_z(values - expected, plan, tail)
    return Scores(inner.score, expected + inner.expected, inner.scale)


def zscore(values: np.ndarray, plan: Plan) -> Scores:
    """|x − mean| / std over the trailing window: the plain rolling z-score (the benchmark baseline)."""
    prior = _trailing(values)
    mean = prior.rolling_mean(plan.window, min_samples=plan.warmup).to_numpy()
    std = prior.rolling_std(plan.window, min_samples=plan.warmup).to_numpy()
    scale = np.maximum(np.nan_to_num(std, nan=np.inf), _floor(values, plan))
    return Scores(np.nan_to_num(np.abs(values - mean) / scale, nan=0.0), mean, scale)


def iqr(values: np.ndarray, plan: Plan) -> Scores:
    """Distance outside the trailing [Q1, Q3] box in box widths (Tukey fences sit at 1.5)."""
    prior = _trailing(values)
    low_q = prior.rolling_quantile(0.25, window_size=plan.window, min_samples=plan.warmup).to_numpy()
    high_q = prior.rolling_quantile(0.75, window_size=plan.window, min_samples=plan.warmup).to_numpy()
    width = np.maximum(np.nan_to_num(high_q - low_q, nan=np.inf), _floor(values, plan))
    outside = np.maximum(np.maximum(low_q - values, values - high_q), 0.0)
    return Scores(np.nan_to_num(outside / width, nan=0.0), (low_q + high_q) / 2, width, (high_q - low_q) / 2)


def recurring_z(values: np.ndarray, plan: Plan) -> Scores:
    """The ``auto`` detector: robust z with the tail-aware spread, against what is normal for this series.

    When the data shows a daily or weekly pattern (the plan has a period), the residual
    from the same phase of the last periods is scored. Otherwise a point that is unusual
    for the last window but like the same time yesterday (a nightly batch job, a daily
    backup spike) is recurring, not anomalous: the score is the smaller of the level z
    and the same-time-yesterday z (once two days of history exist), and the expected
    band is that of the smaller one — so a flagged value lies outside both. Either way,
    an excursion that recurs daily with a drifting start is discounted
    (:func:`discount_recurring`).
    """
    if plan.period:
        return discount_recurring(seasonal_z(values, plan, tail=True), values, plan)
    level = robust_z(values, plan, tail=True)
    day = round(DAY_S / plan.step_s)
    if day < 4 or len(values) < 2 * day:
        return level
    daily = seasonal_z(values, replace(plan, period=day), tail=True)
    pick = daily.score < level.score
    scored = Scores(
        np.where(pick, daily.score, level.score),
        np.where(pick, daily.expected, level.expected),
        np.where(pick, daily.scale, level.scale),
    )
    return discount_recurring(scored, values, plan)


def _same_time_earlier_days(excursion: np.ndarray, day: int, tolerance: int) -> np.ndarray:
    """Per point: the median over the last :data:`SEASONS` days of the largest ``excursion`` within ± ``tolerance``
    points of the same time of day (0 without a day of history)."""
    nearby = pl.Series(excursion).rolling_max(2 * tolerance + 1, center=True, min_samples=1).to_numpy()
    lagged = np.full((SEASONS, len(excursion)), np.nan)
    for k in range(1, SEASONS + 1):
        if day * k < len(excursion):
            lagged[k - 1, day * k :] = nearby[: -day * k]
    seen = ~np.isnan(lagged).all(axis=0)
    out = np.zeros(len(excursion))
    out[seen] = np.nanmedian(lagged[:, seen], axis=0)
    return np.nan_to_num(np.maximum(out, 0.0), nan=0.0)


def discount_recurring(scored: Scores, values: np.ndarray, plan: Plan) -> Scores:
    """Scores with daily recurring excursions discounted, even when their time of day drifts.

    A cron job's spike moves by a few minutes from day to day, so comparing each point
    with exactly the same phase yesterday (or the same-phase median) misses it and
    alarms on it every day. Here a point's excursion ``d`` from the expected value is
    compared with ``p``, the usual excursion on the same side around this time: the
    largest within ± :data:`RECURRING_TOLERANCE_S` of the same time of day, the median
    over the last three days (so it must be routine, not a one-off). The score ``a`` becomes
    ``a · clip(d / p − 1, 0, 1)``: 0 up to the usual size, in full from
    :data:`REARM_FACTOR` (2) times it, continuous in between.

    Only an earlier excursion that noise cannot explain counts: the largest of ``m``
    normal points is about √(2 ln m) spreads, so ``p`` must reach twice that (in the
    current spread) — on a series without jobs nothing is discounted, at any step.
    """
    day = round(DAY_S / plan.step_s)
    if day < 4 or len(values) <= day:
        return scored
    tolerance = max(1, round(RECURRING_TOLERANCE_S / plan.step_s))
    noise_max = math.sqrt(2.0 * math.log(2 * tolerance + 1))
    deviation = np.nan_to_num(values - scored.expected, nan=0.0)
    up = _same_time_earlier_days(np.maximum(deviation, 0.0), day, tolerance)
    down = _same_time_earlier_days(np.maximum(-deviation, 0.0), day, tolerance)
    gate = REARM_FACTOR * noise_max * scored.scale
    up, down = np.where(up >= gate, up, 0.0), np.where(down >= gate, down, 0.0)
    usual = np.where(deviation >= 0, up, down)
    with np.errstate(divide="ignore", invalid="ignore"):
        excess = np.where(usual > 0, np.clip(np.abs(deviation) / usual - 1.0, 0.0, 1.0), 1.0)
    return replace(scored, score=scored.score * excess, recurring_high=up, recurring_low=down)


def refractory(flags: np.ndarray, gap: int, scores: np.ndarray | None = None) -> np.ndarray:
    """Alarms from flagged points: one per incident, without letting a weak early alarm swallow a strong one.

    A flag becomes an alarm when no alarm lies within the previous ``gap`` points, or
    (with ``scores``) when it scores at least :data:`REARM_FACTOR` times the last alarm:
    a false alarm just before a real incident no longer hides the incident.
    """
    out = np.zeros_like(flags, dtype=bool)
    last, last_score = -gap - 1, math.inf
    for index in np.flatnonzero(flags).tolist():  # loops over flagged points only, which are rare
        score = float(scores[index]) if scores is not None else 0.0
        if index - last > gap or score >= REARM_FACTOR * last_score:
            out[index] = True
            last, last_score = index, (score if scores is not None else math.inf)
    return out


@dataclass(frozen=True)
class Detector:
    """One registered detector: how it scores, and the calibrated thresholds behind each sensitivity."""

    name: str
    description: str
    score_fn: Callable[[np.ndarray, Plan], Scores]

    def scores(self, values: np.ndarray, plan: Plan) -> Scores:
        """Score every point of ``values`` (oldest first) with ``plan``."""
        return self.score_fn(np.asarray(values, dtype=np.float64), plan)

    def score(self, values: np.ndarray, plan: Plan) -> np.ndarray:
        """Only the scores."""
        return self.scores(values, plan).score

    def threshold(self, sensitivity: Sensitivity) -> float:
        """The score threshold for a preset or a number in [0, 1] (:func:`threshold_for`)."""
        return threshold_for(self.name, sensitivity)

    def flags(self, values: np.ndarray, plan: Plan, sensitivity: Sensitivity = "medium") -> np.ndarray:
        """True where a point is anomalous at ``sensitivity``."""
        return self.score(values, plan) >= self.threshold(sensitivity)


DETECTORS: tuple[Detector, ...] = (
    Detector("zscore", "Rolling z-score: distance from the trailing mean in standard deviations.", zscore),
    Detector("iqr", "Outside the trailing interquartile box by more than k box widths (Tukey fences).", iqr),
    Detector("seasonal", "Outside the seasonal forecast interval (same phase of the last three periods).", seasonal_z),
    Detector(
        "auto",
        "Robust z against the series' own routine excursions; seasonal when the data shows a daily or weekly "
        "pattern, and what recurs at the same time each day is not flagged (best on NAB).",
        recurring_z,
    ),
)


def detector(name: str) -> Detector:
    """The registered detector called ``name``."""
    for found in DETECTORS:
        if found.name == name:
            return found
    raise ValueError(f"unknown anomaly detector {name!r}; use one of {', '.join(d.name for d in DETECTORS)}")


def parse_sensitivity(value: object) -> Sensitivity:
    """A preset name or a number in [0, 1]; ValueError naming the accepted forms otherwise."""
    if isinstance(value, str):
        text = value.strip().lower()
        if text in PRESETS:
            return text
        try:
            value = float(text)
        except ValueError:
            raise ValueError(
                f"sensitivity must be one of {', '.join(PRESETS)} or a number between 0 and 1, got {value!r}"
            ) from None
    if isinstance(value, bool) or not isinstance(value, int | float) or not 0 <= float(value) <= 1:
        raise ValueError(f"sensitivity must be one of {', '.join(PRESETS)} or a number between 0 and 1, got {value!r}")
    return float(value)


def threshold_for(name: str, sensitivity: Sensitivity) -> float:
    """The score threshold of detector ``name`` at a preset or a number in [0, 1].

    Presets are the calibrated thresholds themselves. A number places the threshold on
    a log scale through them: 0.25 = low, 0.5 = medium, 0.75 = high, with 0 and 1 one
    more step (the low-to-high ratio) beyond each end, so 0.5 and ``medium`` agree and
    the threshold falls as the sensitivity rises.
    """
    levels = CALIBRATED[name]
    if isinstance(sensitivity, str):
        return levels[parse_sensitivity(sensitivity)]  # type: ignore[index]
    low, medium, high = (math.log(levels[p]) for p in PRESETS)
    spread = max(low - high, 0.1)
    s = min(max(float(sensitivity), 0.0), 1.0)
    return float(math.exp(np.interp(s, [0.0, 0.25, 0.5, 0.75, 1.0], [low + spread, low, medium, high, high - spread])))


__all__ = [
    "DETECTORS",
    "Detector",
    "Plan",
    "Scores",
    "detector",
    "discount_recurring",
    "parse_sensitivity",
    "plan_series",
    "refractory",
    "robust_scale",
    "threshold_for",
]
