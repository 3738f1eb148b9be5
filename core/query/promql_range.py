"""Range-vector functions of PromQL (``rate(x[5m])``, ``max_over_time(x[1h])`` …) over every step at once.

One series' samples are two sorted numpy arrays (times in ms, values); a range query asks
for the window ``[t - range, t]`` at each of its steps. Instead of walking the window once
per step, the window bounds of every step come from one ``searchsorted``, and sums, counts,
counter resets and minima are read off prefix sums or a sparse table, so a 24-hour query at
a 1-minute step costs a few numpy passes per series, not 1,440 Python loops.

Semantics follow Prometheus 2.x: windows closed at both ends, and ``rate``/``increase``/
``delta`` extrapolate to the window edges as Prometheus' ``extrapolatedRate`` does (counter
resets add the value before the reset; extrapolation stops at zero for counters and at half
a sample interval beyond the first/last sample).
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

Result = tuple[np.ndarray, np.ndarray]  # (values, present) per step


def windows(ts: np.ndarray, refs: np.ndarray, range_ms: int) -> tuple[np.ndarray, np.ndarray]:
    """Index bounds ``[lo, hi)`` of the samples in ``[ref - range, ref]`` for each step time ``ref``."""
    lo = np.searchsorted(ts, refs - range_ms, side="left")
    hi = np.searchsorted(ts, refs, side="right")
    return lo, hi


def _prefix(values: np.ndarray) -> np.ndarray:
    return np.concatenate(([0.0], np.cumsum(values)))


def extrapolated(
    ts: np.ndarray, vs: np.ndarray, refs: np.ndarray, range_ms: int, *, counter: bool, per_second: bool
) -> Result:
    """``rate`` (counter, per second), ``increase`` (counter) or ``delta`` (gauge) as Prometheus computes them."""
    lo, hi = windows(ts, refs, range_ms)
    count = hi - lo
    ok = count >= 2
    first, last = np.where(ok, lo, 0), np.where(ok, hi - 1, 0)
    if len(ts) == 0:
        return np.zeros(len(refs)), np.zeros(len(refs), dtype=bool)
    result = vs[last] - vs[first]
    if counter:
        drops = np.concatenate(([0.0], np.where(vs[1:] < vs[:-1], vs[:-1], 0.0)))
        resets = np.cumsum(drops)
        result = result + resets[last] - resets[first]
    t_first, t_last = ts[first].astype(float), ts[last].astype(float)
    to_start = (t_first - (refs - range_ms)) / 1000.0
    to_end = (refs - t_last) / 1000.0
    sampled = (t_last - t_first) / 1000.0
    with np.errstate(divide="ignore", invalid="ignore"):
        average = sampled / np.maximum(count - 1, 1)
        if counter:
            to_zero = np.where((result > 0) & (vs[first] >= 0), sampled * (vs[first] / result), np.inf)
            to_start = np.minimum(to_start, to_zero)
        threshold = average * 1.1
        interval = (
            sampled
            + np.where(to_start < threshold, to_start, average / 2)
            + np.where(to_end < threshold, to_end, average / 2)
        )
        result = result * (interval / sampled)
        if per_second:
            result = result / (range_ms / 1000.0)
    return result, ok


def instant_rate(ts: np.ndarray, vs: np.ndarray, refs: np.ndarray, range_ms: int, *, counter: bool) -> Result:
    """``irate`` (counter) or ``idelta`` (gauge): from the last two samples of each window."""
    lo, hi = windows(ts, refs, range_ms)
    ok = hi - lo >= 2
    if len(ts) < 2:
        return np.zeros(len(refs)), np.zeros(len(refs), dtype=bool)
    last, previous = np.where(ok, hi - 1, 1), np.where(ok, hi - 2, 0)
    difference = vs[last] - vs[previous]
    if not counter:
        return difference, ok
    difference = np.where(vs[last] < vs[previous], vs[last], difference)
    seconds = (ts[last] - ts[previous]) / 1000.0
    ok &= seconds > 0
    with np.errstate(divide="ignore", invalid="ignore"):
        return difference / seconds, ok


def _sparse_table(values: np.ndarray, reduce: Callable[[np.ndarray, np.ndarray], np.ndarray]) -> list[np.ndarray]:
    table = [values]
    width = 1
    while width * 2 <= len(values):
        previous = table[-1]
        table.append(reduce(previous[:-width], previous[width:]))
        width *= 2
    return table


def _range_reduce(
    values: np.ndarray, lo: np.ndarray, hi: np.ndarray, reduce: Callable[[np.ndarray, np.ndarray], np.ndarray]
) -> np.ndarray:
    """min or max of ``values[lo:hi]`` for every window at once (windows must be non-empty where used)."""
    table = _sparse_table(values, reduce)
    length = np.maximum(hi - lo, 1)
    level = np.floor(np.log2(length)).astype(np.int64)
    out = np.empty(len(lo))
    for k in np.unique(level):
        rows = level == k
        column = table[int(k)]
        a = np.minimum(lo[rows], len(column) - 1)
        b = np.clip(hi[rows] - (1 << int(k)), 0, len(column) - 1)
        out[rows] = reduce(column[a], column[b])
    return out


def over_time(name: str, ts: np.ndarray, vs: np.ndarray, refs: np.ndarray, range_ms: int, arg: float = 0.0) -> Result:
    """``<name>_over_time`` of each window: avg, min, max, sum, count, last, present, stddev, stdvar, quantile."""
    lo, hi = windows(ts, refs, range_ms)
    count = hi - lo
    ok = count > 0
    n = len(refs)
    if len(ts) == 0:
        return np.zeros(n), np.zeros(n, dtype=bool)
    if name in ("sum", "avg", "stddev", "stdvar"):
        centre = float(np.mean(vs))  # shift before summing squares: keeps the variance from cancelling away
        sums = _prefix(vs - centre)
        total = sums[hi] - sums[lo]
        with np.errstate(divide="ignore", invalid="ignore"):
            mean = total / count
            if name == "sum":
                return total + centre * count, ok
            if name == "avg":
                return mean + centre, ok
            squares = _prefix((vs - centre) ** 2)
            variance = np.maximum((squares[hi] - squares[lo]) / count - mean**2, 0.0)
        return (np.sqrt(variance) if name == "stddev" else variance), ok
    if name == "count":
        return count.astype(float), ok
    if name == "present":
        return np.ones(n), ok
    if name == "last":
        return vs[np.maximum(hi - 1, 0)], ok
    if name in ("min", "max"):
        return _range_reduce(vs, lo, hi, np.minimum if name == "min" else np.maximum), ok
    if name == "quantile":
        out = np.full(n, np.nan)
        for i in np.flatnonzero(ok):
            out[i] = quantile(arg, vs[lo[i] : hi[i]])
        return out, ok
    if name in ("changes", "resets"):
        steps = vs[1:] != vs[:-1] if name == "changes" else vs[1:] < vs[:-1]
        marks = _prefix(steps.astype(float))  # marks[j] = number of changes among the first j pairs
        return marks[np.maximum(hi - 1, 0)] - marks[np.minimum(lo, np.maximum(hi - 1, 0))], ok
    raise KeyError(name)


def quantile(q: float, values: np.ndarray) -> float:
    """The φ-quantile of ``values`` with linear interpolation between ranks, as PromQL's ``quantile``."""
    if len(values) == 0 or np.isnan(q):
        return float("nan")
    if q < 0:
        return float("-inf")
    if q > 1:
        return float("inf")
    ordered = np.sort(values)
    rank = q * (len(ordered) - 1)
    below = int(np.floor(rank))
    above = min(below + 1, len(ordered) - 1)
    weight = rank - below
    return float(ordered[below] * (1 - weight) + ordered[above] * weight)


OVER_TIME = ("avg", "min", "max", "sum", "count", "last", "present", "stddev", "stdvar", "quantile")
