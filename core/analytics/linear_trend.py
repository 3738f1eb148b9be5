"""A linear-trend projection behind the small interface predictive alerts use.

Predictive rules ask one question: "will this series cross T within H, and when?".
:class:`Forecaster` is that interface; :class:`LinearTrend` answers it with a
least-squares line over the lookback. The Prophet module (forecasting issue) can
register a better forecaster in :data:`FORECASTERS` without touching the alert code.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

import numpy as np


class Projection(Protocol):
    """A fitted forecast of one series."""

    def at(self, ts_ms: int) -> float:
        """Predicted value at ``ts_ms``."""
        ...

    def crossing_ms(self, threshold: float, op: str, now_ms: int) -> int | None:
        """First time at or after ``now_ms`` when ``value op threshold`` holds, or None if never."""
        ...


class Forecaster(Protocol):
    """Something that fits a :class:`Projection` to a series (times in epoch ms)."""

    name: str

    def fit(self, ts_ms: np.ndarray, values: np.ndarray) -> Projection | None:
        """A projection, or None when there is too little data to say anything."""
        ...


@dataclass(frozen=True)
class Line:
    """value = intercept + slope · (t − origin), t in ms."""

    origin_ms: int
    intercept: float
    slope_per_ms: float

    def at(self, ts_ms: int) -> float:
        return self.intercept + self.slope_per_ms * (ts_ms - self.origin_ms)

    def crossing_ms(self, threshold: float, op: str, now_ms: int) -> int | None:
        now_value = self.at(now_ms)
        if _holds(now_value, op, threshold):
            return now_ms
        if self.slope_per_ms == 0:
            return None
        when = self.origin_ms + (threshold - self.intercept) / self.slope_per_ms
        if when < now_ms:
            return None
        # a strict comparison holds just past the crossing point
        return int(np.ceil(when)) + (1 if op in (">", "<") else 0)


def _holds(value: float, op: str, threshold: float) -> bool:
    return {">": value > threshold, ">=": value >= threshold, "<": value < threshold, "<=": value <= threshold}.get(
        op, False
    )


class LinearTrend:
    """Ordinary least squares over the whole lookback: cheap, explainable, and wrong only slowly."""

    name = "linear"

    def fit(self, ts_ms: np.ndarray, values: np.ndarray) -> Line | None:
        ok = np.isfinite(values)
        ts, ys = ts_ms[ok].astype(np.float64), values[ok].astype(np.float64)
        if len(ys) < 3 or ts[-1] == ts[0]:
            return None
        origin = int(ts[-1])
        slope, intercept = np.polyfit(ts - origin, ys, 1)
        return Line(origin, float(intercept), float(slope))


FORECASTERS: tuple[Forecaster, ...] = (LinearTrend(),)


def forecaster(name: str = "linear") -> Forecaster:
    """The registered forecaster ``name``."""
    for found in FORECASTERS:
        if found.name == name:
            return found
    raise ValueError(f"unknown forecaster {name!r}; use one of {', '.join(f.name for f in FORECASTERS)}")
