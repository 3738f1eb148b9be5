"""Aggregates the store computes (core/query/aggregate.py) equal the Python ones over the same rows, on both stores."""

from __future__ import annotations

import random
from collections.abc import Iterator

import polars as pl
import pytest
from sqlalchemy.engine import Engine

from core import query
from core.config import load_settings
from core.ingest.writer import write_batch
from core.model import Sample
from core.query import aggregate
from core.query.series import buckets
from core.store.rollup import run_rollup

MIN, HOUR, DAY = 60_000, 3_600_000, 86_400_000
NOW = 498_611 * HOUR
SETTINGS = load_settings()
POINTS = SETTINGS.max_data_points  # what across() reads at by default, as a chart does


@pytest.fixture(autouse=True)
def _fresh_cache() -> Iterator[None]:
    query.clear_cache()
    yield
    query.clear_cache()


def _small(engine: Engine) -> None:
    """cpu for three series in two hosts, two samples a minute each, over the last three minutes."""
    rows = {
        ("a", "1"): [1.0, 3.0, 5.0, 7.0, 9.0, 11.0],
        ("a", "2"): [2.0, 2.0, 4.0, 4.0, 6.0, 6.0],
        ("b", "1"): [10.0, 20.0, 30.0, 40.0, 50.0, 60.0],
    }
    samples = [
        Sample("cpu", (("core", core), ("host", host)), v, NOW - 3 * MIN + i * 30_000)
        for (host, core), values in rows.items()
        for i, v in enumerate(values)
    ]
    write_batch(engine, samples, ())
    run_rollup(engine)


def test_a_hand_checked_avg_by_host_per_minute(engine: Engine) -> None:
    _small(engine)
    frame = aggregate.across(
        engine, "cpu", NOW - 3 * MIN, NOW, agg="avg", combine="avg", by=["host"], step_ms=MIN, now_ms=NOW
    )
    # host a, minute 1: series a/1 averages (1+3)/2 = 2, a/2 averages 2: their mean is 2. Minute 2: (6 + 4)/2 = 5 ...
    assert frame.columns == ["ts", "host", "value", "series"]
    got = {(h, int(t.timestamp() * 1000)): v for t, h, v, _ in frame.iter_rows()}
    start = NOW - 3 * MIN
    assert got == {
        ("a", start): 2.0,
        ("a", start + MIN): 5.0,
        ("a", start + 2 * MIN): 8.0,
        ("b", start): 15.0,
        ("b", start + MIN): 35.0,
        ("b", start + 2 * MIN): 55.0,
    }
    assert frame["series"].unique().sort().to_list() == ["host=a", "host=b"]
    total = aggregate.across(engine, "cpu", NOW - 3 * MIN, NOW, agg="max", combine="sum", step_ms=MIN, now_ms=NOW)
    assert total["value"].to_list() == [3.0 + 2.0 + 20.0, 7.0 + 4.0 + 40.0, 11.0 + 6.0 + 60.0]
    assert total["series"].unique().to_list() == ["all"]


def test_a_hand_checked_ranking_and_period_figures(engine: Engine) -> None:
    _small(engine)
    qplan = query.plan(NOW - 3 * MIN, NOW, NOW, SETTINGS, step_ms=MIN)
    found = query.find_series(engine, "cpu")
    ids = dict(zip(found["series"], found["series_id"], strict=True))
    for stat, want in {
        "max": {"a1": 11.0, "a2": 6.0, "b1": 60.0},
        "mean": {"a1": 6.0, "a2": 4.0, "b1": 35.0},
        "min": {"a1": 1.0, "a2": 2.0, "b1": 10.0},
        "last": {"a1": 11.0, "a2": 6.0, "b1": 60.0},
    }.items():
        ranked = dict(aggregate.rank(engine, list(ids.values()), qplan, stat).iter_rows())  # type: ignore[arg-type]
        named = {
            f"{h}{c}": ranked[ids[f'cpu{{core="{c}", host="{h}"}}']] for h, c in (("a", "1"), ("a", "2"), ("b", "1"))
        }
        assert named == want, stat
    earlier = query.plan(NOW - 6 * MIN, NOW - 3 * MIN, NOW, SETTINGS, step_ms=MIN)
    figures = aggregate.period_figures(engine, found, [qplan, earlier], "avg")
    assert figures == [(36 + 24 + 210) / 18, None]  # 15.0
    assert aggregate.period_figures(engine, found, [qplan], "count") == [18.0]
    assert aggregate.period_figures(engine, found, [qplan], "last")[0] in (11.0, 6.0, 60.0)  # all three at one time


def _random_store(engine: Engine, seed: int) -> None:
    rng = random.Random(seed)
    samples = [
        Sample("load", (("host", f"h{h}"), ("disk", f"d{d}")), round(rng.uniform(-50, 100), 3), ts)
        for h in range(4)
        for d in range(3)
        for ts in range(NOW - 2 * DAY, NOW, 15_000)
        if rng.random() < 0.8  # gaps, so series differ in how many samples a bucket holds
    ]
    write_batch(engine, samples, ())
    run_rollup(engine)
    write_batch(engine, [Sample("load", (("host", "h0"), ("disk", "d0")), 500.0, NOW - 20_000)], ())  # unrolled tail


@pytest.mark.parametrize("span", [HOUR, DAY, 2 * DAY])
def test_store_aggregates_equal_python_aggregates_of_the_same_rows(engine: Engine, span: int) -> None:
    _random_store(engine, 5)
    for agg in aggregate.STORE_AGGS:
        frame = query.series(engine, "load", NOW - span, NOW, agg=agg, now_ms=NOW, settings=SETTINGS, max_points=POINTS)
        for by in ([], ["host"], ["host", "disk"]):
            for combine in aggregate.COMBINES:
                stored = aggregate.across(
                    engine, "load", NOW - span, NOW, agg=agg, combine=combine, by=by, now_ms=NOW, settings=SETTINGS
                )
                python = query.group_by_label(frame, by, combine)  # type: ignore[arg-type]
                columns = ["ts", *by, "series", "value"]
                left = stored.select(columns).sort(columns[:-1])
                right = python.select(columns).sort(columns[:-1])
                assert left.height == right.height > 0, (agg, by, combine)
                assert left.drop("value").equals(right.drop("value"))
                assert (left["value"] - right["value"]).abs().max() < 1e-9 * max(1.0, right["value"].abs().max())  # type: ignore[operator]
        whole = buckets(engine, "load", NOW - span, NOW, now_ms=NOW, settings=SETTINGS, max_points=POINTS)
        qplan = whole.plan
        figure = aggregate.period_figures(engine, whole.series, [qplan], agg)[0]
        assert figure == pytest.approx(query.scalar(whole.frame, agg), rel=1e-12)
    ids = query.find_series(engine, "load")["series_id"].to_list()
    frame = query.series(engine, "load", NOW - span, NOW, agg="max", now_ms=NOW, settings=SETTINGS, max_points=POINTS)
    ranked = aggregate.rank(engine, ids, qplan, "max").sort("series_id")
    python_max = frame.group_by("series_id").agg(pl.col("value").max()).sort("series_id")
    assert ranked["value"].to_list() == python_max["value"].to_list()


def test_last_and_rate_are_left_to_python(engine: Engine) -> None:
    with pytest.raises(ValueError, match="not 'last'"):
        aggregate.across(engine, "load", NOW - HOUR, NOW, agg="last", now_ms=NOW)
