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

from core.analytics.anomaly import detector, infer_period
from core.analytics.linear_trend import forecaster


@dataclass(frozen=True)
class Observation:
    """What one evaluation saw for one label set."""

    labels: dict[str, str]
    value: float | None
    active: bool  # the rule's condition holds now
    clear: bool  # the value is far enough on the good side to resolve (hysteresis)


class RuleParams(Protocol):
    """What a kind reads of a rule: core.alerts.rules.Rule has these, so kinds need not import it."""

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
    def sensitivity(self) -> float: ...
    @property
    def lookback(self) -> float: ...
    @property
    def horizon(self) -> float: ...


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


def detector_window(points: int) -> int:
    """The trailing window (in points) an anomaly rule's detector uses over a lookback of ``points``."""
    return int(np.clip(points // 2, 16, 720))


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
        found = detector(rule.detector)
        since = now_ms - int(rule.window * 1000)
        out = []
        for (labels,), part in frame.sort("ts").group_by("labels", maintain_order=True):
            ts = part["ts"].dt.epoch("ms").to_numpy()
            values = part["value"].to_numpy()
            scores = found.score(values.astype(np.float64), detector_window(len(values)), infer_period(ts))
            recent = ts >= since
            hit = bool((scores[recent] >= found.threshold(rule.sensitivity)).any()) if recent.any() else False
            value = float(scores[-1]) if len(scores) else None
            out.append(Observation(json.loads(str(labels)), value, hit, not hit))
        return out

    def replay(self, frame: pl.DataFrame, rule: RuleParams, since_ms: int) -> pl.DataFrame:
        """Scores each series once over the whole history with the window a full-lookback evaluation uses.

        The detectors look only backwards, so the score of a point does not depend on
        what follows it; "a point in the last window scores above the threshold" is then
        a cumulative count, instead of one detector run per replayed minute.
        """
        found = detector(rule.detector)
        threshold = found.threshold(rule.sensitivity)
        window_ms, lookback_ms = int(rule.window * 1000), int(rule.lookback * 1000)
        rows = []
        for name, part, ts, values in _parts(frame):
            step = float(np.median(np.diff(ts))) if len(ts) > 1 else MINUTE_MS
            points = min(len(values), int(lookback_ms / max(step, 1.0)))  # what one evaluation's frame holds
            scores = found.score(values, detector_window(points), infer_period(ts[ts >= ts[-1] - lookback_ms]))
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


class Forecast:
    """The series' trend crosses the threshold within the horizon."""

    name = "forecast"
    description = "Predictive: the trend over the lookback will cross the threshold within the horizon."

    def check(self, rule: RuleParams) -> None:
        if rule.threshold is None or rule.op not in (">", ">=", "<", "<="):
            raise ValueError("a forecast rule needs a threshold and one of > >= < <=")
        if rule.source != "series":
            raise ValueError("forecast rules watch series, not events")

    def lookback_s(self, rule: RuleParams) -> float:
        return rule.lookback

    @staticmethod
    def condition(ts: np.ndarray, values: np.ndarray, rule: RuleParams, now_ms: int) -> tuple[float, bool] | None:
        """(projected value at the horizon, will cross within it) from the lookback's points, or None without a fit."""
        assert rule.threshold is not None
        fit = forecaster().fit(ts, values)
        if fit is None:
            return None
        horizon_end = now_ms + int(rule.horizon * 1000)
        when = fit.crossing_ms(rule.threshold, rule.op, now_ms)
        return fit.at(horizon_end), when is not None and when <= horizon_end

    def observe(self, frame: pl.DataFrame, rule: RuleParams, now_ms: int) -> list[Observation]:
        out = []
        for (labels,), part in frame.sort("ts").group_by("labels", maintain_order=True):
            found = self.condition(part["ts"].dt.epoch("ms").to_numpy(), part["value"].to_numpy(), rule, now_ms)
            if found is not None:
                projected, hit = found
                out.append(Observation(json.loads(str(labels)), projected, hit, not hit))
        return out

    def replay(self, frame: pl.DataFrame, rule: RuleParams, since_ms: int) -> pl.DataFrame:
        """Refits the trend at every point on the lookback before it, as each evaluation would."""
        lookback_ms = int(rule.lookback * 1000)
        rows = []
        for name, part, ts, values in _parts(frame):
            at = np.flatnonzero(ts >= since_ms)
            starts = np.searchsorted(ts, ts[at] - lookback_ms, "left")
            found = [
                self.condition(ts[lo : i + 1], values[lo : i + 1], rule, int(ts[i]))
                for lo, i in zip(starts, at, strict=True)
            ]
            projected = [f[0] if f else None for f in found]
            hit = np.array([bool(f and f[1]) for f in found], dtype=bool)
            rows.append(
                pl.DataFrame(
                    {
                        "series": name,
                        "ts": part["ts"].gather(at),
                        "value": values[at],
                        "projected": pl.Series(projected, dtype=pl.Float64),
                        "active": hit,
                        "clear": ~hit,
                    }
                )
            )
        return _replayed(rows, {"projected": pl.Float64()})


KINDS: tuple[RuleKind, ...] = (Threshold(), Anomaly(), Forecast())


def kind(name: str) -> RuleKind:
    """The registered kind called ``name``; ValueError lists the known ones."""
    for found in KINDS:
        if found.name == name:
            return found
    raise ValueError(f"unknown rule kind {name!r}; use one of {', '.join(k.name for k in KINDS)}")
