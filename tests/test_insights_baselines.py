"""Baselines per hour of the week, their bands, drift, the component score and the job that stores them."""

from __future__ import annotations

import numpy as np
import polars as pl
import pytest

from core import query
from core.config import load_settings
from core.ingest.writer import write_batch
from core.insights import baselines as bl
from core.insights import score
from core.insights.job import run_insights
from core.model import Sample, now_ms
from core.store.collector_state import get_state
from core.store.rollup import run_rollup

H = 3_600_000
WEEK = 168 * H
MONDAY = 1_700_438_400_000  # 2023-11-20 00:00 UTC, a Monday


def test_slot_is_the_hour_of_the_week_from_monday():
    frame = pl.DataFrame({"ts": [MONDAY, MONDAY + 25 * H, MONDAY + WEEK - H, 0]})
    assert frame.select(bl.slot(pl.col("ts")))["ts"].to_list() == [0, 25, 167, 72]  # 1970-01-01: Thursday


def test_a_daily_peak_gets_its_own_band_and_the_quiet_hours_theirs():
    """Three weeks of hourly values: 100 at 10:00 every day, 10 otherwise (± 1). The 10:00 band sits around 100,
    the 03:00 band around 10, and an hour-of-week slot with too few values falls back to the rolling band."""
    ts = np.arange(MONDAY, MONDAY + 3 * WEEK, H)
    rng = np.random.default_rng(0)
    values = np.where((ts // H) % 24 == 10, 100.0, 10.0) + rng.normal(0, 1, ts.size)
    table = bl.compute(pl.DataFrame({"series": "s", "ts": ts, "value": values}))
    assert table.filter(pl.col("slot") == bl.ROLLING)["n"].item() == ts.size
    probe = pl.DataFrame({"series": ["s", "s"], "ts": [MONDAY + 3 * WEEK + 10 * H, MONDAY + 3 * WEEK + 3 * H]})
    banded = bl.bands(probe, table, sigma=3.0, min_samples=3)
    peak, quiet = banded.row(0, named=True), banded.row(1, named=True)
    assert 97 < peak["expected"] < 103 and quiet["expected"] == pytest.approx(10, abs=1.5)
    assert quiet["hi"] < 20 < peak["lo"]
    rolling = bl.bands(probe, table, sigma=3.0, min_samples=4)  # 3 values per slot: not enough, rolling band
    assert rolling["expected"].n_unique() == 1 and rolling["expected"][0] == pytest.approx(13.75, abs=1)


def test_a_flat_series_still_has_a_band_a_real_change_leaves():
    table = bl.compute(pl.DataFrame({"series": "s", "ts": np.arange(0, 48 * H, H), "value": 2.0}))
    band = bl.bands(pl.DataFrame({"series": ["s"], "ts": [0]}), table, sigma=3.0, min_samples=1).row(0, named=True)
    assert band["lo"] == pytest.approx(1.7) and band["hi"] == pytest.approx(2.3)  # 3 × 5 % of 2


def recent(values: list[float]) -> pl.DataFrame:
    n = len(values)
    return pl.DataFrame(
        {"series": "s", "ts": np.arange(n) * 60_000, "value": values, "expected": 1.0, "lo": 0.5, "hi": 1.5}
    )


def test_drift_needs_the_newest_values_outside_the_band_long_enough():
    inside_then_out = recent([1.0] * 10 + [3.0] * 30)
    (drift,) = bl.drifts(inside_then_out, min_minutes=30, step_ms=60_000)
    assert (drift.direction, drift.minutes, drift.since_ms) == ("above", 30.0, 10 * 60_000)
    assert bl.drifts(recent([1.0] * 11 + [3.0] * 29), min_minutes=30, step_ms=60_000) == []  # one minute short
    assert bl.drifts(recent([3.0] * 30 + [1.0]), min_minutes=30, step_ms=60_000) == []  # back inside: over
    assert bl.drifts(recent([3.0] * 15 + [0.0] * 15), min_minutes=30, step_ms=60_000) == []  # sides switch
    (low,) = bl.drifts(recent([0.1] * 45), min_minutes=30, step_ms=60_000)
    assert low.direction == "below"


def test_component_score_falls_with_distance_past_the_band_and_with_saturation():
    banded = pl.DataFrame(
        {
            "series": [
                'api_request_duration_seconds{endpoint="/a", quantile="0.95"}',
                'api_errors_percent{endpoint="/a"}',
                'system_cpu_percent{host="h"}',
            ],
            "value": [1.5, 0.1, 90.0],
            "expected": [1.0, 0.2, 88.0],
            "hi": [1.25, 0.3, 95.0],
        }
    )
    signals = score.signal_scores(banded)
    by = dict(zip(signals["series"], signals["score"], strict=True))
    assert by[banded["series"][0]] == pytest.approx(50.0)  # one half-width past the edge
    assert by[banded["series"][1]] == 100.0
    assert by[banded["series"][2]] == pytest.approx(50.0)  # inside its band, but 10 points over 80 %
    table = score.component_scores(signals)
    rows = {r["component"]: r for r in table.iter_rows(named=True)}
    assert rows["endpoint /a"]["score"] == pytest.approx((0.4 * 50 + 0.4 * 100) / 0.8)
    assert rows["host h"]["score"] == pytest.approx(50.0)
    assert score.overall(table) == pytest.approx((75.0 + 50.0) / 2)


def test_the_job_stores_baselines_and_scores_and_refreshes_only_when_stale(engine):
    settings = load_settings(database_url=engine.url.render_as_string(hide_password=False), baseline_days=2)
    now = now_ms() // H * H
    ts = np.arange(now - 2 * 24 * H, now, 5 * 60_000)
    write_batch(engine, [Sample.of("system_cpu_percent", {"host": "h1"}, 40.0 + (t // H) % 2, int(t)) for t in ts], [])
    run_rollup(engine, now)
    query.clear_cache()
    first = run_insights(engine, settings, now)
    assert first.refreshed and first.baseline_rows > 0 and first.components == 1
    table, computed = bl.load(engine)
    assert computed == now and set(table["series"]) == {'system_cpu_percent{host="h1"}'}
    stored = get_state(engine, "insights", "scores")
    assert stored is not None and stored["components"][0]["component"] == "host h1"
    assert stored["overall"] == 100.0
    assert not run_insights(engine, settings, now + 10 * 60_000).refreshed
    assert run_insights(engine, settings, now + H).refreshed
    query.clear_cache()


def test_with_less_than_a_day_of_history_every_run_recomputes(sqlite_engine):
    """A fresh install or the demo back-filling: a baseline of the first minutes must not stand for an hour."""
    engine = sqlite_engine
    settings = load_settings(database_url=engine.url.render_as_string(hide_password=False))
    now = now_ms() // H * H
    ts = np.arange(now - 3 * H, now, 5 * 60_000)
    write_batch(engine, [Sample.of("system_cpu_percent", {"host": "h1"}, 40.0, int(t)) for t in ts], [])
    run_rollup(engine, now)
    query.clear_cache()
    assert run_insights(engine, settings, now).refreshed
    assert run_insights(engine, settings, now + 5 * 60_000).refreshed
    query.clear_cache()


def test_a_band_around_a_non_negative_value_stops_at_zero():
    table = bl.compute(pl.DataFrame({"series": "s", "ts": np.arange(0, 48 * H, H), "value": [0.0, 2.0] * 24}))
    band = bl.bands(pl.DataFrame({"series": ["s"], "ts": [0]}), table, sigma=3.0, min_samples=2).row(0, named=True)
    # one value per slot: the rolling band, mean 1 ± 3 × 1.01
    assert band["lo"] == 0.0 and band["hi"] > 3.9
