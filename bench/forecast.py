"""Forecast backtest: Prophet (core.analytics.forecast) against seasonal-naive and last-value baselines.

Series: the twelve vendored NAB files (tests/data/nab, real and artificial, 5- and 30-minute
data) and five series of the demo workload (collectors/demo.py, 35 days at 5 minutes, generated
in memory: a review-queue depth, an agent's load, the QMS database pool, an endpoint's request
rate, the migration's operations per second).

Rolling origin: for each horizon (1 h, 24 h, 7 d) and series, up to :data:`ORIGINS` origins
spread evenly over the part of the series that has the plan's history before it (at least
:data:`MIN_HISTORY_DAYS`, at most :func:`core.analytics.forecast.plan_for`'s) and a whole horizon
after it. At each origin every model sees the same history (bucketed at the plan's step, or the
data's own when coarser) and is scored on the horizon that follows:

* MAE; MAPE, or sMAPE for a series whose actuals come within 1 % of zero (CPU idling at 0.0x %
  makes MAPE meaningless) — the same measure for every model of that series, marked ``s``;
* coverage: share of actuals inside Prophet's 80 % interval;
* fit time per series (Prophet only; the baselines cost microseconds).

Models: ``prophet`` (the module as the app runs it), ``seasonal_naive`` (the same time one day
earlier; for 1 h, the last day's value at that time of day), ``last_value`` (the newest value
held). Nothing here is tuned on these series: the module's settings (history length, Fourier
orders, changepoint prior, growth bounds) are fixed in core/analytics/forecast.py and said why
there.

Figures: forecast_mape_prophet / _seasonal_naive / _last_value (24 h horizon, mean over
series of the per-series error), forecast_mape_<model>_1h / _7d, forecast_coverage_80 (24 h),
forecast_coverage_80_1h / _7d, forecast_prophet_wins_24h (series where Prophet's error is below
seasonal-naive's, of forecast_series_24h), forecast_fit_s (median fit of one week of
5-minute data), and forecast_page_ms (Capacity page script on stored forecasts, median of 5
warm AppTest runs; --no-page skips it).
"""

from __future__ import annotations

import argparse
import math
import statistics
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import polars as pl

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.common import ROOT, pages_read, record
from core.analytics import forecast as fc

NAB = ROOT / "tests" / "data" / "nab" / "data"
DAY_MS = 86_400_000
HOUR_S = 3600.0
HORIZONS = {"1h": HOUR_S, "24h": 24 * HOUR_S, "7d": 7 * 24 * HOUR_S}
ORIGINS = 5
MIN_HISTORY_DAYS = {"1h": 2, "24h": 7, "7d": 14}
MODELS = ("prophet", "seasonal_naive", "last_value", "served")


@dataclass(frozen=True)
class Series:
    name: str
    ts: np.ndarray
    values: np.ndarray
    percent: bool


def nab_series() -> list[Series]:
    out = []
    for path in sorted(NAB.rglob("*.csv")):
        frame = pl.read_csv(path, try_parse_dates=True).drop_nulls()
        ts = frame["timestamp"].dt.epoch("ms").to_numpy()
        name = path.stem
        out.append(Series(f"nab/{name}", ts, frame["value"].cast(pl.Float64).to_numpy(), "cpu_utilization" in name))
    return out


def demo_series(days: int = 35) -> list[Series]:
    """Five demo series every 5 minutes over ``days`` days, as the demo collector would write them."""
    from collectors.demo import DemoWorkload, _Depth
    from collectors.demo_workflow import DAY, MIN

    end = 1_764_547_200_000  # 2025-12-01 00:00 UTC: a fixed anchor, so every run sees the same data
    workload = DemoWorkload(7, end)
    wanted = {
        ("qms_queue_depth", "progress_review"): "demo/queue_depth_progress_review",
        ("qms_agent_load_percent", "qms-code-reviewer-1"): "demo/agent_load_code_reviewer_1",
        ("db_connection_pool_used_percent", "qms-primary"): "demo/db_pool_used_percent",
        ("api_requests_per_second", "/api/v1/workflows"): "demo/api_requests_workflows",
        ("migration_operations_per_second", ""): "demo/migration_ops",
    }
    rows: dict[str, list[tuple[int, float]]] = {v: [] for v in wanted.values()}
    for day_start in range(end - days * DAY, end, DAY):
        prs = workload.prs(day_start, day_start + DAY)
        times = range(day_start + 5 * MIN, day_start + DAY + 1, 5 * MIN)
        for sample in workload.samples(times, prs, _Depth(prs)):
            labels = dict(sample.labels)
            key = (sample.name, next((v for k, v in labels.items() if k != "source"), ""))
            if key in wanted:
                rows[wanted[key]].append((sample.ts, sample.value))
    out = []
    for name, pairs in rows.items():
        if pairs:
            ts, values = np.array(pairs).T
            out.append(Series(name, ts.astype(np.int64), values.astype(np.float64), name.endswith("percent")))
    return out


def bucketed(series: Series, step_ms: int) -> tuple[np.ndarray, np.ndarray, int]:
    return fc.resample(series.ts, series.values, step_ms)


def origins(ts: np.ndarray, horizon_ms: int, history_ms: int) -> list[int]:
    """Up to ORIGINS indexes with ``history_ms`` before and a whole horizon after, evenly spread."""
    first = int(np.searchsorted(ts, ts[0] + history_ms))
    last = int(np.searchsorted(ts, ts[-1] - horizon_ms, "right")) - 1
    if last < first:
        return []
    return sorted({int(i) for i in np.linspace(first, last, min(ORIGINS, last - first + 1))})


def error(actual: np.ndarray, predicted: np.ndarray, weighted: bool) -> float:
    """MAPE in percent; WAPE (Σ|error| ÷ Σ|actual|) for a series whose actuals touch zero."""
    if weighted:
        return float(np.abs(actual - predicted).sum() / max(float(np.abs(actual).sum()), 1e-12) * 100)
    return float((np.abs(actual - predicted) / np.abs(actual)).mean() * 100)


@dataclass
class Score:
    """One series at one horizon: actuals and each model's predictions over every origin, pooled."""

    actual: list[np.ndarray]
    predicted: dict[str, list[np.ndarray]]
    covered: list[float]
    fit_s: list[float]
    weighted: bool
    points: list[int]
    served_prophet: list[bool]
    covered_served: list[float]

    def pct(self, model: str) -> float:
        """The model's percentage error; NaN when every actual is 0 (WAPE has no scale then)."""
        actual = np.concatenate(self.actual)
        if self.weighted and not np.abs(actual).sum():
            return math.nan
        return error(actual, np.concatenate(self.predicted[model]), self.weighted)

    def mae(self, model: str) -> float:
        return float(np.abs(np.concatenate(self.actual) - np.concatenate(self.predicted[model])).mean())


def inside(actual: np.ndarray, low: np.ndarray, high: np.ndarray) -> float:
    return float(((actual >= low) & (actual <= high)).mean())


def backtest(series: Series, label: str, horizon_s: float) -> Score | None:
    plan = fc.plan_for(horizon_s)
    ts, ys, step = bucketed(series, plan.step_ms)
    horizon_ms = int(horizon_s * 1000)
    history_ms = min(int(plan.history_s * 1000), MIN_HISTORY_DAYS[label] * DAY_MS)
    picked = origins(ts, horizon_ms, history_ms)
    if not picked:
        return None
    near_zero = bool((np.abs(ys) < 0.01 * max(float(np.mean(np.abs(ys))), 1e-9)).any())
    score = Score([], {m: [] for m in MODELS}, [], [], near_zero, [], [], [])
    bounds = fc.PERCENT if series.percent else fc.bounds_for(series.name, ys)
    for at in picked:
        lo = int(np.searchsorted(ts, ts[at] - int(plan.history_s * 1000)))
        hist_ts, hist_ys = ts[lo : at + 1], ys[lo : at + 1]
        n = round(horizon_ms / step)
        actual = ys[at + 1 : at + 1 + n]
        if len(actual) < n or not len(actual):
            continue
        fitted = fc.forecast(hist_ts, hist_ys, horizon_s, bounds=bounds, step_ms=step)
        if not fitted.ok:
            continue
        naive = fc.seasonal_naive(hist_ts, hist_ys, horizon_s)[:n]
        choice = fc.choose(hist_ts, hist_ys, horizon_s, bounds=bounds, step_ms=step)  # this history only
        prophet_serves = choice.model == "prophet" or not len(choice.residuals)
        score.actual.append(actual)
        score.predicted["prophet"].append(fitted.yhat[:n])
        score.predicted["seasonal_naive"].append(naive)
        score.predicted["last_value"].append(fc.last_value(hist_ys, horizon_s, step)[:n])
        score.predicted["served"].append(fitted.yhat[:n] if prophet_serves else naive)
        score.covered.append(inside(actual, fitted.q[0.1][:n], fitted.q[0.9][:n]))
        if prophet_serves:
            score.covered_served.append(score.covered[-1])
        else:
            low, high = np.quantile(choice.residuals, [0.1, 0.9])
            score.covered_served.append(inside(actual, naive + low, naive + high))
        score.served_prophet.append(prophet_serves)
        if fitted.model == "prophet":
            score.fit_s.append(fitted.fit_s)
            score.points.append(fitted.points)
    return score if score.covered else None


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--no-page", action="store_true", help="skip the Capacity page timing")
    parser.add_argument("--only", default="", help="substring of the series names to run (exploration)")
    parser.add_argument("--dry", action="store_true", help="print the figures, do not record them")
    parser.add_argument(
        "--horizon", choices=list(HORIZONS), action="append", help="run only this horizon (repeatable; exploration)"
    )
    args = parser.parse_args()
    corpus = [s for s in nab_series() + demo_series() if args.only in s.name]
    figures: dict[str, float] = {}
    week_fits: list[float] = []
    for label, horizon_s in HORIZONS.items():
        if args.horizon and label not in args.horizon:
            continue
        print(f"\nhorizon {label}: error per series over its origins — MAPE %, or WAPE % (w) where actuals touch zero")
        print(
            f"{'series':<40} {'n':>2} {'prophet':>8} {'s-naive':>8} {'last':>8} {'served':>8} {'by':>7}  "
            f"{'MAE prophet':>11} {'MAE s-naive':>11} {'cov80':>5} {'fit s':>5}"
        )
        per_model: dict[str, list[float]] = {m: [] for m in MODELS}
        coverage: list[float] = []
        coverage_served: list[float] = []
        served_by_prophet: list[bool] = []
        wins = 0
        for series in corpus:
            score = backtest(series, label, horizon_s)
            if score is None:
                continue
            means = {m: score.pct(m) for m in MODELS}
            fit = statistics.median(score.fit_s) if score.fit_s else 0.0
            mark = "w" if score.weighted else " "
            share = sum(score.served_prophet) / len(score.served_prophet)
            cells = " ".join(f"{means[m]:>7.1f}{mark}" if math.isfinite(means[m]) else f"{'—':>8}" for m in MODELS)
            by = "P" * round(share * 5) + "n" * round((1 - share) * 5)  # which model served, per fifth of origins
            print(
                f"{series.name:<40} {len(score.covered):>2} {cells} {by:>7}  "
                f"{score.mae('prophet'):>11.4g} {score.mae('seasonal_naive'):>11.4g} "
                f"{statistics.fmean(score.covered):>5.2f} {fit:>5.2f}"
            )
            coverage.append(statistics.fmean(score.covered))
            coverage_served.append(statistics.fmean(score.covered_served))
            served_by_prophet.extend(score.served_prophet)
            if label == "24h":
                week_fits.extend(f for f, n in zip(score.fit_s, score.points, strict=True) if n >= 2000)
            if not math.isfinite(means["prophet"]):
                continue  # every actual 0: no percentage error; shown above, left out of the means
            for m in MODELS:
                per_model[m].append(means[m])
            wins += means["prophet"] < means["seasonal_naive"]
        if not coverage:
            continue
        aggregate = {m: statistics.fmean(v) for m, v in per_model.items()}
        print(
            f"{'mean over ' + str(len(per_model['prophet'])) + ' series':<40}    "
            + " ".join(f"{aggregate[m]:>7.1f} " for m in MODELS)
            + f"\nProphet's error below seasonal-naive's on {wins} of {len(per_model['prophet'])} series; "
            f"80 % interval coverage {statistics.fmean(coverage):.2f} "
            f"(served model {statistics.fmean(coverage_served):.2f}); "
            f"Prophet served {sum(served_by_prophet)} of {len(served_by_prophet)} forecasts"
        )
        suffix = "" if label == "24h" else f"_{label}"
        for m in MODELS:
            figures[f"forecast_mape_{m}{suffix}"] = aggregate[m]
        figures[f"forecast_coverage_80{suffix}"] = statistics.fmean(coverage)
        figures[f"forecast_coverage_80_served{suffix}"] = statistics.fmean(coverage_served)
        figures[f"forecast_share_prophet{suffix}"] = sum(served_by_prophet) / len(served_by_prophet)
        figures[f"forecast_prophet_wins{suffix}"] = float(wins)
        figures[f"forecast_series{suffix}"] = float(len(per_model["prophet"]))
    if week_fits:
        figures["forecast_fit_s"] = statistics.median(week_fits)
        print(
            f"\nProphet fit, one week of 5-minute buckets: median {statistics.median(week_fits):.2f} s "
            f"over {len(week_fits)} fits"
        )
    if not args.no_page and not args.only:
        figures["forecast_page_ms"] = page_ms()
    print()
    if not (args.only or args.dry or args.horizon):
        record(figures)
    else:
        for name, value in figures.items():
            print(f"  {name:<36} {value:>10.3f}")


def page_ms(runs: int = 5) -> float:
    """Median warm AppTest run of pages/capacity.py on a store whose forecasts the job has fitted.

    The store: 30 days of the demo workload (queues, the QMS database pool, QSE sessions, the migration) plus
    three days of system metrics (CPU, memory, two disks) every 5 minutes, rolled up; then one forced run of
    the forecast job stores every forecast, as a server does within a minute of start.
    """
    import tempfile

    from collectors.demo import BACKFILL_STEP, DemoCollector, DemoWorkload
    from core.config import load_settings
    from core.forecasting.job import run_forecasts
    from core.ingest.writer import write_batch
    from core.model import Sample
    from core.store.engine import make_engine
    from core.store.migrate import upgrade
    from core.store.rollup import run_rollup

    tmp = Path(tempfile.mkdtemp(prefix="pulseboard-bench-forecast-"))
    url = f"sqlite:///{tmp / 'pulseboard.db'}"
    settings = load_settings(database_url=url, data_dir=tmp, demo=False, collectors=False)
    engine = make_engine(url)
    upgrade(engine)
    now = int(time.time() * 1000) // 60_000 * 60_000
    collector = DemoCollector(engine, settings)
    collector.workload = DemoWorkload(7, now)
    collector.generate(now - 30 * DAY_MS, now, BACKFILL_STEP)
    ts = np.arange(now - 3 * DAY_MS, now, 300_000)
    rng = np.random.default_rng(1)
    daily = np.sin(2 * np.pi * (ts % DAY_MS) / DAY_MS)
    fs = {"host": "bench", "device": "/dev/sda1", "fstype": "ext4"}
    system = {
        ("system_cpu_percent", ()): 35 + 20 * daily + rng.normal(0, 4, len(ts)),
        ("system_memory_used_percent", ()): 60 + 0.2 * (ts - ts[0]) / 3_600_000 + rng.normal(0, 1, len(ts)),
        ("system_filesystem_used_percent", (("mount", "/"),)): 40 + 0.1 * (ts - ts[0]) / 3_600_000,
        ("system_filesystem_used_percent", (("mount", "/data"),)): 70 + 0.3 * (ts - ts[0]) / 3_600_000,
    }
    samples = [
        Sample.of(name, {"host": "bench", **(fs if extra else {}), **dict(extra)}, float(v), int(t))
        for (name, extra), values in system.items()
        for t, v in zip(ts, values, strict=True)
    ]
    write_batch(engine, samples, [])
    run_rollup(engine, now)
    started = time.perf_counter()
    report = run_forecasts(engine, settings, now, force=True)
    print(f"\nforecast job on the page's store: {report.rows} rows in {time.perf_counter() - started:.1f} s")
    engine.dispose()
    pages_read(url, tmp)
    from streamlit.testing.v1 import AppTest

    times = []
    for _ in range(runs + 1):
        at = AppTest.from_file(str(ROOT / "pages" / "capacity.py"), default_timeout=120)
        started = time.perf_counter()
        at.run()
        times.append((time.perf_counter() - started) * 1000)
        if at.exception:
            raise RuntimeError([e.value for e in at.exception])
    print(f"Capacity page script: cold {times[0]:.0f} ms, warm median {statistics.median(times[1:]):.0f} ms")
    return statistics.median(times[1:])


if __name__ == "__main__":
    main()
