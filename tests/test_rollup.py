"""Rollup tiers equal a direct computation from the final raw samples, however they arrived."""

from __future__ import annotations

import math

import pytest
import sqlalchemy as sa
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy.engine import Engine

from core.config import load_settings
from core.ingest.writer import series_cache, write_batch
from core.model import Sample
from core.store.retention import run_retention
from core.store.rollup import TIER_MS, run_rollup

BASE = 1_780_000_000_000 - 1_780_000_000_000 % 3_600_000 + 1_234  # not bucket-aligned on purpose
HOSTS = ("a", "b", "c")


def reset(engine: Engine) -> None:
    with engine.begin() as connection:
        for table in ("rollup_dirty", "rollup_state", "samples_1m", "samples_5m", "samples_1h", "samples", "series"):
            connection.exec_driver_sql(f"DELETE FROM {table}")
    series_cache(engine).clear()


def sample(host: str, ts: int, value: float) -> Sample:
    return Sample("latency_seconds", (("host", host),), value, ts)


def tier_rows(engine: Engine, tier: str) -> dict[tuple[str, int], tuple[int, float, float, float, float, int]]:
    with engine.connect() as connection:
        rows = connection.exec_driver_sql(
            f'SELECT s.labels, t.bucket, t."count", t."sum", t."min", t."max", t."last", t.last_ts '
            f"FROM samples_{tier} t JOIN series s ON s.id = t.series_id"
        ).fetchall()
    return {
        (labels, bucket): (count, total, low, high, last, last_ts)
        for labels, bucket, count, total, low, high, last, last_ts in rows
    }


def expected(
    raw: dict[tuple[str, int], float], step: int
) -> dict[tuple[str, int], tuple[int, float, float, float, float, int]]:
    groups: dict[tuple[str, int], list[tuple[int, float]]] = {}
    for (host, ts), value in raw.items():
        groups.setdefault((f'{{"host":"{host}"}}', ts - ts % step), []).append((ts, value))
    out = {}
    for key, points in groups.items():
        points.sort()
        values = [v for _, v in points]
        out[key] = (len(values), math.fsum(values), min(values), max(values), points[-1][1], points[-1][0])
    return out


def assert_tiers_match(engine: Engine, raw: dict[tuple[str, int], float]) -> None:
    for tier, step in TIER_MS.items():
        got, want = tier_rows(engine, tier), expected(raw, step)
        assert set(got) == set(want), tier
        for key, (count, total, low, high, last, last_ts) in want.items():
            g = got[key]
            assert (g[0], g[2], g[3], g[4], g[5]) == (count, low, high, last, last_ts), (tier, key)
            assert math.isclose(g[1], total, rel_tol=1e-9, abs_tol=1e-6), (tier, key)


batches = st.lists(
    st.tuples(
        st.lists(
            st.tuples(
                st.sampled_from(HOSTS),
                st.integers(0, 480).map(lambda i: BASE + i * 25_000),  # ~3.3 h: spans 1h buckets, repeats likely
                st.floats(-1e6, 1e6, allow_nan=False, allow_infinity=False),
            ),
            min_size=1,
            max_size=40,
        ),
        st.booleans(),  # run the rollup job after this batch?
    ),
    min_size=1,
    max_size=6,
)


@settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(batches=batches)
def test_rollups_equal_direct_computation_with_late_and_duplicate_samples(engine: Engine, batches) -> None:
    reset(engine)
    raw: dict[tuple[str, int], float] = {}
    for points, roll in batches:
        write_batch(engine, [sample(h, ts, v) for h, ts, v in points], ())
        for h, ts, v in points:
            raw[(h, ts)] = v  # a repeated (series, ts) overwrites, in the store as here
        if roll:
            run_rollup(engine)
    run_rollup(engine)
    assert_tiers_match(engine, raw)
    before = {tier: tier_rows(engine, tier) for tier in TIER_MS}
    again = run_rollup(engine)
    assert again.minutes == 0
    assert {tier: tier_rows(engine, tier) for tier in TIER_MS} == before


def test_rerun_after_marking_everything_dirty_is_idempotent(engine: Engine) -> None:
    reset(engine)
    write_batch(engine, [sample(h, BASE + i * 10_000, float(i)) for h in HOSTS for i in range(700)], ())
    run_rollup(engine)
    before = {tier: tier_rows(engine, tier) for tier in TIER_MS}
    with engine.begin() as connection:
        connection.exec_driver_sql(
            "INSERT INTO rollup_dirty (series_id, bucket, mark) SELECT series_id, bucket, 1 FROM samples_1m"
        )
    stats = run_rollup(engine, chunk=97)  # many small chunks
    assert stats.minutes == len(before["1m"])
    assert {tier: tier_rows(engine, tier) for tier in TIER_MS} == before


def test_a_mark_bumped_during_the_run_survives(engine: Engine) -> None:
    reset(engine)
    write_batch(engine, [sample("a", BASE, 1.0)], ())
    with engine.begin() as connection:
        sid, bucket, mark = connection.exec_driver_sql("SELECT series_id, bucket, mark FROM rollup_dirty").one()
        connection.exec_driver_sql("UPDATE rollup_dirty SET mark = mark + 1")
    from core.store.rollup import _delete_keys

    with engine.begin() as connection:
        p = "%s" if engine.dialect.name == "postgresql" else "?"
        _delete_keys(connection, "rollup_dirty", "bucket", [(sid, bucket, mark)], f" AND mark = {p}")
    with engine.connect() as connection:
        assert connection.exec_driver_sql("SELECT count(*) FROM rollup_dirty").scalar() == 1


def test_sample_arriving_after_raw_retention_is_merged_once(engine: Engine) -> None:
    reset(engine)
    retention = load_settings(retention_raw_hours=1.0)
    old = BASE + 5 * 60_000
    write_batch(engine, [sample("a", old + i * 10_000, 10.0 + i) for i in range(6)], ())  # one full minute
    run_rollup(engine)
    now = BASE + 5 * 3_600_000
    stats = run_retention(engine, retention, now_ms=now)
    assert stats.deleted["samples"] == 6 and stats.raw_horizon_ms > old
    write_batch(
        engine, [sample("a", old + 59_000, 100.0), sample("a", old + 60_000, 7.0)], ()
    )  # late: into two minutes
    merged = run_rollup(engine)
    assert merged.late_samples == 2
    raw = {("a", old + i * 10_000): 10.0 + i for i in range(6)} | {("a", old + 59_000): 100.0, ("a", old + 60_000): 7.0}
    assert_tiers_match(engine, raw)
    with engine.connect() as connection:
        assert connection.exec_driver_sql("SELECT count(*) FROM samples").scalar() == 0  # consumed
    run_rollup(engine)
    assert_tiers_match(engine, raw)  # not merged twice


def test_retention_waits_for_the_rollup_before_deleting_raw(engine: Engine) -> None:
    reset(engine)
    write_batch(engine, [sample("a", BASE + i * 10_000, 1.0) for i in range(30)], ())
    late_now = BASE + 3 * 86_400_000
    stats = run_retention(engine, load_settings(), now_ms=late_now)
    assert stats.raw_waiting_for_rollup and stats.deleted["samples"] == 0
    run_rollup(engine)
    stats = run_retention(engine, load_settings(), now_ms=late_now)
    assert stats.deleted["samples"] == 30
    assert tier_rows(engine, "1m")  # the minutes survived in the tier


@pytest.mark.parametrize("values", [[5.0, 1.0, 3.0], [-2.5, -2.5, 0.0]])
def test_last_is_the_value_with_the_latest_timestamp_not_the_latest_write(engine: Engine, values: list[float]) -> None:
    reset(engine)
    write_batch(engine, [sample("a", BASE + 50_000, values[0])], ())
    write_batch(engine, [sample("a", BASE + 10_000, values[1]), sample("a", BASE + 30_000, values[2])], ())
    run_rollup(engine)
    (row,) = tier_rows(engine, "1m").values()
    assert row[4] == values[0] and row[5] == BASE + 50_000
    assert row[0] == 3


def test_rows_without_raw_data_are_removed_on_recompute(engine: Engine) -> None:
    reset(engine)
    write_batch(engine, [sample("a", BASE + 1_000, 1.0)], ())
    run_rollup(engine)
    with engine.begin() as connection:
        connection.execute(sa.text("DELETE FROM samples"))
        connection.exec_driver_sql(
            "INSERT INTO rollup_dirty (series_id, bucket, mark) SELECT series_id, bucket, 1 FROM samples_1m"
        )
    run_rollup(engine)
    assert all(not tier_rows(engine, tier) for tier in TIER_MS)
