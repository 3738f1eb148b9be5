"""The registry of rule kinds: threshold, anomaly and forecast.

A kind validates what a rule needs and turns the rule's data (one frame of
``ts, labels, value`` rows) into one :class:`Observation` per label set: is the
condition true now, and is the value clear enough to resolve. Adding a kind means
adding one class here and one entry in :data:`KINDS`; the editor lists this tuple.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import TYPE_CHECKING, Protocol

import numpy as np
import polars as pl

from core.anomaly import detector, infer_period
from core.forecast_simple import forecaster

if TYPE_CHECKING:
    from core.alerts.rules import Rule


@dataclass(frozen=True)
class Observation:
    """What one evaluation saw for one label set."""

    labels: dict[str, str]
    value: float | None
    active: bool  # the rule's condition holds now
    clear: bool  # the value is far enough on the good side to resolve (hysteresis)


class RuleKind(Protocol):
    """One kind of rule."""

    name: str
    description: str

    def check(self, rule: Rule) -> None:
        """Raise ValueError naming what a rule of this kind lacks."""
        ...

    def lookback_s(self, rule: Rule) -> float:
        """How much history one evaluation reads."""
        ...

    def observe(self, frame: pl.DataFrame, rule: Rule, now_ms: int) -> list[Observation]:
        """One observation per label set in ``frame`` (columns ts, labels, value)."""
        ...


_WINDOW_AGG = {
    "avg": pl.col("value").mean(), "min": pl.col("value").min(), "max": pl.col("value").max(),
    "sum": pl.col("value").sum(), "count": pl.col("value").sum(), "last": pl.col("value").sort_by("ts").last(),
}


def compare(value: pl.Expr, op: str, threshold: float) -> pl.Expr:
    """``value op threshold`` as a polars expression."""
    return {">": value > threshold, ">=": value >= threshold, "<": value < threshold,
            "<=": value <= threshold, "==": value == threshold, "!=": value != threshold}[op]


def clear_expr(value: pl.Expr, op: str, threshold: float, hysteresis: float) -> pl.Expr:
    """True when the value has moved ``hysteresis`` past the threshold to the good side."""
    if op in (">", ">="):
        return value <= threshold - hysteresis if hysteresis else ~compare(value, op, threshold)
    if op in ("<", "<="):
        return value >= threshold + hysteresis if hysteresis else ~compare(value, op, threshold)
    return ~compare(value, op, threshold)


def _observations(frame: pl.DataFrame) -> list[Observation]:
    return [Observation(json.loads(row["labels"]), row["value"], bool(row["active"]), bool(row["clear"]))
            for row in frame.iter_rows(named=True)]


class Threshold:
    """The window's aggregate compared with a fixed threshold."""

    name = "threshold"
    description = "Aggregate over the window compared with a threshold (queue_depth > 15 for 5m)."

    def check(self, rule: Rule) -> None:
        if rule.threshold is None:
            raise ValueError("a threshold rule needs a threshold")

    def lookback_s(self, rule: Rule) -> float:
        return rule.window

    def observe(self, frame: pl.DataFrame, rule: Rule, now_ms: int) -> list[Observation]:
        assert rule.threshold is not None
        since = now_ms - int(rule.window * 1000)
        per_series = (
            frame.filter(pl.col("ts").dt.epoch("ms") >= since)
            .group_by("labels").agg(_WINDOW_AGG[rule.agg].alias("value"))
            .with_columns(active=compare(pl.col("value"), rule.op, rule.threshold),
                          clear=clear_expr(pl.col("value"), rule.op, rule.threshold, rule.hysteresis))
            .sort("labels")
        )
        return _observations(per_series)


class Anomaly:
    """A registered detector flags the newest points of each series against its own history."""

    name = "anomaly"
    description = "Unusual for this series: rolling z-score, IQR, seasonal or auto detector with a sensitivity."

    def check(self, rule: Rule) -> None:
        detector(rule.detector)
        if rule.source != "series":
            raise ValueError("anomaly rules watch series, not events")
        if rule.lookback < rule.window * 4:
            raise ValueError("lookback must be at least four windows, so the detector can learn what is normal")

    def lookback_s(self, rule: Rule) -> float:
        return rule.lookback

    def observe(self, frame: pl.DataFrame, rule: Rule, now_ms: int) -> list[Observation]:
        found = detector(rule.detector)
        since = now_ms - int(rule.window * 1000)
        out = []
        for (labels,), part in frame.sort("ts").group_by("labels", maintain_order=True):
            ts = part["ts"].dt.epoch("ms").to_numpy()
            values = part["value"].to_numpy()
            window = int(np.clip(len(values) // 2, 16, 720))
            scores = found.score(values.astype(np.float64), window, infer_period(ts))
            recent = ts >= since
            hit = bool((scores[recent] >= found.threshold(rule.sensitivity)).any()) if recent.any() else False
            value = float(scores[-1]) if len(scores) else None
            out.append(Observation(json.loads(str(labels)), value, hit, not hit))
        return out


class Forecast:
    """The series' trend crosses the threshold within the horizon."""

    name = "forecast"
    description = "Predictive: the trend over the lookback will cross the threshold within the horizon."

    def check(self, rule: Rule) -> None:
        if rule.threshold is None or rule.op not in (">", ">=", "<", "<="):
            raise ValueError("a forecast rule needs a threshold and one of > >= < <=")
        if rule.source != "series":
            raise ValueError("forecast rules watch series, not events")

    def lookback_s(self, rule: Rule) -> float:
        return rule.lookback

    def observe(self, frame: pl.DataFrame, rule: Rule, now_ms: int) -> list[Observation]:
        assert rule.threshold is not None
        model = forecaster()
        horizon_end = now_ms + int(rule.horizon * 1000)
        out = []
        for (labels,), part in frame.sort("ts").group_by("labels", maintain_order=True):
            fit = model.fit(part["ts"].dt.epoch("ms").to_numpy(), part["value"].to_numpy())
            if fit is None:
                continue
            when = fit.crossing_ms(rule.threshold, rule.op, now_ms)
            hit = when is not None and when <= horizon_end
            out.append(Observation(json.loads(str(labels)), fit.at(horizon_end), hit, not hit))
        return out


KINDS: tuple[RuleKind, ...] = (Threshold(), Anomaly(), Forecast())


def kind(name: str) -> RuleKind:
    """The registered kind called ``name``; ValueError lists the known ones."""
    for found in KINDS:
        if found.name == name:
            return found
    raise ValueError(f"unknown rule kind {name!r}; use one of {', '.join(k.name for k in KINDS)}")
