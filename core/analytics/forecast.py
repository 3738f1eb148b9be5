"""Forecasts on Prophet: a fitted series projected over a horizon with 80 % and 95 % intervals.

One module answers every "when" question the app asks — capacity ("when do we run out?"),
completion ETAs ("when will it be done?"), the Executive page's predictions and the predictive
alert rules (:func:`will_cross`) — so they all fit the same way and a fix reaches all of them.

How a fit is made (docs/forecasting.md):

* **Enough history or no answer.** A horizon needs at least a quarter of itself in history
  (:data:`HISTORY_RATIO`) and never less than :data:`MIN_HISTORY_S`; below that the result is a
  :class:`Forecast` with ``status="insufficient"`` and the message "need at least N hours of data
  (have M)" — never an exception and never a projection, because a 24 h projection drawn from
  15 minutes of a disk filling up after a restart is noise with a confident face.
* **The data the horizon needs.** :func:`plan_for` picks the bucket step (roughly 300 buckets
  ahead, rounded to a rollup tier so the query layer reads that tier) and how much history to
  read; :func:`fit_query` reads it through core.query.
* **Seasonalities from the span.** Daily only with at least two days of history, weekly only with
  at least two weeks: a seasonality seen once cannot be told apart from a trend. The daily shape
  gets as many Fourier terms as its buckets can show, up to 24 (:func:`daily_order`): a working
  day switches on within an hour, which a handful of sines rounds off.
* **Zero-heavy series** (floored at 0 and at 0 at least half the time: an often empty queue, rare
  events) are two fits, how likely a bucket is non-zero and how large it is then, and the point
  forecast is that mixture's median (:func:`_hurdle`) — 0 where the series is usually 0, not a
  least-squares curve running at a fraction of the bursts all day.
* **Bounded growth.** A utilisation series (CPU, memory, a connection pool: ``*_percent``) gets
  logistic growth between 0 and 100 %, fitted as Prophet's linear trend on the logit of the
  (padded) share — a logistic curve in percent — because Prophet's own logistic trend cannot hold
  a flat level away from half the cap (its k·(t − m) must stay constant, which its priors on k and
  m resist): it bent flat low-CPU series towards 0 (NAB ec2_cpu_utilization_24ae8d, 24 h ahead:
  95 % MAPE against 29 % for the logit form) and is what projected a flat 26 % disk upwards. Fill
  levels (filesystem used %) are the exception: a disk does not slow down as it fills, so they get
  a linear trend clipped to 0–100 % (a logistic curve fitted to a 3 %/h climb from 55 % reaches
  95 % after about 23 hours instead of the 13 the disk takes). Counts and sizes get a linear trend
  floored at 0.
* **Autocorrelated residuals.** Prophet treats what its curve leaves as independent noise; minute
  data is not (a busy hour stays busy). The newest residual is carried forward with the residuals'
  lag-1 autocorrelation (:func:`ar1`), and the noise of the simulated futures is that AR(1)
  process — which is what turned Prophet from worse than "last value" into better at 1 h.
* **Intervals.** The model is fitted with ``uncertainty_samples=0`` and :func:`_trend_drift` draws
  the trend futures Prophet would — new changepoints at the historical rate with Laplace rate
  changes of the historical mean size — vectorised, plus the AR(1) noise: milliseconds, where
  Prophet's own sampler took tens of seconds for a month of five-minute logistic data and
  overshot the cap. Quantiles of :data:`SAMPLES` futures give the 80 % and 95 % intervals, and the
  share of futures past a threshold gives :func:`will_cross` its probability.
* **The better model serves.** :func:`served` backtests Prophet against seasonal-naive on the
  series' own last horizons (:func:`choose`) and serves seasonal-naive where it wins, saying so.
* **A constant series** (every value equal) is its own forecast with a zero-width interval;
  Prophet would divide by a zero spread.

Pure numpy/polars/pandas over arrays (pandas only at the Prophet edge); may import core.query
(:func:`fit_query`), core.config and core.model, never the store directly or streamlit.

Longer than most modules: the fit, its interval sampler, the crossing question and the
baselines that decide which model serves belong together.
"""

from __future__ import annotations

import logging
import math
import time
import warnings
from dataclasses import dataclass, field, replace
from statistics import NormalDist
from typing import Any, Literal

import numpy as np
import polars as pl

from core.config import Settings
from core.query import series

# cmdstanpy logs every optimisation at INFO and Prophet logs "Importing plotly failed" at
# import: a background job fitting dozens of series a minute would drown the server log.
# cmdstanpy resets its level and adds a handler of its own unless its logger already has one.
for _name in ("cmdstanpy", "prophet", "prophet.plot"):
    logging.getLogger(_name).setLevel(logging.CRITICAL)
    logging.getLogger(_name).addHandler(logging.NullHandler())

log = logging.getLogger(__name__)

MINUTE_MS = 60_000
HOUR_MS = 60 * MINUTE_MS
DAY_MS = 24 * HOUR_MS
MIN_HISTORY_S = 3600.0  # never forecast from less than an hour, whatever the horizon
HISTORY_RATIO = 4.0  # history must cover at least horizon / HISTORY_RATIO
MIN_POINTS = 12  # fewer buckets than this cannot separate a trend from noise
MAX_POINTS = 4_100  # history buckets per fit at most: a week of five-minute buckets is 2,016
SAMPLES = 400  # simulated futures per fit: quantiles to about ±2 percentage points of coverage
TIER_STEPS_MS = (MINUTE_MS, 5 * MINUTE_MS, HOUR_MS)  # the rollup tiers a plan's step may land on
DAILY_ORDER_MAX = 24  # daily Fourier terms at most (daily_order): the daily shape at half-hour resolution
WEEKLY_ORDER = 5
CHANGEPOINT_PRIOR = 0.05  # Prophet's default: how freely the trend may bend
CHANGEPOINT_RANGE = 0.9  # changepoints over the first 90 % of history, so a late bend is still seen
ZERO_SHARE = 0.5  # a series floored at 0 with at least this share of zeros is fitted as occurrence × size
_NORMAL = NormalDist()
Growth = Literal["logistic", "linear"]
Status = Literal["ok", "insufficient", "error"]


@dataclass(frozen=True)
class Bounds:
    """Where a series can live and how it grows: logistic between ``lo`` and ``hi``, or linear clipped to them."""

    lo: float | None = None
    hi: float | None = None
    growth: Growth = "linear"

    def clip(self, values: np.ndarray) -> np.ndarray:
        return np.clip(values, -np.inf if self.lo is None else self.lo, np.inf if self.hi is None else self.hi)


PERCENT = Bounds(0.0, 100.0, "logistic")  # utilisation: saturates
FILL = Bounds(0.0, 100.0, "linear")  # fill level: keeps its pace until full
COUNT = Bounds(0.0, None)
FREE = Bounds(None, None)
FILL_METRICS = ("system_filesystem_used_percent", "system_filesystem_inodes_used_percent")


def bounds_for(name: str, values: np.ndarray | None = None) -> Bounds:
    """Fill levels 0–100 % linear; other ``*_percent`` logistic 0–100 %; the rest floored at 0 unless negative."""
    if name in FILL_METRICS:
        return FILL
    if name.endswith("_percent"):
        return PERCENT
    if values is not None and len(values) and float(np.nanmin(values)) < 0:
        return FREE
    return COUNT


@dataclass(frozen=True)
class Plan:
    """How a horizon is fitted: bucket width and how much history to read."""

    horizon_s: float
    step_ms: int
    history_s: float

    @property
    def min_history_s(self) -> float:
        return max(MIN_HISTORY_S, self.horizon_s / HISTORY_RATIO)


def plan_for(horizon_s: float) -> Plan:
    """About 288 buckets ahead at a rollup tier's width, and history of seven horizons between 2 and 90 days.

    The step is the widest tier no wider than horizon / 288, made coarser while the history would
    exceed :data:`MAX_POINTS` buckets (a fit's cost grows with them): 1 h → 1-minute buckets, 2 days
    back; 24 h → 5-minute, 7 days (the week BENCH.md's fit-time target is set on); 7 d → hourly,
    49 days; 30 d → hourly, 90 days.
    """
    history = min(max(7 * horizon_s, 2 * 86_400.0), 90 * 86_400.0)
    wanted = horizon_s * 1000 / 288
    fits = [s for s in TIER_STEPS_MS if s <= wanted] or [TIER_STEPS_MS[0]]
    step = next(
        (s for s in TIER_STEPS_MS[TIER_STEPS_MS.index(fits[-1]) :] if history * 1000 / s <= MAX_POINTS), HOUR_MS
    )
    return Plan(horizon_s, step, history)


def hours(seconds: float) -> str:
    """``6``, ``0.3``, ``180``: hours without trailing zeros, one decimal below ten."""
    value = seconds / 3600
    return f"{value:.1f}".rstrip("0").rstrip(".") if value < 10 else f"{value:.0f}"


@dataclass(frozen=True)
class Forecast:
    """One fitted series: the future buckets with their intervals, or why there are none.

    ``ts`` are bucket starts in epoch ms after the last input bucket; ``q`` holds the simulated
    futures' quantiles (keys 0.025, 0.1, 0.5, 0.9, 0.975) and ``yhat`` the model's point forecast.
    ``paths`` (not stored) keeps the simulated futures for crossing probabilities.
    """

    status: Status
    message: str = ""
    model: str = ""
    growth: str = ""
    seasonalities: tuple[str, ...] = ()
    step_ms: int = 0
    horizon_s: float = 0.0
    first_ms: int | None = None  # first input bucket
    last_ms: int | None = None  # last input bucket: a refit is due once a newer one exists
    points: int = 0
    fit_s: float = 0.0
    ts: np.ndarray = field(default_factory=lambda: np.zeros(0, dtype=np.int64))
    yhat: np.ndarray = field(default_factory=lambda: np.zeros(0))
    q: dict[float, np.ndarray] = field(default_factory=dict)
    paths: np.ndarray | None = field(default=None, repr=False, compare=False)
    backtest: dict[str, float] = field(default_factory=dict)  # candidate model → MAE on this series' own history

    @property
    def ok(self) -> bool:
        return self.status == "ok"

    def frame(self) -> pl.DataFrame:
        """ts (Datetime), yhat, lo95, lo80, hi80, hi95 — what charts and the store take."""
        if not self.ok:
            return pl.DataFrame(schema=FRAME_SCHEMA)
        return pl.DataFrame(
            {
                "ts": pl.Series(self.ts, dtype=pl.Int64).cast(pl.Datetime("ms", "UTC")),
                "yhat": self.yhat,
                "lo95": self.q[0.025],
                "lo80": self.q[0.1],
                "hi80": self.q[0.9],
                "hi95": self.q[0.975],
            }
        )

    def at(self, ts_ms: int) -> float | None:
        """The point forecast at (the bucket holding) ``ts_ms``; None outside the forecast."""
        if not self.ok or not len(self.ts) or ts_ms < self.ts[0] or ts_ms >= self.ts[-1] + self.step_ms:
            return None
        return float(self.yhat[int(np.searchsorted(self.ts, ts_ms, "right")) - 1])

    def to_json(self) -> dict[str, Any]:
        """Plain data for the store (paths are not kept; crossings are computed before storing)."""
        out: dict[str, Any] = {
            "status": self.status,
            "message": self.message,
            "model": self.model,
            "growth": self.growth,
            "seasonalities": list(self.seasonalities),
            "step_ms": self.step_ms,
            "horizon_s": self.horizon_s,
            "first_ms": self.first_ms,
            "last_ms": self.last_ms,
            "points": self.points,
            "fit_s": round(self.fit_s, 4),
            "backtest": {k: float(f"{v:.6g}") for k, v in self.backtest.items()},
        }
        if self.ok:
            out["ts"] = self.ts.tolist()
            out["yhat"] = _rounded(self.yhat)
            out["q"] = {str(k): _rounded(v) for k, v in self.q.items()}
        return out

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Forecast:
        """The inverse of :meth:`to_json` (without paths)."""
        return cls(
            status=data["status"],
            message=data.get("message", ""),
            model=data.get("model", ""),
            growth=data.get("growth", ""),
            seasonalities=tuple(data.get("seasonalities", ())),
            step_ms=int(data.get("step_ms", 0)),
            horizon_s=float(data.get("horizon_s", 0.0)),
            first_ms=data.get("first_ms"),
            last_ms=data.get("last_ms"),
            points=int(data.get("points", 0)),
            fit_s=float(data.get("fit_s", 0.0)),
            backtest={k: float(v) for k, v in data.get("backtest", {}).items()},
            ts=np.asarray(data.get("ts", []), dtype=np.int64),
            yhat=np.asarray(data.get("yhat", []), dtype=np.float64),
            q={float(k): np.asarray(v, dtype=np.float64) for k, v in data.get("q", {}).items()},
        )


FRAME_SCHEMA = pl.Schema(
    {
        "ts": pl.Datetime("ms", "UTC"),
        "yhat": pl.Float64(),
        "lo95": pl.Float64(),
        "lo80": pl.Float64(),
        "hi80": pl.Float64(),
        "hi95": pl.Float64(),
    }
)
QUANTILES = (0.025, 0.1, 0.5, 0.9, 0.975)


def _rounded(values: np.ndarray) -> list[float]:
    """Six significant digits: the store keeps a month of hourly points per forecast, not noise digits."""
    return [float(f"{v:.6g}") for v in values]


def insufficient(required_s: float, have_s: float, points: int = 0) -> Forecast:
    """The "too little data" result, with the numbers a person needs to know when it will change."""
    message = f"need at least {hours(required_s)} hours of data (have {hours(max(have_s, 0.0))})"
    return Forecast("insufficient", message, points=points)


def _clean(ts_ms: np.ndarray, values: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    ts, ys = np.asarray(ts_ms, dtype=np.int64), np.asarray(values, dtype=np.float64)
    ok = np.isfinite(ys)
    order = np.argsort(ts[ok], kind="stable")
    return ts[ok][order], ys[ok][order]


def coverage_s(ts: np.ndarray, step_ms: int) -> float:
    """How much time ``ts`` (bucket starts) covers: first bucket start to last bucket end."""
    return 0.0 if not len(ts) else float(ts[-1] - ts[0] + step_ms) / 1000


def forecast(
    ts_ms: np.ndarray,
    values: np.ndarray,
    horizon_s: float,
    *,
    bounds: Bounds = FREE,
    step_ms: int | None = None,
    seed: int = 0,
    keep_paths: bool = False,
) -> Forecast:
    """Fit ``values`` at ``ts_ms`` (evenly spaced buckets, oldest first) and project ``horizon_s`` ahead.

    ``step_ms`` defaults to the median spacing. Returns an ``insufficient`` Forecast below the
    plan's minimum history, a constant one for a constant series, else Prophet's.
    """
    ts, ys = _clean(ts_ms, values)
    step = int(step_ms or (np.median(np.diff(ts)) if len(ts) > 1 else MINUTE_MS))
    plan = Plan(horizon_s, step, 0.0)
    have = coverage_s(ts, step)
    empty = Forecast("insufficient", step_ms=step, horizon_s=horizon_s, points=len(ys))
    if have + step / 1000 < plan.min_history_s:
        return replace(insufficient(plan.min_history_s, have, len(ys)), step_ms=step, horizon_s=horizon_s)
    if len(ys) < MIN_POINTS:
        return replace(empty, message=f"need at least {MIN_POINTS} values (have {len(ys)})")
    base = replace(empty, status="ok", first_ms=int(ts[0]), last_ms=int(ts[-1]))
    future = ts[-1] + step * np.arange(1, max(math.ceil(horizon_s * 1000 / step), 1) + 1, dtype=np.int64)
    started = time.perf_counter()
    ys = bounds.clip(ys)
    if float(np.ptp(ys)) <= 1e-9 * max(1.0, abs(float(ys[0]))):
        flat = np.full(len(future), float(ys[-1]))
        return replace(
            base,
            message="constant series",
            model="constant",
            growth="flat",
            ts=future,
            yhat=flat,
            q=dict.fromkeys(QUANTILES, flat),
            paths=flat[None, :] if keep_paths else None,
            fit_s=time.perf_counter() - started,
        )
    try:
        yhat, paths, seasonalities = _prophet(ts, ys, future, have, horizon_s, bounds, seed)
    except Exception as error:  # noqa: BLE001 - Stan can fail on pathological input; the caller shows why
        log.warning("forecast fit failed: %s", error)
        return replace(base, status="error", message=f"the model could not be fitted: {error}")
    quantiles = np.quantile(paths, QUANTILES, axis=0)
    return replace(
        base,
        model="prophet",
        growth=bounds.growth,
        seasonalities=seasonalities,
        ts=future,
        yhat=yhat,
        q={k: quantiles[i] for i, k in enumerate(QUANTILES)},
        paths=paths if keep_paths else None,
        fit_s=time.perf_counter() - started,
    )


def seasonalities_for(span_s: float, step_ms: int) -> tuple[str, ...]:
    """Daily with two days of sub-daily buckets, weekly with two weeks: each seen at least twice."""
    out = []
    if span_s >= 2 * 86_400 and step_ms < 6 * HOUR_MS:
        out.append("daily")
    if span_s >= 14 * 86_400:
        out.append("weekly")
    return tuple(out)


LOGIT_PAD = 0.01  # the logit is taken of a share padded by 1 % of the range on either side (see _to_model)


def _to_model(ys: np.ndarray, bounds: Bounds) -> np.ndarray:
    """Values in the space the model is fitted in: for a logistic series, the logit of its padded share.

    The share of the range is padded, (y − lo + pad) ÷ (range + 2·pad), so that a value at 0 % or
    100 % maps to ±4.6 rather than to ±∞ (or to ±9 with a tiny epsilon, which turns every idle
    or saturated sample into an outlier that drags the fit).
    """
    if bounds.growth != "logistic":
        return ys
    assert bounds.lo is not None and bounds.hi is not None
    pad = LOGIT_PAD * (bounds.hi - bounds.lo)
    share = (ys - bounds.lo + pad) / (bounds.hi - bounds.lo + 2 * pad)
    return np.log(share / (1 - share))


def _from_model(zs: np.ndarray, bounds: Bounds) -> np.ndarray:
    if bounds.growth != "logistic":
        return bounds.clip(zs)
    assert bounds.lo is not None and bounds.hi is not None
    pad = LOGIT_PAD * (bounds.hi - bounds.lo)
    return bounds.clip(bounds.lo - pad + (bounds.hi - bounds.lo + 2 * pad) / (1 + np.exp(-zs)))


def daily_order(step_ms: int) -> int:
    """Fourier terms of the daily seasonality: as many as the buckets can show, up to :data:`DAILY_ORDER_MAX`.

    A daily load shape is far from a sine — a working day switches on and off within an hour — and a
    Fourier series of order N draws edges about a day ÷ 2N wide, ringing around them. The buckets bound
    what can be drawn (N ≤ buckets a day ÷ 2: hourly buckets, 12); the cap 24 draws the daily shape at
    half-hour resolution, and it is set by the fit's cost, not by any series' error: a week of 5-minute
    buckets takes about 0.27 s of CPU at 24 (0.18 s at 10); on a loaded 2-core machine 48 took about 1.6
    times as long as 24 and the full 144 about 2 s, past the 1.5 s budget.
    """
    return int(max(1, min(DAILY_ORDER_MAX, (DAY_MS // max(step_ms, 1)) // 2)))


def zero_heavy(ys: np.ndarray, bounds: Bounds) -> bool:
    """A series floored at 0 that sits at 0 at least half the time (:data:`ZERO_SHARE`): zero is its median.

    A queue that is empty most of the day or a count of rare events: a least-squares curve through
    it runs at a fraction of the bursts all day, which is wrong at every empty bucket and at every
    burst (and for a count it is a value the series never takes). Such a series is fitted as two
    parts (:func:`_hurdle`).
    """
    return bounds.lo == 0.0 and len(ys) >= MIN_POINTS and float(np.mean(ys <= 0.0)) >= ZERO_SHARE


def _fit(ts: np.ndarray, zs: np.ndarray, future: np.ndarray, seasonal: tuple[str, ...], n_changepoints: int) -> Any:
    """A fitted Prophet model of ``zs`` at ``ts`` with its in-sample and future curves: (model, inside, ahead)."""
    import pandas as pd
    from prophet import Prophet  # imported on first fit: it loads Stan and pandas, which pages never need

    step_ms = int(future[1] - future[0]) if len(future) > 1 else int(ts[-1] - ts[-2])
    model = Prophet(
        growth="linear",
        changepoint_prior_scale=CHANGEPOINT_PRIOR,
        changepoint_range=CHANGEPOINT_RANGE,
        n_changepoints=n_changepoints,
        yearly_seasonality=False,
        weekly_seasonality=False,
        daily_seasonality=False,
        uncertainty_samples=0,
    )
    if "daily" in seasonal:
        model.add_seasonality("daily", period=1, fourier_order=daily_order(step_ms))
    if "weekly" in seasonal:
        model.add_seasonality("weekly", period=7, fourier_order=WEEKLY_ORDER)
    history = pd.DataFrame({"ds": pd.to_datetime(ts, unit="ms"), "y": zs})
    ahead = pd.DataFrame({"ds": pd.to_datetime(future, unit="ms")})
    # a steep trend's exp() overflows in Prophet's own code and Prophet calls pandas APIs pandas now deprecates:
    # neither concerns the fit, and a job fitting dozens of series a minute would flood the log with them
    with np.errstate(over="ignore"), warnings.catch_warnings():
        warnings.simplefilter("ignore")
        model.fit(history)
        inside = model.predict(history.drop(columns="y"))["yhat"].to_numpy(dtype=np.float64)
        predicted = model.predict(ahead)["yhat"].to_numpy(dtype=np.float64)
    return model, inside, predicted


def _prophet(
    ts: np.ndarray, ys: np.ndarray, future: np.ndarray, span_s: float, horizon_s: float, bounds: Bounds, seed: int
) -> tuple[np.ndarray, np.ndarray, tuple[str, ...]]:
    """(point forecast, simulated futures [samples × steps], seasonalities) from a Prophet fit.

    A bounded series is fitted as a linear trend on the logit of its share of the range, which
    is a logistic curve between the bounds in the value's own units (see the module docstring
    for why not Prophet's own logistic trend). A zero-heavy series goes to :func:`_hurdle`.
    """
    step_ms = int(future[1] - future[0]) if len(future) > 1 else int(ts[-1] - ts[-2])
    seasonal = seasonalities_for(span_s, step_ms)
    if zero_heavy(ys, bounds):
        return (*_hurdle(ts, ys, future, span_s, horizon_s, bounds, seasonal, seed), seasonal)
    zs = _to_model(ys, bounds)
    model, inside, zhat = _fit(ts, zs, future, seasonal, changepoints(len(ys), span_s, horizon_s))
    residuals = zs - inside
    rho, innovation = ar1(residuals)
    carried = residuals[-1] * rho ** np.arange(1, len(future) + 1)
    rng = np.random.default_rng(seed)
    if model.changepoints_t is not None and len(model.changepoints_t):
        drift = _trend_drift(model, future, rng)
    else:
        drift = _slope_drift(ts, residuals, rho, future, rng)
    paths = zhat + carried + drift + _ar_noise(0.0, rho, innovation, len(future), rng)
    return _from_model(zhat + carried, bounds), _from_model(paths, bounds), seasonal


def _hurdle(
    ts: np.ndarray,
    ys: np.ndarray,
    future: np.ndarray,
    span_s: float,
    horizon_s: float,
    bounds: Bounds,
    seasonal: tuple[str, ...],
    seed: int,
) -> tuple[np.ndarray, np.ndarray]:
    """A zero-heavy series as two Prophet fits: how likely a bucket is above 0, and how large it is when it is.

    Occurrence: the 0/1 indicator fitted like any series (its newest residual carried forward with
    its lag-1 autocorrelation, since a busy queue stays busy for a while), clipped to a probability
    p. Size: the logarithm of the non-zero values, fitted on those buckets alone, log-normal around
    its curve with the residuals' spread; when the newest bucket is non-zero its size residual is
    carried forward too (lag-1 autocorrelation of the non-zero buckets' residuals), so a backlog
    drains from its length now. A bucket's value is 0 with probability 1 − p, else a size; the
    point forecast is that mixture's median — 0 while p ≤ ½, else the size quantile 1 − ½ ÷ p —
    the value absolute errors are smallest around, and a value the series takes.
    Simulated futures draw from the same mixture, so intervals and crossing probabilities follow.
    """
    n_changepoints = changepoints(len(ys), span_s, horizon_s)
    occurs = (ys > 0.0).astype(np.float64)
    _, inside, curve = _fit(ts, occurs, future, seasonal, n_changepoints)
    residuals = occurs - inside
    rho, _ = ar1(residuals)
    p = np.clip(curve + residuals[-1] * rho ** np.arange(1, len(future) + 1), 0.0, 1.0)
    positive = ys > 0.0
    logs = np.log(ys[positive])
    if positive.sum() >= MIN_POINTS and float(np.ptp(logs)) > 0.0:
        _, size_inside, size_curve = _fit(ts[positive], logs, future, seasonal, 0)
        size_residuals = logs - size_inside
        spread = float(np.std(size_residuals))
        if ys[-1] > 0.0:  # a backlog now: its size is carried forward the same way, a long queue stays long
            size_rho, _ = ar1(size_residuals)
            size_curve = size_curve + size_residuals[-1] * size_rho ** np.arange(1, len(future) + 1)
    else:  # too few bursts to fit a curve through: their mean and spread
        size_curve, spread = np.full(len(future), float(logs.mean())), float(np.std(logs))
    rng = np.random.default_rng(seed)
    draws = np.where(
        rng.random((SAMPLES, len(future))) < p,
        np.exp(size_curve + spread * rng.normal(0.0, 1.0, (SAMPLES, len(future)))),
        0.0,
    )
    share = np.clip(1.0 - 0.5 / np.maximum(p, 0.5), 1e-6, 1 - 1e-6)
    z = np.array([_NORMAL.inv_cdf(float(v)) for v in share])
    median = np.where(p > 0.5, np.exp(size_curve + spread * z), 0.0)
    return bounds.clip(median), bounds.clip(draws)


def ar1(residuals: np.ndarray) -> tuple[float, float]:
    """(lag-1 autocorrelation, innovation sigma) of the in-sample residuals.

    Prophet treats what its trend and seasonalities leave as independent noise; minute and
    five-minute data is anything but — a busy hour stays busy — so the newest residual says where
    the next hours sit relative to the curve. ρ is clipped to [0, 0.999]: a negative value is
    noise on a small sample, and 1 would carry today's deviation forever.
    """
    if len(residuals) < 3 or float(np.std(residuals)) == 0.0:
        return 0.0, float(np.std(residuals))
    centred = residuals - residuals.mean()
    rho = float(np.clip((centred[1:] * centred[:-1]).sum() / (centred**2).sum(), 0.0, 0.999))
    innovation = float(np.std(residuals[1:] - rho * residuals[:-1]))
    return rho, innovation


def _ar_noise(last: float, rho: float, sigma: float, steps: int, rng: np.random.Generator) -> np.ndarray:
    """AR(1) paths of the residual starting from the newest one: e_h = ρ·e_{h−1} + σ·ε_h."""
    shocks = rng.normal(0.0, sigma, (SAMPLES, steps))
    out = np.empty_like(shocks)
    previous = np.full(SAMPLES, last)
    for h in range(steps):  # a few hundred steps of a vector operation: cheaper than building the filter
        previous = rho * previous + shocks[:, h]
        out[:, h] = previous
    return out


def changepoints(points: int, span_s: float, horizon_s: float) -> int:
    """Trend changepoints for a fit: none when the history is shorter than the horizon, else up to 25.

    A bend fitted to the last stretch of a short window is indistinguishable from noise once it is
    extrapolated four times its length: on an hour of pure noise projected four hours ahead, a
    changepoint in the last minutes put one fit in thirty at "95 % likely past a threshold 10 σ away".
    Without changepoints the trend is one straight line over the window (what a least-squares fit
    gives), and :func:`_slope_drift` carries its uncertainty instead.
    """
    return 0 if span_s < horizon_s else int(min(25, max(points // 4, 1)))


def _slope_drift(
    ts: np.ndarray, residuals: np.ndarray, rho: float, future: np.ndarray, rng: np.random.Generator
) -> np.ndarray:
    """Futures of a straight trend's own uncertainty (samples × steps): a slope error pivoting at the history's
    centre, with the standard error of a least-squares slope, its sample size cut to the residuals'
    effective count n·(1 − ρ)/(1 + ρ) (autocorrelated points carry less information), plus a level error."""
    hours_ = (ts - ts.mean()) / HOUR_MS
    spread = float((hours_**2).sum())
    n_eff = max(len(ts) * (1 - rho) / (1 + rho), 2.0)
    sigma = float(np.std(residuals))
    slope_se = sigma / np.sqrt(max(spread, 1e-12)) * np.sqrt(len(ts) / n_eff)
    level_se = sigma / np.sqrt(n_eff)
    ahead = (future - ts.mean()) / HOUR_MS
    return rng.normal(0.0, level_se, (SAMPLES, 1)) + rng.normal(0.0, slope_se, (SAMPLES, 1)) * ahead[None, :]


def _trend_drift(model: Any, future: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Simulated changes of the trend (samples × steps, model units) as Prophet draws them, vectorised.

    At each future step a new changepoint occurs with probability (historical changepoints per
    unit of scaled time × step), its rate change Laplace(0, mean |historical change|); the changes
    accumulate into a slope and the slope into the level.
    """
    deltas = np.asarray(model.params["delta"], dtype=np.float64).ravel()
    t_scale_ms = model.t_scale.total_seconds() * 1000
    dt = (float(future[1] - future[0]) if len(future) > 1 else 1.0) / t_scale_ms
    steps = len(future)
    likelihood = len(model.changepoints_t) * dt
    mean_delta = float(np.mean(np.abs(deltas))) + 1e-8 if len(deltas) else 1e-8
    occurs = rng.random((SAMPLES, steps)) < likelihood
    shifts = np.where(occurs, rng.laplace(0.0, mean_delta, (SAMPLES, steps)), 0.0)
    return np.cumsum(np.cumsum(shifts, axis=1), axis=1) * dt * float(model.y_scale)


# --- the crossing question ---------------------------------------------------------------------


@dataclass(frozen=True)
class Crossing:
    """Will the series pass ``threshold`` within the horizon, when, and how likely.

    ``probability``: the largest share of simulated futures past the threshold at any one time
    within the horizon (a lower bound on the chance of passing it at some time). ``when_ms``:
    first time the point forecast is past it; ``earliest_ms`` / ``latest_ms``: first time the 80 %
    interval's near / far bound is (the interval of the crossing time). None: not within the
    horizon. ``projected``: the point forecast at the horizon's end.
    """

    status: Status
    message: str = ""
    probability: float = 0.0
    when_ms: int | None = None
    earliest_ms: int | None = None
    latest_ms: int | None = None
    projected: float | None = None
    now_past: bool = False  # the newest value is already past the threshold

    @property
    def ok(self) -> bool:
        return self.status == "ok"


def _past(values: np.ndarray, threshold: float, op: str) -> np.ndarray:
    return {">": values > threshold, ">=": values >= threshold, "<": values < threshold, "<=": values <= threshold}[op]


def _first(ts: np.ndarray, mask: np.ndarray) -> int | None:
    hit = np.flatnonzero(mask)
    return int(ts[hit[0]]) if len(hit) else None


def crossing(fc: Forecast, threshold: float, op: str = ">", until_ms: int | None = None) -> Crossing:
    """The :class:`Crossing` of a fitted forecast (paths kept, or stored quantiles) up to ``until_ms``."""
    if not fc.ok:
        return Crossing(fc.status, fc.message)
    keep = np.ones(len(fc.ts), dtype=bool) if until_ms is None else fc.ts <= until_ms
    ts = fc.ts[keep]
    if not len(ts):
        return Crossing("ok", projected=None)
    upper, lower = (0.9, 0.1) if op in (">", ">=") else (0.1, 0.9)
    if fc.paths is not None:
        probability = float(_past(fc.paths[:, keep], threshold, op).mean(axis=0).max())
    else:  # from stored quantiles: the largest listed tail share the threshold lies beyond
        tails = [(q if op in ("<", "<=") else 1 - q, fc.q[q][keep]) for q in QUANTILES]
        probability = max((share for share, v in tails if _past(v, threshold, op).any()), default=0.0)
    return Crossing(
        "ok",
        probability=probability,
        when_ms=_first(ts, _past(fc.yhat[keep], threshold, op)),
        earliest_ms=_first(ts, _past(fc.q[upper][keep], threshold, op)),
        latest_ms=_first(ts, _past(fc.q[lower][keep], threshold, op)),
        projected=float(fc.yhat[keep][-1]),
    )


def will_cross(
    ts_ms: np.ndarray,
    values: np.ndarray,
    threshold: float,
    horizon_s: float,
    *,
    op: str = ">",
    bounds: Bounds = FREE,
    now_ms: int | None = None,
    step_ms: int | None = None,
) -> Crossing:
    """Fit ``values`` and say whether, when and how likely they pass ``threshold`` within ``horizon_s`` of now.

    The series is bucketed at :func:`plan_for`'s step when it is finer (a 24 h question does not
    need minute detail, and a fit on 5-minute buckets is five times cheaper). Below the plan's
    minimum history the answer is ``insufficient`` with the message, never a projection.
    """
    ts, ys = _clean(ts_ms, values)
    plan = plan_for(horizon_s)
    ts, ys, step = resample(ts, ys, max(step_ms or 0, plan.step_ms))
    fitted = forecast(ts, ys, horizon_s, bounds=bounds, step_ms=step, keep_paths=True)
    if not fitted.ok:
        return Crossing(fitted.status, fitted.message)
    now = int(ts[-1] + step) if now_ms is None else now_ms
    found = crossing(fitted, threshold, op, now + int(horizon_s * 1000))
    return Crossing(
        found.status,
        found.message,
        found.probability,
        found.when_ms,
        found.earliest_ms,
        found.latest_ms,
        found.projected,
        bool(_past(ys[-1:], threshold, op)[0]),
    )


def resample(ts: np.ndarray, ys: np.ndarray, step_ms: int) -> tuple[np.ndarray, np.ndarray, int]:
    """Mean per ``step_ms`` bucket (bucket starts aligned to the epoch) when the data is finer; else as is."""
    if len(ts) < 2 or float(np.median(np.diff(ts))) >= step_ms:
        return ts, ys, int(np.median(np.diff(ts))) if len(ts) > 1 else step_ms
    frame = (
        pl.DataFrame({"ts": ts, "value": ys})
        .with_columns(pl.col("ts") - pl.col("ts") % step_ms)
        .group_by("ts")
        .agg(pl.col("value").mean())
        .sort("ts")
    )
    return frame["ts"].to_numpy(), frame["value"].to_numpy(), step_ms


def complete(ts: np.ndarray, ys: np.ndarray, step_ms: int, now_ms: int) -> tuple[np.ndarray, np.ndarray]:
    """Only buckets that have ended by ``now_ms``: the newest, still filling, would change every minute."""
    keep = ts + step_ms <= now_ms
    return ts[keep], ys[keep]


# --- reading from the store ----------------------------------------------------------------------


@dataclass(frozen=True)
class Fitted:
    """One series of a selector with its forecast."""

    series: str
    labels: str  # canonical JSON
    forecast: Forecast
    history: pl.DataFrame  # ts, value: the buckets the model saw


def fit_query(
    engine: Any,
    selector: str,
    horizon_s: float,
    now_ms: int,
    settings: Settings,
    *,
    bounds: Bounds | None = None,
    name: str = "",
    serve: bool = False,
) -> list[Fitted]:
    """Read every series of ``selector`` at the plan's tier and history (core.query) and fit each.

    Only complete buckets are fitted, so the result is the same until the next bucket closes. With
    ``serve`` the better of Prophet and seasonal-naive serves each series (:func:`served`).
    """
    plan = plan_for(horizon_s)
    start = now_ms - int(plan.history_s * 1000)
    frame = series(engine, selector, start, now_ms + 1, step_ms=plan.step_ms, settings=settings, now_ms=now_ms)
    out = []
    for (label_text, display), part in frame.sort("ts").group_by(["labels", "series"], maintain_order=True):
        ts = part["ts"].dt.epoch("ms").to_numpy()
        ys = part["value"].to_numpy().astype(np.float64)
        ts, ys = complete(ts, ys, plan.step_ms, now_ms)
        chosen = bounds or bounds_for(name or selector.split("{")[0], ys)
        fit = served if serve else forecast
        fitted = fit(ts, ys, horizon_s, bounds=chosen, step_ms=plan.step_ms, keep_paths=True)
        history = pl.DataFrame({"ts": ts, "value": ys}, schema={"ts": pl.Int64, "value": pl.Float64})
        out.append(Fitted(str(display), str(label_text), fitted, history))
    return out


# --- the served model: Prophet, or seasonal-naive where this series' own history says so --------


def seasonal_naive(ts: np.ndarray, ys: np.ndarray, horizon_s: float, period_ms: int = DAY_MS) -> np.ndarray:
    """The value one ``period`` before each future bucket (repeating the last period as far as needed)."""
    step = int(np.median(np.diff(ts))) if len(ts) > 1 else MINUTE_MS
    per = max(round(period_ms / step), 1)
    n = max(math.ceil(horizon_s * 1000 / step), 1)
    if len(ys) < per:
        return np.full(n, float(ys[-1]))
    return np.resize(ys[-per:], n)


def last_value(ys: np.ndarray, horizon_s: float, step_ms: int) -> np.ndarray:
    """The newest value, held."""
    return np.full(max(math.ceil(horizon_s * 1000 / step_ms), 1), float(ys[-1]))


VALIDATION_ORIGINS = 2  # held-out horizons at the end of the history that decide which model serves


@dataclass(frozen=True)
class Choice:
    """Which model a series is served with, and the errors that decided it."""

    model: str  # "prophet" or "seasonal_naive"
    mae: dict[str, float]  # candidate → mean absolute error over the held-out horizons
    residuals: np.ndarray  # seasonal-naive's held-out errors (actual − forecast), for its interval


def choose(ts: np.ndarray, ys: np.ndarray, horizon_s: float, *, bounds: Bounds, step_ms: int) -> Choice:
    """A rolling backtest on the series' own history: Prophet against seasonal-naive (same time yesterday).

    The last one and two horizons of history are held out in turn; each model is fitted on what
    precedes them and scored on them. Prophet serves unless seasonal-naive's mean absolute error is
    lower — a daily load shape repeated exactly often beats a smooth Fourier curve (BENCH.md's
    note), and a person reading the Capacity page should get the better of the two, told which.
    Without a day plus the minimum history before the held-out part, Prophet serves untested.
    """
    h = int(horizon_s * 1000)
    need = max(Plan(horizon_s, step_ms, 0).min_history_s, 86_400.0)
    errors: dict[str, list[float]] = {"prophet": [], "seasonal_naive": []}
    residuals: list[np.ndarray] = []
    for k in range(1, VALIDATION_ORIGINS + 1):
        cut = int(ts[-1]) - k * h
        train = ts <= cut
        test = (ts > cut) & (ts <= cut + h)
        if coverage_s(ts[train], step_ms) < need or not test.any():
            continue
        fitted = forecast(ts[train], ys[train], horizon_s, bounds=bounds, step_ms=step_ms)
        if not fitted.ok:
            continue
        actual = ys[test]
        at = np.clip(np.searchsorted(fitted.ts, ts[test]), 0, len(fitted.ts) - 1)  # forecast bucket of each actual
        naive = seasonal_naive(ts[train], ys[train], horizon_s)
        naive_at = naive[np.clip(at, 0, len(naive) - 1)]
        errors["prophet"].append(float(np.abs(actual - fitted.yhat[at]).mean()))
        errors["seasonal_naive"].append(float(np.abs(actual - naive_at).mean()))
        residuals.append(actual - naive_at)
    if not errors["prophet"]:
        return Choice("prophet", {}, np.zeros(0))
    mae = {m: float(np.mean(v)) for m, v in errors.items()}
    return Choice(
        "seasonal_naive" if mae["seasonal_naive"] < mae["prophet"] else "prophet", mae, np.concatenate(residuals)
    )


def served(
    ts_ms: np.ndarray,
    values: np.ndarray,
    horizon_s: float,
    *,
    bounds: Bounds = FREE,
    step_ms: int | None = None,
    keep_paths: bool = False,
) -> Forecast:
    """The forecast a page shows: :func:`forecast`, replaced by seasonal-naive where :func:`choose` says so.

    A served seasonal-naive forecast takes its intervals from its own held-out errors (their
    empirical quantiles around the repeated day) and its simulated futures from resampling them.
    """
    ts, ys = _clean(ts_ms, values)
    fitted = forecast(ts, ys, horizon_s, bounds=bounds, step_ms=step_ms, keep_paths=keep_paths)
    if not fitted.ok or fitted.model != "prophet":
        return fitted
    started = time.perf_counter()
    choice = choose(ts, ys, horizon_s, bounds=bounds, step_ms=fitted.step_ms)
    spent = fitted.fit_s + time.perf_counter() - started
    if choice.model == "prophet" or not len(choice.residuals):
        return replace(fitted, backtest=choice.mae, fit_s=spent)
    naive = seasonal_naive(ts, bounds.clip(ys), horizon_s)[: len(fitted.ts)]
    draws = np.random.default_rng(0).choice(choice.residuals, (SAMPLES, len(naive)))
    paths = bounds.clip(naive + draws)
    quantiles = bounds.clip(naive + np.quantile(choice.residuals, QUANTILES)[:, None])
    return replace(
        fitted,
        model="seasonal_naive",
        growth="",
        seasonalities=("daily",),
        yhat=naive,
        q={k: quantiles[i] for i, k in enumerate(QUANTILES)},
        paths=paths if keep_paths else None,
        backtest=choice.mae,
        fit_s=spent,
    )
