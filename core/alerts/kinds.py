"""The registry of rule kinds: threshold, anomaly and forecast.

A kind validates what a rule needs and turns the rule's data (one frame of
``ts, labels, value`` rows) into one :class:`Observation` per label set: is the
condition true now, and is the value clear enough to resolve. :meth:`RuleKind.replay`
answers the same question at every point of a longer history (the Alerts page's 24 h
preview) with the same condition code. Adding a kind means adding one class here and
one entry in :data:`KINDS`; the editor lists this tuple.

Longer than most modules: the registry holds each kind (threshold, anomaly, forecast) with its
check, observe and replay side by side, so a kind is read in one place.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Protocol

import numpy as np
import polars as pl

from core.analytics.anomaly import Sensitivity, detector, plan_series
from core.analytics.forecast import Crossing, bounds_for, plan_for, will_cross


@dataclass(frozen=True)
class Observation:
    """What one evaluation saw for one label set."""

    labels: dict[str, str]
    value: float | None
    active: bool  # the rule's condition holds now
    clear: bool  # the value is far enough on the good side to resolve (hysteresis)
    detail: dict[str, float] | None = None  # anomaly rules: expected band, observed value and score (see Anomaly)


class RuleParams(Protocol):
    """What a kind reads of a rule: core.alerts.rules.Rule has these, so kinds need not import it."""

    @property
    def selector(self) -> str: ...
    @property
    def source(self) -> str: ...
    @property
    def agg(self) -> str: ...
    @property
    def window(self) -> float: ...
    @property
    def op(self) -> str: ...
    @property
    def threshold(self) -> float | None: ...
    @property
    def hysteresis(self) -> float: ...
    @property
    def detector(self) -> str: ...
    @property
    def sensitivity(self) -> Sensitivity: ...
    @property
    def lookback(self) -> float: ...
    @property
    def horizon(self) -> float: ...
    @property
    def probability(self) -> float: ...


class RuleKind(Protocol):
    """One kind of rule."""

    name: str
    description: str

    def check(self, rule: RuleParams) -> None:
        """Raise ValueError naming what a rule of this kind lacks."""
        ...

    def lookback_s(self, rule: RuleParams) -> float:
        """How much history one evaluation reads."""
        ...

    def observe(self, frame: pl.DataFrame, rule: RuleParams, now_ms: int) -> list[Observation]:
        """One observation per label set in ``frame`` (columns ts, labels, value)."""
        ...

    def replay(self, frame: pl.DataFrame, rule: RuleParams, since_ms: int) -> pl.DataFrame:
        """The condition as an evaluation at each point from ``since_ms`` on would have seen it.

        ``frame``: ``ts, series, labels, value`` buckets, including the history before
        ``since_ms`` that those evaluations read. Returns ``series, ts, value, active,
        clear`` sorted by series and time (plus kind-specific columns).
        """
        ...


_WINDOW_AGG = {
    "avg": pl.col("value").mean(),
    "min": pl.col("value").min(),
    "max": pl.col("value").max(),
    "sum": pl.col("value").sum(),
    "count": pl.col("value").sum(),
    "last": pl.col("value").sort_by("ts").last(),
}


def compare(value: pl.Expr, op: str, threshold: float) -> pl.Expr:
    """``value op threshold`` as a polars expression."""
    return {
        ">": value > threshold,
        ">=": value >= threshold,
        "<": value < threshold,
        "<=": value <= threshold,
        "==": value == threshold,
        "!=": value != threshold,
    }[op]


def clear_expr(value: pl.Expr, op: str, threshold: float, hysteresis: float) -> pl.Expr:
    """True when the value has moved ``hysteresis`` past the threshold to the good side."""
    if op in (">", ">="):
        return value <= threshold - hysteresis if hysteresis else ~compare(value, op, threshold)
    if op in ("<", "<="):
        return value >= threshold + hysteresis if hysteresis else ~compare(value, op, threshold)
    return ~compare(value, op, threshold)


REPLAY_SCHEMA: dict[str, pl.DataType] = {
    "series": pl.String(),
    "ts": pl.Datetime("ms", "UTC"),
    "value": pl.Float64(),
    "active": pl.Boolean(),
    "clear": pl.Boolean(),
}
MINUTE_MS = 60_000


def _parts(frame: pl.DataFrame) -> list[tuple[str, pl.DataFrame, np.ndarray, np.ndarray]]:
    """Per series of a replay frame: (series, rows, epoch-ms times, values), oldest first."""
    out = []
    for (name,), part in frame.sort("series", "ts").group_by("series", maintain_order=True):
        out.append((str(name), part, part["ts"].dt.epoch("ms").to_numpy(), part["value"].to_numpy().astype(np.float64)))
    return out


def _replayed(rows: list[pl.DataFrame], extra: dict[str, pl.DataType]) -> pl.DataFrame:
    if not rows:
        return pl.DataFrame(schema=REPLAY_SCHEMA | extra)
    return pl.concat(rows).sort("series", "ts")


def _observations(frame: pl.DataFrame) -> list[Observation]:
    return [
        Observation(json.loads(row["labels"]), row["value"], bool(row["active"]), bool(row["clear"]))
        for row in frame.iter_rows(named=True)
    ]


class Threshold:
    """The window's aggregate compared with a fixed threshold."""

    name = "threshold"
    description = "Aggregate over the window compared with a threshold (queue_depth > 15 for 5m)."

    def check(self, rule: RuleParams) -> None:
        if rule.threshold is None:
            raise ValueError("a threshold rule needs a threshold")

    def lookback_s(self, rule: RuleParams) -> float:
        return rule.window

    def observe(self, frame: pl.DataFrame, rule: RuleParams, now_ms: int) -> list[Observation]:
        assert rule.threshold is not None
        since = now_ms - int(rule.window * 1000)
        per_series = (
            frame.filter(pl.col("ts").dt.epoch("ms") >= since)
            .group_by("labels")
            .agg(_WINDOW_AGG[rule.agg].alias("value"))
            .with_columns(
                active=compare(pl.col("value"), rule.op, rule.threshold),
                clear=clear_expr(pl.col("value"), rule.op, rule.threshold, rule.hysteresis),
            )
            .sort("labels")
        )
        return _observations(per_series)

    def replay(self, frame: pl.DataFrame, rule: RuleParams, since_ms: int) -> pl.DataFrame:
        assert rule.threshold is not None
        how = {
            "avg": pl.col("value").mean(),
            "min": pl.col("value").min(),
            "max": pl.col("value").max(),
            "sum": pl.col("value").sum(),
            "count": pl.col("value").sum(),
            "last": pl.col("value").last(),
        }[rule.agg]
        period = f"{max(int(rule.window * 1000), MINUTE_MS)}ms"
        return (
            frame.sort("series", "ts")
            .rolling("ts", period=period, group_by="series")
            .agg(how.alias("value"))
            .with_columns(
                active=compare(pl.col("value"), rule.op, rule.threshold),
                clear=clear_expr(pl.col("value"), rule.op, rule.threshold, rule.hysteresis),
            )
            .filter(pl.col("ts").dt.epoch("ms") >= since_ms)
        )


def anomaly_detail(
    scores: np.ndarray, values: np.ndarray, low: np.ndarray, high: np.ndarray, at: int
) -> dict[str, float]:
    """What an anomaly alert says about point ``at``: the expected band, the observed value and the score."""
    return {
        "expected_low": float(low[at]),
        "expected_high": float(high[at]),
        "observed": float(values[at]),
        "score": float(scores[at]),
    }


class Anomaly:
    """A registered detector flags the newest points of each series against its own history."""

    name = "anomaly"
    description = "Unusual for this series: rolling z-score, IQR, seasonal or auto detector with a sensitivity."

    def check(self, rule: RuleParams) -> None:
        detector(rule.detector)
        if rule.source != "series":
            raise ValueError("anomaly rules watch series, not events")
        if rule.lookback < rule.window * 4:
            raise ValueError("lookback must be at least four windows, so the detector can learn what is normal")

    def lookback_s(self, rule: RuleParams) -> float:
        return rule.lookback

    def observe(self, frame: pl.DataFrame, rule: RuleParams, now_ms: int) -> list[Observation]:
        """Score each series with durations converted by its own step; the condition: a recent point at the threshold.

        The detail names the most unusual point of the rule's window: the band the
        detector expected it in at the rule's threshold, what was observed, and its score.
        """
        found = detector(rule.detector)
        threshold = found.threshold(rule.sensitivity)
        since = now_ms - int(rule.window * 1000)
        out = []
        for (labels,), part in frame.sort("ts").group_by("labels", maintain_order=True):
            ts = part["ts"].dt.epoch("ms").to_numpy()
            values = part["value"].to_numpy().astype(np.float64)
            scored = found.scores(values, plan_series(ts, values))
            recent = np.flatnonzero(ts >= since)
            hit = bool((scored.score[recent] >= threshold).any()) if len(recent) else False
            value = float(scored.score[-1]) if len(values) else None
            detail = None
            if len(recent):
                low, high = scored.band(threshold)
                at = int(recent[np.argmax(scored.score[recent])])
                detail = anomaly_detail(scored.score, values, low, high, at)
            out.append(Observation(json.loads(str(labels)), value, hit, not hit, detail))
        return out

    def replay(self, frame: pl.DataFrame, rule: RuleParams, since_ms: int) -> pl.DataFrame:
        """Scores each series once over the whole history with the plan a full-lookback evaluation uses.

        The detectors look only backwards, so the score of a point does not depend on
        what follows it; "a point in the last window scores above the threshold" is then
        a cumulative count, instead of one detector run per replayed minute.
        """
        found = detector(rule.detector)
        threshold = found.threshold(rule.sensitivity)
        window_ms, lookback_ms = int(rule.window * 1000), int(rule.lookback * 1000)
        rows = []
        for name, part, ts, values in _parts(frame):
            last = ts >= ts[-1] - lookback_ms  # what one evaluation's frame holds
            scores = found.score(values, plan_series(ts[last], values[last]))
            above = np.concatenate([[0], np.cumsum(scores >= threshold)])
            at = np.flatnonzero(ts >= since_ms)
            hit = above[at + 1] - above[np.searchsorted(ts, ts[at] - window_ms, "left")] > 0
            rows.append(
                pl.DataFrame(
                    {
                        "series": name,
                        "ts": part["ts"].gather(at),
                        "value": values[at],
                        "score": scores[at],
                        "active": hit,
                        "clear": ~hit,
                    }
                )
            )
        return _replayed(rows, {"score": pl.Float64()})


FORECAST_CACHE_SIZE = 2_000  # fits kept between evaluations (series × rules); about a kilobyte each


class Forecast:
    """A Prophet forecast of the lookback (core.analytics.forecast.will_cross) passes the threshold within the horizon.

    The condition holds when the share of simulated futures past the threshold, at some time
    within the horizon, reaches the rule's ``probability``; with less history than the horizon
    needs (a quarter of it, at least an hour) the series is reported without a value and never
    fires. Fits use only complete buckets at the horizon's step (5 minutes for 24 h), so one is
    reused until the next bucket closes: a rule costs one fit per series per bucket, not one
    per evaluation.
    """

    name = "forecast"
    description = (
        "Predictive: a Prophet forecast of the lookback crosses the threshold within the horizon "
        "with at least the rule's probability."
    )

    def __init__(self) -> None:
        self._fits: dict[tuple[object, ...], Crossing] = {}

    def check(self, rule: RuleParams) -> None:
        if rule.threshold is None or rule.op not in (">", ">=", "<", "<="):
            raise ValueError("a forecast rule needs a threshold and one of > >= < <=")
        if rule.source != "series":
            raise ValueError("forecast rules watch series, not events")
        need = plan_for(rule.horizon).min_history_s
        if rule.lookback < need:
            raise ValueError(
                f"lookback must be at least {need / 3600:g} h for a {rule.horizon / 3600:g} h horizon: a forecast "
                "needs a quarter of its horizon (at least an hour) of history"
            )

    def lookback_s(self, rule: RuleParams) -> float:
        return rule.lookback

    def condition(self, ts: np.ndarray, values: np.ndarray, rule: RuleParams, now_ms: int) -> Crossing:
        """The crossing as of ``now_ms`` from the lookback's complete buckets (cached per input)."""
        assert rule.threshold is not None
        step = plan_for(rule.horizon).step_ms
        done = ts < now_ms - now_ms % step  # only points whose bucket of the horizon's step has closed
        ts, values = ts[done], values[done]
        edges = (int(ts[0]), int(ts[-1])) if len(ts) else (0, 0)
        key = (rule.selector, rule.threshold, rule.op, rule.horizon, len(ts), *edges, float(np.nansum(values)))
        found = self._fits.get(key)
        if found is None:
            name = rule.selector.split("{")[0]
            found = will_cross(
                ts, values, rule.threshold, rule.horizon, op=rule.op, bounds=bounds_for(name, values), now_ms=now_ms
            )
            if len(self._fits) >= FORECAST_CACHE_SIZE:
                self._fits.clear()
            self._fits[key] = found
        return found

    @staticmethod
    def fires(found: Crossing, rule: RuleParams) -> bool:
        return found.ok and found.probability >= rule.probability

    @staticmethod
    def clears(found: Crossing, rule: RuleParams) -> bool:
        """A firing alert resolves once the crossing is no longer even likely (below 50 %, or the rule's own
        probability if lower) — the forecast's hysteresis, so 79 % after 81 % does not resolve and refire."""
        return not found.ok or found.probability < min(rule.probability, 0.5)

    def observe(self, frame: pl.DataFrame, rule: RuleParams, now_ms: int) -> list[Observation]:
        out = []
        for (labels,), part in frame.sort("ts").group_by("labels", maintain_order=True):
            ts, values = part["ts"].dt.epoch("ms").to_numpy(), part["value"].to_numpy().astype(np.float64)
            found = self.condition(ts, values, rule, now_ms)
            hit = self.fires(found, rule)
            # without enough history there is no projection: no value, and nothing to fire on
            value = found.projected if found.ok else None
            out.append(Observation(json.loads(str(labels)), value, hit, self.clears(found, rule)))
        return out

    def replay(self, frame: pl.DataFrame, rule: RuleParams, since_ms: int) -> pl.DataFrame:
        """Refits at every :data:`REPLAY_EVERY_MS` over the day and holds the condition in between.

        The evaluator refits once per closed bucket; replaying that for every 5-minute bucket of a
        day would cost hundreds of fits per series on the page, so the preview refits hourly.
        """
        lookback_ms = int(rule.lookback * 1000)
        rows = []
        for name, part, ts, values in _parts(frame):
            at = np.flatnonzero(ts >= since_ms)
            if not len(at):
                continue
            hourly = np.arange(ts[at[0]] - ts[at[0]] % REPLAY_EVERY_MS, ts[at[-1]] + 1, REPLAY_EVERY_MS)
            instants = np.concatenate([ts[at[:1]], hourly[hourly > ts[at[0]]]])  # the first point, then each hour
            found = []
            for instant in instants:
                lo, hi = np.searchsorted(ts, instant - lookback_ms, "left"), np.searchsorted(ts, instant, "right")
                crossing = self.condition(ts[lo:hi], values[lo:hi], rule, int(instant))
                projected = crossing.projected if crossing.ok else None
                found.append((projected, self.fires(crossing, rule), self.clears(crossing, rule)))
            which = np.searchsorted(instants, ts[at], "right") - 1  # the newest refit at or before each point
            hit = np.array([bool(i >= 0 and found[i][1]) for i in which], dtype=bool)
            clear = np.array([bool(i < 0 or found[i][2]) for i in which], dtype=bool)
            rows.append(
                pl.DataFrame(
                    {
                        "series": name,
                        "ts": part["ts"].gather(at),
                        "value": values[at],
                        "projected": pl.Series([found[i][0] if i >= 0 else None for i in which], dtype=pl.Float64),
                        "active": hit,
                        "clear": clear,
                    }
                )
            )
        return _replayed(rows, {"projected": pl.Float64()})


REPLAY_EVERY_MS = 3_600_000


KINDS: tuple[RuleKind, ...] = (Threshold(), Anomaly(), Forecast())


def kind(name: str) -> RuleKind:
    """The registered kind called ``name``; ValueError lists the known ones."""
    for found in KINDS:
        if found.name == name:
            return found
    raise ValueError(f"unknown rule kind {name!r}; use one of {', '.join(k.name for k in KINDS)}")
