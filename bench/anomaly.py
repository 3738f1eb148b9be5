"""Anomaly detectors on the labelled NAB series: NAB score in-sample and cross-validated, F1, flatness, cost.

For every series in tests/data/nab/ (labels/combined_windows.json) each detector
scores every point with its duration parameters converted by the series' own step
(core/analytics/anomaly_plan.py); an alarm is a point whose score reaches the
threshold, after NAB's probationary period (the first 15 % of each file), merged by
the detector's refractory period (one incident, one alarm; a score twice the last
alarm's re-arms it).

* NAB score (config/profiles.json; standard, reward-low-FP and reward-low-FN profiles):
  the earliest alarm in a window earns ``tpWeight · σ(position)/σ(-1)`` (1 at the
  window start, ~0 at its end), a missed window costs ``fnWeight``, an alarm outside
  windows costs ``fpWeight · σ(distance past the previous window)`` (−1 far from any
  window), with NAB's scaled sigmoid σ(y) = 2/(1+e^{5y}) − 1. A total is normalised
  100·(raw − null)/(perfect − null), null being the detector that never fires.
* Choosing a threshold: the grid threshold whose total, averaged over × 0.8 … × 1.25 of
  it, is best (:func:`best_index`) — the middle of a plateau, not the curve's single peak.
* In-sample: one threshold for all series, chosen so on all of them. This is optimistic:
  the threshold has seen the labels it is scored on.
* Leave-one-file-out cross-validation: for each series the threshold is the one chosen on
  the *other* series; the held-out series is scored at it and
  the raw scores are summed and normalised as NAB does. This is the figure that says
  how the detector does on a series it was not tuned on. The gap between the two is
  reported; a large gap means the in-sample optimum fits noise.
* Flatness: the cross-validated score with every fold's threshold × 0.8 and × 1.25.
* Per category (realAWSCloudwatch, realKnownCause, artificial…): the cross-validated
  score of its series (a category without windows shows its raw false-alarm cost).
* Window-level precision/recall/F1 at the in-sample threshold, and the scoring cost in
  milliseconds per 1,000 points (plan, scores and band, as one rule evaluation runs it): CPU time of the process
  (all its threads), the fastest of five runs, so a busy shared machine does not inflate it.

``--calibrate`` rewrites the ``auto`` line of core/analytics/anomaly_calibration.py:
``medium`` is the median of the cross-validated thresholds (standard profile), ``low``
and ``high`` × 1.25 and × 0.8 of it — the flatness points, so each preset's
cross-validated score is printed here. Those are the thresholds the sensitivity presets
of anomaly rules use.

What is still in-sample: the design of the detector (robust z, one-day window, a
quarter-day warm-up and refractory, the seasonality test, the drifting-job discount) was
chosen on principle and then measured on these same 12 series; only the threshold is
cross-validated. ``--quick`` prints the ``auto`` figures alone in a few seconds and records
nothing (for trying a change; bench/NOTES.md logs what was tried).
"""

from __future__ import annotations

import argparse
import json
import math
import re
import sys
import time
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np
import polars as pl

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import ROOT, record

from core.analytics.anomaly import DETECTORS, Plan, plan_series, refractory
from core.analytics.anomaly_calibration import PRESET_FACTORS
from core.analytics.anomaly_plan import DAY_S, TIMING

NAB = ROOT / "tests" / "data" / "nab"  # vendored in the repository (tests/data/README.md)
CALIBRATION = ROOT / "core" / "analytics" / "anomaly_calibration.py"
PROBATION = 0.15
PROFILES = {"standard": "standard", "low_fp": "reward_low_FP_rate", "low_fn": "reward_low_FN_rate"}
GRID = np.geomspace(0.5, 400.0, 241)  # candidate thresholds, ~2.8 % apart, shared by every detector
TIMING_RUNS = 5
WINDOWS = (DAY_S / 2, DAY_S, 2 * DAY_S, 4 * DAY_S)  # auto's window candidates, chosen inside each fold


@dataclass(frozen=True)
class Series:
    """One NAB file: timestamps (ms), values and its labelled windows as index ranges."""

    name: str
    ts: np.ndarray
    values: np.ndarray
    windows: list[tuple[int, int]]

    @property
    def probation(self) -> int:
        return min(math.floor(PROBATION * len(self.values)), 750)

    @property
    def category(self) -> str:
        return self.name.split("/")[0]


def load() -> list[Series]:
    """Every NAB file that has a windows entry and a data file here."""
    windows = json.loads((NAB / "labels" / "combined_windows.json").read_text())
    out = []
    for name, spans in sorted(windows.items()):
        path = NAB / "data" / name
        if not path.exists():
            continue
        frame = pl.read_csv(path, try_parse_dates=True)
        ts = frame["timestamp"].dt.epoch("ms").to_numpy()
        index = []
        for start, end in spans:
            lo = np.datetime64(start.replace(" ", "T")).astype("datetime64[ms]").astype(np.int64)
            hi = np.datetime64(end.replace(" ", "T")).astype("datetime64[ms]").astype(np.int64)
            index.append((int(np.searchsorted(ts, lo, "left")), int(np.searchsorted(ts, hi, "right")) - 1))
        out.append(Series(name, ts, frame["value"].cast(pl.Float64).to_numpy(), index))
    return out


def scaled_sigmoid(position: np.ndarray) -> np.ndarray:
    """NAB's reward curve: ~1 at −1 (window start), 0 at the window end, −1 far past it."""
    return np.where(position > 3.0, -1.0, 2.0 / (1.0 + np.exp(5.0 * np.minimum(position, 3.0))) - 1.0)


MAX_TP = float(scaled_sigmoid(np.array(-1.0)))


def nab_raw(series: Series, alarms: np.ndarray, weights: dict[str, float]) -> tuple[float, float, float]:
    """(detector, null, perfect) raw NAB scores of one file for alarm indices ``alarms`` (sorted)."""
    hits = alarms[alarms >= series.probation]
    count = len(series.windows)
    lo = np.array([w[0] for w in series.windows], dtype=np.int64)
    hi = np.array([w[1] for w in series.windows], dtype=np.int64)
    k = np.searchsorted(hi, hits, "left")  # first window ending at or after each alarm
    inside = (k < count) & (lo[np.minimum(k, max(count - 1, 0))] <= hits) if count else np.zeros(len(hits), bool)
    tp = 0.0
    found = 0
    for window in np.unique(k[inside]).tolist():
        first = int(hits[inside & (k == window)][0])
        width = hi[window] - lo[window] + 1
        tp += float(scaled_sigmoid(np.array(-(hi[window] - first + 1) / width))) / MAX_TP * weights["tpWeight"]
        found += 1
    outside = hits[~inside]
    before = k[~inside] - 1  # the last window that ended before the alarm (−1: none)
    fp = np.where(
        before < 0,
        -1.0,
        scaled_sigmoid(
            np.abs(hi[np.maximum(before, 0)] - outside)
            / np.maximum(hi[np.maximum(before, 0)] - lo[np.maximum(before, 0)], 1)
        )
        if count
        else -1.0,
    )
    raw = tp + float(np.sum(fp)) * weights["fpWeight"] - (count - found) * weights["fnWeight"]
    return raw, -count * weights["fnWeight"], count * weights["tpWeight"]


def window_counts(series: Series, alarms: np.ndarray) -> tuple[int, int, int]:
    """(windows found, windows, false alarms) after the probationary period."""
    hits = alarms[alarms >= series.probation]
    inside = np.zeros(len(hits), dtype=bool)
    found = 0
    for lo, hi in series.windows:
        mask = (hits >= lo) & (hits <= hi)
        inside |= mask
        found += bool(mask.any())
    return found, len(series.windows), int((~inside).sum())


def f1(found: int, windows: int, false: int) -> tuple[float, float, float]:
    precision = found / (found + false) if found + false else 1.0
    recall = found / windows if windows else 1.0
    return precision, recall, (2 * precision * recall / (precision + recall) if precision + recall else 0.0)


@dataclass
class Sweep:
    """Raw NAB scores of every series at every grid threshold, per profile: raw[profile][series, threshold]."""

    raw: dict[str, np.ndarray]
    null: dict[str, np.ndarray]
    perfect: dict[str, np.ndarray]
    counts: np.ndarray  # [series, threshold, (found, windows, false)]


def alarms_at(score: np.ndarray, plan: Plan, threshold: float) -> np.ndarray:
    return np.flatnonzero(refractory(score >= threshold, plan.refractory, score))


def sweep(corpus: list[Series], scores: list[np.ndarray], plans: list[Plan], weights: dict[str, dict]) -> Sweep:
    """Score every series at every threshold of :data:`GRID` under every profile."""
    shape = (len(corpus), len(GRID))
    raw = {p: np.zeros(shape) for p in weights}
    null = {p: np.zeros(len(corpus)) for p in weights}
    perfect = {p: np.zeros(len(corpus)) for p in weights}
    counts = np.zeros((*shape, 3), dtype=np.int64)
    for i, (series, score, plan) in enumerate(zip(corpus, scores, plans, strict=True)):
        for j, threshold in enumerate(GRID):
            alarms = alarms_at(score, plan, threshold)
            counts[i, j] = window_counts(series, alarms)
            for profile, w in weights.items():
                raw[profile][i, j], null[profile][i], perfect[profile][i] = nab_raw(series, alarms, w)
    return Sweep(raw, null, perfect, counts)


def normalised(raw: float, null: float, perfect: float) -> float:
    return 100.0 * (raw - null) / (perfect - null) if perfect != null else raw


FLAT_BAND = 1.25  # a threshold is judged by its mean total over [÷ this, × this]: the flatness points
FLAT_HALF = round(math.log(FLAT_BAND) / math.log(GRID[1] / GRID[0]))  # that band in grid steps either side


def smoothed(totals: np.ndarray) -> np.ndarray:
    """Each grid threshold's total averaged over its ×0.8 … ×1.25 neighbourhood (the ends held flat)."""
    padded = np.concatenate([np.full(FLAT_HALF, totals[0]), totals, np.full(FLAT_HALF, totals[-1])])
    return np.convolve(padded, np.ones(2 * FLAT_HALF + 1) / (2 * FLAT_HALF + 1), mode="valid")


def best_index(totals: np.ndarray) -> int:
    """The grid index with the best total averaged over its ×0.8 … ×1.25 neighbourhood; among ties, the middle one.

    The raw score-vs-threshold curve of 11 series is jagged: its single best point is
    often a narrow peak that one series' alarm crossing the threshold made, and a held-out
    series does not share it. The best neighbourhood is a plateau, so the choice moves less
    from fold to fold and the score falls less when the threshold is off by a quarter.
    """
    curve = smoothed(np.asarray(totals, dtype=np.float64))
    ties = np.flatnonzero(curve >= curve.max() - 1e-9)
    return int(ties[len(ties) // 2])


@dataclass(frozen=True)
class Result:
    """One detector under one profile: in-sample and cross-validated scores, thresholds and windows."""

    in_sample: float
    threshold: float
    window: int  # index of the in-sample window candidate
    cv: float
    cv_thresholds: list[float]
    cv_windows: list[int]  # index of each fold's window candidate
    cv_low: float  # every fold's threshold × 0.8
    cv_high: float  # × 1.25
    per_series_cv: list[float]  # held-out raw score of each series
    per_series_in: list[float]

    @property
    def chosen_window(self) -> int:
        """The window candidate most folds chose (ties: the shorter)."""
        return int(np.bincount(self.cv_windows).argmax())

    @property
    def calibrated(self) -> float:
        """The median threshold of the folds that chose :attr:`chosen_window`."""
        picked = [t for t, w in zip(self.cv_thresholds, self.cv_windows, strict=True) if w == self.chosen_window]
        return float(np.median(picked))


def shifted(j: int, factor: float) -> int:
    return int(np.argmin(np.abs(np.log(GRID) - math.log(GRID[j] * factor))))


def analyse(sweeps: list[Sweep], profile: str) -> Result:
    """In-sample and leave-one-file-out scores; with several sweeps (window candidates) the window is chosen
    together with the threshold, inside each fold, so the cross-validated score pays for that choice too."""
    raw = np.stack([s.raw[profile] for s in sweeps])  # [candidate, series, threshold]
    null, perfect = sweeps[0].null[profile], sweeps[0].perfect[profile]
    n = raw.shape[1]

    def pick(totals: np.ndarray) -> tuple[int, int]:  # totals[candidate, threshold]
        curves = np.stack([smoothed(row) for row in totals])
        c = int(np.argmax(curves.max(axis=1)))
        return c, best_index(totals[c])

    c_best, best = pick(raw.sum(axis=1))
    in_sample = normalised(float(raw[c_best, :, best].sum()), float(null.sum()), float(perfect.sum()))
    folds = [pick(np.delete(raw, i, axis=1).sum(axis=1)) for i in range(n)]
    held = [float(raw[c, i, j]) for i, (c, j) in enumerate(folds)]
    at = {f: sum(float(raw[c, i, shifted(j, f)]) for i, (c, j) in enumerate(folds)) for f in (0.8, 1.25)}
    total = (float(null.sum()), float(perfect.sum()))
    return Result(
        in_sample,
        float(GRID[best]),
        c_best,
        normalised(sum(held), *total),
        [float(GRID[j]) for _, j in folds],
        [c for c, _ in folds],
        normalised(at[0.8], *total),
        normalised(at[1.25], *total),
        held,
        [float(raw[c_best, i, best]) for i in range(n)],
    )


def write_calibration(medium: float) -> dict[str, float]:
    """Replace the ``auto`` line of core/analytics/anomaly_calibration.py with presets around ``medium``."""
    levels = {preset: round(medium * factor, 2) for preset, factor in PRESET_FACTORS.items()}
    line = '    "auto": {' + ", ".join(f'"{p}": {t}' for p, t in levels.items()) + "},"
    text = CALIBRATION.read_text()
    CALIBRATION.write_text(re.sub(r'^    "auto": \{.*\},$', lambda _: line, text, flags=re.M))
    return levels


def quick(corpus: list[Series], weights: dict[str, dict]) -> None:
    """The headline figures of ``auto`` alone (a few seconds): for trying a change before a full run."""
    plans = [plan_series(s.ts, s.values) for s in corpus]
    auto = DETECTORS[[d.name for d in DETECTORS].index("auto")]
    swept = sweep(corpus, [auto.score(s.values, p) for s, p in zip(corpus, plans, strict=True)], plans, weights)
    r = analyse([swept], "standard")
    print(
        f"auto: in-sample {r.in_sample:.1f}, CV {r.cv:.1f}, gap {r.in_sample - r.cv:.1f}, "
        f"CV x0.8 {r.cv_low:.1f}, CV x1.25 {r.cv_high:.1f}, thresholds {min(r.cv_thresholds):.2f}-"
        f"{max(r.cv_thresholds):.2f}"
    )
    for category in sorted({s.category for s in corpus} - {"artificialNoAnomaly"}):
        members = [i for i, s in enumerate(corpus) if s.category == category]
        raw = sum(r.per_series_cv[i] for i in members)
        null, perfect = swept.null["standard"][members].sum(), swept.perfect["standard"][members].sum()
        print(f"  {category:<24} {normalised(raw, float(null), float(perfect)):>7.1f}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--calibrate", action="store_true", help="rewrite core/analytics/anomaly_calibration.py")
    parser.add_argument(
        "--quick", action="store_true", help="auto detector, standard profile only; print, record nothing (iteration)"
    )
    args = parser.parse_args()
    corpus = load()
    profiles = json.loads((NAB / "config" / "profiles.json").read_text())
    weights = {key: profiles[name]["CostMatrix"] for key, name in PROFILES.items()}
    if args.quick:
        quick(corpus, {"standard": weights["standard"]})
        return
    points = sum(len(s.values) for s in corpus)
    results: dict[str, dict[str, Result]] = {}
    sweeps: dict[str, list[Sweep]] = {}
    ms_per_1k: dict[str, float] = {}
    nested: dict[str, Result] = {}
    for found in DETECTORS:
        timings = [TIMING] + (
            [replace(TIMING, window=w, warmup=w / 4) for w in WINDOWS] if found.name == "auto" else []
        )
        found.scores(corpus[0].values, plan_series(corpus[0].ts, corpus[0].values))  # warm up before timing
        runs = []
        for _ in range(TIMING_RUNS):  # CPU time, fastest of a few: other work on a shared machine only adds time
            started = time.process_time()
            for s in corpus:
                found.scores(s.values, plan_series(s.ts, s.values))
            runs.append(time.process_time() - started)
        ms_per_1k[found.name] = min(runs) / points * 1e6
        sweeps[found.name] = []
        for timing in timings:
            plans = [plan_series(s.ts, s.values, timing) for s in corpus]
            scores = [found.score(s.values, plan) for s, plan in zip(corpus, plans, strict=True)]
            sweeps[found.name].append(sweep(corpus, scores, plans, weights))
        results[found.name] = {p: analyse(sweeps[found.name][:1], p) for p in PROFILES}
        if found.name == "auto":  # the window chosen with the threshold in every fold: does that choice generalise?
            nested = {p: analyse(sweeps[found.name][1:], p) for p in PROFILES}

    auto, base = results["auto"]["standard"], results["zscore"]["standard"]
    chosen = sweeps["auto"][0]
    j_auto = int(np.argmin(np.abs(GRID - auto.threshold)))
    print(f"NAB, {len(corpus)} series; auto detector, standard profile, window {TIMING.window / 3600:g} h")
    print(
        f"{'series':<58} {'step':>6} {'period':>6} {'win':>5} {'refr':>5} {'wins':>4} {'found/false':>11}"
        f" {'in-sample':>9} {'CV thr':>7} {'CV':>7}"
    )
    for i, series in enumerate(corpus):
        plan = plan_series(series.ts, series.values)
        found_, windows, false = chosen.counts[i, j_auto]
        null, perfect = chosen.null["standard"][i], chosen.perfect["standard"][i]
        print(
            f"{series.name:<58} {plan.step_s / 60:>5.0f}m {plan.period or '-':>6} {plan.window:>5} {plan.refractory:>5}"
            f" {windows:>4} {found_:>5}/{false:<5} {normalised(auto.per_series_in[i], null, perfect):>9.1f}"
            f" {auto.cv_thresholds[i]:>7.2f}"
            f" {normalised(auto.per_series_cv[i], null, perfect):>7.1f}"
        )
    print("(per-series NAB normalised between its null and perfect detectors; a series without windows: raw cost)\n")

    print(
        f"{'detector':<9} {'profile':<9} {'thr in':>7} {'in-sample':>9} {'CV':>7} {'gap':>6} {'CV×0.8':>7}"
        f" {'CV×1.25':>7} {'CV thr (median, range)':>24}"
    )
    for name, by_profile in results.items():
        for profile, r in by_profile.items():
            spread = f"{r.calibrated:.2f} ({min(r.cv_thresholds):.2f}–{max(r.cv_thresholds):.2f})"
            print(
                f"{name:<9} {profile:<9} {r.threshold:>7.2f} {r.in_sample:>9.1f} {r.cv:>7.1f}"
                f" {r.in_sample - r.cv:>6.1f} {r.cv_low:>7.1f} {r.cv_high:>7.1f} {spread:>24}"
            )

    categories: dict[str, float] = {}
    for category in sorted({s.category for s in corpus}):
        members = [i for i, s in enumerate(corpus) if s.category == category]
        raw = sum(auto.per_series_cv[i] for i in members)
        categories[category] = normalised(
            raw, float(chosen.null["standard"][members].sum()), float(chosen.perfect["standard"][members].sum())
        )
    print("\nauto, standard profile, cross-validated, per category:")
    for category, value in categories.items():
        print(f"  {category:<24} {value:>7.1f}")
    print("\nscoring cost, ms per 1,000 points:", ", ".join(f"{k} {v:.2f}" for k, v in ms_per_1k.items()))
    print(
        "anchors on the full NAB corpus (58 series, standard): "
        "windowed Gaussian 39.6, relative entropy 54.6, Numenta HTM 70.1, ARTime 74.9"
    )
    totals = [
        tuple(int(x) for x in sweeps[n][0].counts[:, j].sum(axis=0))
        for n, j in (("auto", j_auto), ("zscore", int(np.argmin(np.abs(GRID - base.threshold)))))
    ]
    window = nested["standard"]
    picks = ", ".join(f"{WINDOWS[c] / 3600:g} h × {window.cv_windows.count(c)}" for c in sorted(set(window.cv_windows)))
    print(
        f"\nauto with the window chosen too (12 h … 4 d, inside each fold): in-sample {window.in_sample:.1f}, "
        f"cross-validated {window.cv:.1f} (folds chose {picks}); the window stays fixed at {TIMING.window / 3600:g} h"
    )
    print(f"auto: cross-validated threshold (median of the folds) {auto.calibrated:.3f}")
    if args.calibrate:
        print(f"wrote {CALIBRATION.relative_to(ROOT)}: {write_calibration(auto.calibrated)}")
    record(
        {
            "nab_score_standard": auto.in_sample,
            "nab_score_standard_cv": auto.cv,
            "nab_score_cv_gap": auto.in_sample - auto.cv,
            "nab_score_standard_cv_x0_8": auto.cv_low,
            "nab_score_standard_cv_x1_25": auto.cv_high,
            "nab_score_low_fp": results["auto"]["low_fp"].in_sample,
            "nab_score_low_fp_cv": results["auto"]["low_fp"].cv,
            "nab_score_low_fn_cv": results["auto"]["low_fn"].cv,
            "nab_score_standard_window_chosen": window.in_sample,
            "nab_score_standard_cv_window_chosen": window.cv,
            "nab_score_standard_zscore_baseline": base.in_sample,
            "nab_score_standard_cv_zscore_baseline": base.cv,
            **{f"nab_score_standard_cv_{c}": v for c, v in categories.items() if c != "artificialNoAnomaly"},
            "nab_f1": f1(*totals[0])[2],
            "nab_f1_zscore_baseline": f1(*totals[1])[2],
            **{f"anomaly_{name}_ms_per_1k_points": v for name, v in ms_per_1k.items()},
        }
    )


if __name__ == "__main__":
    main()
