"""Retention removes exactly what is past its age, in chunks, and gives SQLite space back."""

from __future__ import annotations

import sqlalchemy as sa
from sqlalchemy.engine import Engine

from core.config import load_settings
from core.ingest.writer import write_batch
from core.model import Event, Sample
from core.store import retention, schema
from core.store.retention import cutoffs, run_retention
from core.store.rollup import run_rollup

NOW = 1_790_000_000_000 + 12_345
MIN, HOUR, DAY = 60_000, 3_600_000, 86_400_000


def _series_id(engine: Engine) -> int:
    write_batch(engine, [Sample("disk_bytes", (("host", "a"),), 1.0, NOW - 2 * DAY)], ())
    run_rollup(engine)
    with engine.begin() as connection:
        for table in ("samples", "samples_1m", "samples_5m", "samples_1h"):
            connection.exec_driver_sql(f"DELETE FROM {table}")
        return int(connection.execute(sa.select(schema.series.c.id)).scalar_one())


def _buckets(engine: Engine, tier: str) -> list[int]:
    with engine.connect() as connection:
        return sorted(connection.scalars(sa.text(f"SELECT bucket FROM samples_{tier}")))


def test_each_tier_loses_exactly_the_rows_past_its_age(engine: Engine) -> None:
    settings = load_settings()
    cut = cutoffs(settings, NOW)
    sid = _series_id(engine)
    placed: dict[str, list[int]] = {}
    with engine.begin() as connection:
        for tier, step in (("1m", MIN), ("5m", 5 * MIN), ("1h", HOUR)):
            edge = cut.tiers[tier]
            placed[tier] = [edge - 3 * step, edge - step, edge, edge + step, NOW - NOW % step]
            connection.execute(
                schema.ROLLUP_TABLES[tier].insert(),
                [
                    {
                        "series_id": sid,
                        "bucket": b,
                        "count": 1,
                        "sum": 1.0,
                        "min": 1.0,
                        "max": 1.0,
                        "last": 1.0,
                        "last_ts": b,
                    }
                    for b in placed[tier]
                ],
            )
    stats = run_retention(engine, settings, now_ms=NOW)
    assert stats.finished
    for tier, buckets in placed.items():
        assert _buckets(engine, tier) == [b for b in buckets if b >= cut.tiers[tier]], tier
        assert stats.deleted[f"samples_{tier}"] == 2
    assert cut.tiers["1m"] == (NOW - 7 * DAY) - (NOW - 7 * DAY) % HOUR
    assert cut.tiers["1h"] == (NOW - 400 * DAY) - (NOW - 400 * DAY) % HOUR


def test_raw_samples_older_than_24h_go_and_the_horizon_records_it(engine: Engine) -> None:
    ages = [30 * HOUR, 24 * HOUR + 2 * MIN, 24 * HOUR - 30_000, 23 * HOUR, MIN]
    write_batch(engine, [Sample("up", (), 1.0, NOW - age) for age in ages], ())
    run_rollup(engine)
    stats = run_retention(engine, load_settings(), now_ms=NOW)
    cut = cutoffs(load_settings(), NOW).raw
    with engine.connect() as connection:
        kept = sorted(connection.scalars(sa.text("SELECT ts FROM samples")))
    assert kept == sorted(NOW - a for a in ages if NOW - a >= cut)
    assert stats.deleted["samples"] == 2 and stats.raw_horizon_ms == cut
    assert len(_buckets(engine, "1m")) == len(ages)  # the rollups keep what raw lost


def test_events_by_age_with_compliance_kept_three_years(engine: Engine, monkeypatch) -> None:
    monkeypatch.setattr(retention, "EVENTS_PER_CHUNK", 3)  # force several chunks
    ages = {"old": 91 * DAY, "fresh": 89 * DAY}
    events = [
        Event(f"{name}-{i}", "workflow.step_completed", NOW - age, "t") for name, age in ages.items() for i in range(7)
    ]
    events += [
        Event("qa-1", "qa.compliance_check", NOW - 400 * DAY, "t"),
        Event("qse-1", "qse.compliance_scored", NOW - 1000 * DAY, "t"),
        Event("qse-2", "qse.session_started", NOW - 1096 * DAY, "t"),
        Event("qa-defect", "qa.defect_found", NOW - 400 * DAY, "t"),
    ]
    write_batch(engine, [], events)
    stats = run_retention(engine, load_settings(), now_ms=NOW)
    with engine.connect() as connection:
        kept = set(connection.scalars(sa.text("SELECT id FROM events")))
    assert kept == {f"fresh-{i}" for i in range(7)} | {"qa-1", "qse-1"}
    assert stats.deleted["events"] == 9


def test_cut_short_retention_resumes_where_it_stopped(engine: Engine) -> None:
    write_batch(
        engine, [Sample("up", (("i", str(i)),), 1.0, NOW - 3 * DAY + k * MIN) for i in range(3) for k in range(600)], ()
    )
    run_rollup(engine)
    first = run_retention(engine, load_settings(), now_ms=NOW, max_seconds=0)
    assert not first.finished
    second = run_retention(engine, load_settings(), now_ms=NOW)
    assert second.finished
    with engine.connect() as connection:
        assert connection.exec_driver_sql("SELECT count(*) FROM samples").scalar() == 0
    assert first.deleted.get("samples", 0) + second.deleted["samples"] == 1800


def test_sqlite_space_is_reclaimed(sqlite_engine: Engine) -> None:
    rows = [
        Sample("up", (("i", str(i)),), float(k), NOW - 2 * DAY + k * 1_000) for i in range(20) for k in range(3_000)
    ]
    write_batch(sqlite_engine, rows, ())
    run_rollup(sqlite_engine)
    stats = run_retention(sqlite_engine, load_settings(), now_ms=NOW)
    assert stats.deleted["samples"] == len(rows)
    assert stats.vacuumed_pages > 0
    with sqlite_engine.connect() as connection:
        assert connection.exec_driver_sql("PRAGMA freelist_count").scalar() == 0


def test_sla_breaches_are_kept_as_long_as_compliance_reports_and_deleted_in_chunks(engine: Engine, monkeypatch) -> None:
    monkeypatch.setattr(retention, "BREACHES_PER_CHUNK", 2)  # force several chunks
    settings = load_settings()
    cut = cutoffs(settings, NOW).compliance
    assert cut == NOW - 1095 * DAY
    ages = {"ancient": 1200 * DAY, "just-past": 1095 * DAY + 1, "edge": 1095 * DAY, "year": 365 * DAY, "today": HOUR}
    rows = [
        {
            "sla_id": "dor_validation",
            "item_key": f"{name}-{n}",
            "workflow_id": f"WF-{name}",
            "step": "dor_validation",
            "ts": NOW - age,
            "duration_s": 1000.0,
            "target_s": 900.0,
            "over_s": 100.0,
            "severity": "warning",
            "escalated": False,
            "impact": {},
            "detected_ms": NOW - age,
            "updated_ms": NOW - age,
        }
        for name, age in ages.items()
        for n in range(3)
    ]
    with engine.begin() as connection:
        connection.execute(schema.sla_breaches.insert(), rows)
    stats = run_retention(engine, settings, now_ms=NOW)
    assert stats.finished
    with engine.connect() as connection:
        kept = set(connection.scalars(sa.select(schema.sla_breaches.c.item_key)))
    assert kept == {f"{name}-{n}" for name in ("edge", "year", "today") for n in range(3)}
    assert stats.deleted["sla_breaches"] == 6
    assert run_retention(engine, settings, now_ms=NOW).deleted["sla_breaches"] == 0
