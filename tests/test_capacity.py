"""Capacity forecasts end to end on a real store: the job fits and stores, the view ranks and words, the page reads;
completion ETAs; and a fresh install's first fifteen minutes raise no predictive alert.

SQLite only: the store code is shared with every other table, and each Prophet fit costs a few tenths of a second.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import polars as pl
import pytest
import sqlalchemy as sa
from sqlalchemy.engine import Engine
from streamlit.testing.v1 import AppTest

from core.alerts.engine import evaluate_all
from core.config import ROOT, Settings, load_settings
from core.forecasting import view
from core.forecasting.etas import migration_etas, qse_etas
from core.forecasting.job import run_forecasts
from core.ingest.writer import write_batch
from core.model import Sample, now_ms
from core.store import forecasts as stored_forecasts
from core.store import schema
from core.store.rollup import run_rollup

MIN, HOUR, DAY = 60_000, 3_600_000, 86_400_000
NOW = (now_ms() - 10 * MIN) // (5 * MIN) * (5 * MIN)  # a whole five minutes, in the past so ingest takes it


def settings_for(engine: Engine, tmp_path: Path, **extra: object) -> Settings:
    base = load_settings(
        database_url=engine.url.render_as_string(hide_password=False), data_dir=tmp_path, demo=False, collectors=False
    )
    return base.model_copy(update={"query_cache_ttl_s": 0.0} | extra)


def put(engine: Engine, name: str, labels: dict[str, str], ts: np.ndarray, values: np.ndarray) -> None:
    write_batch(engine, [Sample.of(name, labels, float(v), int(t)) for t, v in zip(ts, values, strict=True)], [])


def test_a_fresh_install_with_15_minutes_of_data_raises_no_predictive_alert(sqlite_engine, tmp_path):
    """What happened once: the default disk_full_soon fired 15 minutes after start, "projected at 128.9 % in
    24 h" for a disk 26 % full. Fifteen minutes of system metrics (a disk creeping up as logs and the store
    grow) and every default rule evaluated each minute: nothing predictive leaves 'inactive', and the forecast
    job says how much history the capacity forecasts still need."""
    start = NOW - 15 * MIN
    ts = np.arange(start, NOW, 15_000)
    disk = {"host": "fresh", "mount": "/", "device": "/dev/sda1", "fstype": "ext4"}
    put(sqlite_engine, "system_filesystem_used_percent", disk, ts, 26.0 + (ts - start) / MIN * 0.04)
    put(sqlite_engine, "system_cpu_percent", {"host": "fresh"}, ts, 20 + 30 * (ts - start) / (15 * MIN))
    put(sqlite_engine, "system_memory_used_percent", {"host": "fresh"}, ts, 40 + (ts - start) / MIN)
    run_rollup(sqlite_engine, NOW)
    settings = settings_for(sqlite_engine, tmp_path, alert_rules_file=ROOT / "alert_rules.yaml")
    for minute in range(1, 16):
        report = evaluate_all(sqlite_engine, settings, start + minute * MIN + 1)
        assert not report.errors, report.errors
    with sqlite_engine.connect() as connection:
        rules = {r.name: json.loads(r.spec) if isinstance(r.spec, str) else r.spec for r in connection.execute(
            sa.select(schema.alert_rules.c.name, schema.alert_rules.c.spec))}  # fmt: skip
        active = connection.execute(
            sa.select(schema.alerts.c.rule, schema.alerts.c.state).where(schema.alerts.c.state != "inactive")
        ).all()
    predictive = {name for name, spec in rules.items() if spec.get("kind") == "forecast"}
    assert "disk_full_soon" in predictive
    assert [(rule, state) for rule, state in active if rule in predictive] == []

    run_forecasts(sqlite_engine, settings, NOW, force=True)
    ranked = view.ranking(view.load(sqlite_engine).capacity, NOW)
    disk_row = ranked.filter(pl.col("resource") == "Disk").row(0, named=True)
    assert disk_row["reaches threshold"] == "need at least 6 hours of data (have 0.2)"
    assert disk_row["urgency"] == "—"


@pytest.fixture(scope="module")
def fitted_store(tmp_path_factory: pytest.TempPathFactory) -> tuple[Engine, Settings]:
    """Two days of five-minute samples: a data disk filling at 0.5 %/h, a root disk flat at 26 %, a CPU with a
    daily rhythm and a review queue — stored, rolled up and fitted once by the job."""
    from core.store.engine import make_engine
    from core.store.migrate import upgrade

    tmp = tmp_path_factory.mktemp("capacity")
    engine = make_engine(f"sqlite:///{tmp / 'pulseboard.db'}")
    upgrade(engine)
    ts = np.arange(NOW - 2 * DAY, NOW, 5 * MIN)
    rng = np.random.default_rng(7)
    hours = (ts - ts[0]) / HOUR
    fs = {"host": "db-1", "device": "/dev/sdb1", "fstype": "ext4"}
    put(
        engine,
        "system_filesystem_used_percent",
        fs | {"mount": "/data"},
        ts,
        50 + 0.5 * hours + rng.normal(0, 0.05, len(ts)),
    )
    put(engine, "system_filesystem_used_percent", fs | {"mount": "/"}, ts, 26 + rng.normal(0, 0.05, len(ts)))
    daily = np.sin(2 * np.pi * (ts % DAY) / DAY)
    put(engine, "system_cpu_percent", {"host": "db-1"}, ts, 30 + 15 * daily + rng.normal(0, 2, len(ts)))
    put(
        engine,
        "qms_queue_depth",
        {"queue": "progress_review"},
        ts,
        np.round(4 + 2 * daily + rng.normal(0, 0.5, len(ts))),
    )
    run_rollup(engine, NOW)
    settings = settings_for(engine, tmp)
    report = run_forecasts(engine, settings, NOW)
    assert not report.errors, report.errors
    return engine, settings


def test_the_job_stores_every_resource_and_horizon_with_its_inputs_last_bucket(fitted_store):
    engine, settings = fitted_store
    rows = stored_forecasts.load(engine, "capacity")
    by = {(r.target, r.horizon_s): r for r in rows}
    data_disk = 'disk|system_filesystem_used_percent{device="/dev/sdb1", fstype="ext4", host="db-1", mount="/data"}'
    assert {(data_disk, h) in by for h in (86_400, 604_800, 2_592_000)} == {True}
    day = by[(data_disk, 86_400)]
    assert day.status == "ok" and day.last_bucket_ms == NOW - 5 * MIN and day.fitted_ms == NOW
    assert day.result["threshold"] == 80.0 and day.result["capacity"] == 100.0
    month = by[(data_disk, 2_592_000)]
    assert month.status == "insufficient"
    assert month.result["forecast"]["message"] == "need at least 180 hours of data (have 48)"
    # nothing is due a minute later; the 24 h forecasts are after a quarter of an hour (1/96 of the horizon),
    # the 7 d ones after 1 h 45 min; what lacked data (no memory or database series, 48 h for a 30 d forecast)
    # is looked at again every 5 minutes, so forecasts appear soon after their data does
    assert run_forecasts(engine, settings, NOW + MIN).due == []
    later = run_forecasts(engine, settings, NOW + 16 * MIN).due
    assert {"CPU, 24 h", "Disk, 24 h", "Queue, 24 h", "Memory, 7 d", "Disk, 30 d"} <= set(later)
    assert not {"CPU, 7 d", "Disk, 7 d", "Queue, 7 d"} & set(later)


def test_resources_are_ranked_by_time_to_threshold_with_intervals_and_advice(fitted_store):
    engine, _ = fitted_store
    stored = view.load(engine)
    ranked = view.ranking(stored.capacity, NOW)
    first = ranked.row(0, named=True)
    # /data: 74 % now, +0.5 %/h → 80 % in about 12 h (its 7 d and 30 d rows agree or lack history)
    assert (first["resource"], first["instance"]) == ("Disk", "db-1 /data")
    assert first["urgency"] == "critical" and first["reaches threshold"].startswith("in ")
    hours_to_80 = first["rank"] / HOUR
    assert 9 <= hours_to_80 <= 15
    assert first["full"].startswith("in ") or first["full"].startswith("not within")
    root = ranked.filter(pl.col("instance") == "db-1 /").row(0, named=True)
    assert root["reaches threshold"].startswith("not within") and root["urgency"] == "ok"
    queue = ranked.filter(pl.col("resource") == "Queue").row(0, named=True)
    assert queue["recommended capacity"].endswith("items") and queue["urgency"] == "ok"  # 16 of 20 items: far off
    advice = view.recommendations(stored.capacity, NOW)
    assert [(a.resource, a.instance) for a in advice][:1] == [("Disk", "db-1 /data")]
    assert "projected peak" in advice[0].advice
    frame = view.chart_frame(stored.capacity[0])
    assert set(frame["kind"]) == {"actual", "forecast"}
    ahead = frame.filter(pl.col("kind") == "forecast")
    assert (ahead["lo95"] <= ahead["lo80"]).all() and (ahead["hi80"] <= ahead["hi95"]).all()


def test_the_capacity_page_draws_from_stored_forecasts(fitted_store, monkeypatch, tmp_path):
    engine, _ = fitted_store
    monkeypatch.setenv("PULSEBOARD_DATABASE_URL", engine.url.render_as_string(hide_password=False))
    monkeypatch.setenv("PULSEBOARD_DATA_DIR", str(tmp_path))
    from core.config import get_settings

    get_settings.cache_clear()
    at = AppTest.from_file(str(ROOT / "pages" / "capacity.py"), default_timeout=60)
    at.run()
    assert not at.exception, [e.value for e in at.exception]
    table = at.dataframe[0].value
    assert table["resource"].iloc[0] == "Disk" and "reaches threshold" in table.columns
    assert len(at.get("vega_lite_chart")) >= 4  # every resource instance with a 7 d forecast
    advice = [m.value for m in at.markdown if "reaches" in m.value]
    assert advice and advice[0].startswith("- **Disk db\\-1 /data** reaches 80\\.0 % in "), advice
    at.button[0].click().run()  # "Refit now": a request the job takes on its next run
    assert stored_forecasts.pending_request(engine) is not None
    get_settings.cache_clear()


def events(rows: list[tuple[str, int, dict[str, object]]]) -> pl.DataFrame:
    """Rows as core.kpis.records.load_events returns them."""
    return pl.DataFrame(
        [(f"e{n}", kind, ts, "test", json.dumps(data)) for n, (kind, ts, data) in enumerate(rows)],
        schema={"id": pl.String, "type": pl.String, "ts": pl.Int64, "source": pl.String, "data": pl.String},
        orient="row",
    )


def iso(ms: int) -> str:
    return str(np.datetime64(ms, "ms")) + "Z"


def migration_rows(start: int) -> list[tuple[str, int, dict[str, object]]]:
    """Two phases: 'copy' done at ``start``; 'verify' at 2 points a day for 20 days (40 %), planned to end 10 days
    after NOW (= start + 20 days)."""
    plan = {"planned_start": iso(start - 10 * DAY), "risk_level": "low"}
    rows: list[tuple[str, int, dict[str, object]]] = [
        ("migration.phase_completed", start, {"phase_id": "copy", "name": "Copy", "status": "completed",
         "progress": 100, **plan, "planned_end": iso(start)}),
    ]  # fmt: skip
    for day in range(20):
        rows.append(
            (
                "migration.phase_progress",
                start + day * DAY + 6 * HOUR,
                {"phase_id": "verify", "name": "Verify", "status": "in_progress", "progress": 2.0 * (day + 1)}
                | plan
                | {"planned_end": iso(NOW + 10 * DAY)},
            )
        )
    return rows


def test_migration_eta_is_the_migration_schedule_and_late_past_the_plan():
    """'verify' began with its first report (start + 6 h) and reached 40 % 19 days later: 100 % takes
    19 d × 100/40 = 47.5 days from that start, so it ends at start + 6 h + 47.5 d = NOW + 27.5 d + 6 h — 17.5 d
    and 6 h past its planned end (NOW + 10 d): late, for the phase and for the whole. Progress: copy 100 % over
    10 planned days, verify 40 % over 40 → (1000 + 1600) / 50 = 52 %."""
    from core.programmes.migration import schedule

    start = NOW - 20 * DAY
    found = {eta.kind: eta for eta in migration_etas(schedule(events(migration_rows(start)), None, NOW))}
    phase, whole = found["migration phase"], found["migration"]
    expected = NOW + 27 * DAY + 18 * HOUR
    assert phase.name == "Verify" and phase.progress == pytest.approx(40)
    assert phase.eta_ms == expected and phase.planned_ms == NOW + 10 * DAY and phase.late
    assert whole.eta_ms == expected and whole.progress == pytest.approx(52) and whole.late
    # the interval: the last 14 days hold 13 daily rates, all 2 %/day — 0.95 × the average pace (40 % in 19 days).
    # Never faster than the average: the fast end is the estimate; slow end: 60 % at 2 %/day, 30 days after the
    # latest reading (NOW − 1 d + 6 h).
    assert whole.low_ms == phase.low_ms == expected
    assert whole.high_ms == phase.high_ms == NOW + 29 * DAY + 6 * HOUR
    table = view.eta_table(list(found.values()), NOW)
    high_day = str(np.datetime64(NOW + 29 * DAY + 6 * HOUR, "ms").astype("datetime64[D]"))
    assert set(table["status"]) == {"late"} and set(table["80 % interval"]) == {
        f"{np.datetime64(expected, 'ms').astype('datetime64[D]')!s} – {high_day}"
    }
    # without rates there is no interval, and the table says why instead of a made-up one
    bare = {e.kind: e for e in migration_etas(schedule(events(migration_rows(start)[:2]), None, NOW))}["migration"]
    assert bare.low_ms is None and "No interval yet" in view.eta_table([bare], NOW)["80 % interval"][0]


def test_the_capacity_page_and_the_migration_page_show_one_migration_eta(engine, tmp_path):
    """The same events in a store (SQLite and Postgres): the Capacity page's migration ETA (read live through
    core.forecasting.view) and the Migration page's estimated completion (core.programmes.migration_store
    .load_view) are the same instant, the hand-worked NOW + 27.5 d + 6 h, for the whole and for the phase."""
    from core.model import Event
    from core.programmes.migration_store import load_view

    rows = migration_rows(NOW - 20 * DAY)
    write_batch(engine, [], [Event(f"m{n}", kind, ts, "test", data) for n, (kind, ts, data) in enumerate(rows)])
    settings = settings_for(engine, tmp_path, migration_plan_file=tmp_path / "no-plan.yaml")
    page = load_view(engine, start_ms=NOW - 7 * DAY, end_ms=NOW, plan=None, settings=settings)
    capacity = {eta.kind: eta for eta in view.migration_etas_now(engine, NOW, settings)}
    expected = NOW + 27 * DAY + 18 * HOUR
    assert page.eta_ms == capacity["migration"].eta_ms == expected
    assert page.planned_end_ms == capacity["migration"].planned_ms == NOW + 10 * DAY
    verify = page.phases.filter(pl.col("id") == "verify").row(0, named=True)
    assert verify["forecast_end_ms"] == capacity["migration phase"].eta_ms == expected
    assert (page.eta_low_ms, page.eta_high_ms) == (capacity["migration"].low_ms, capacity["migration"].high_ms)
    assert page.eta_high_ms == NOW + 29 * DAY + 6 * HOUR  # the hand-worked slow end above


def test_qse_session_eta_scales_what_is_left_by_completed_sessions_pace():
    """Completed sessions took 1.5× their plan (1.2–1.8); an open one 8 h into a 40 h plan (one 10 h phase done,
    one running for 2 h): it should end about 42 h from now (28 h left × 1.5), past its planned end."""
    rows: list[tuple[str, int, dict[str, object]]] = []
    for n, ratio in enumerate((1.2, 1.4, 1.5, 1.6, 1.8)):
        base = {"session_id": f"S{n}", "template": "t"}
        rows.append(("qse.session_started", NOW - 20 * DAY, base | {"phases": ["a"]}))
        done = {"status": "completed", "duration_hours": 40 * ratio, "planned_hours": 40}
        rows.append(("qse.session_completed", NOW - 10 * DAY, base | done))
    mine = {"session_id": "OPEN", "template": "t"}
    began = NOW - 8 * HOUR
    rows += [
        ("qse.session_started", began, mine | {"phases": ["a", "b", "c", "d"]}),
        ("qse.phase_started", began, mine | {"phase": "a", "planned_hours": 10, "planned_end": iso(began + 10 * HOUR)}),
        ("qse.phase_completed", began + 6 * HOUR, mine | {"phase": "a", "planned_hours": 10}),
        ("qse.phase_started", began + 6 * HOUR, mine | {"phase": "b", "planned_hours": 10,
         "planned_end": iso(began + 16 * HOUR)}),
    ]  # fmt: skip
    (eta,) = qse_etas(events(rows), NOW)
    # phases c and d have no plan yet: they take the median planned phase (10 h) → 40 h in all, 12 h done
    assert eta.name == "OPEN (t)" and eta.progress == pytest.approx(100 * 12 / 40)
    assert eta.eta_ms == pytest.approx(NOW + 28 * 1.5 * HOUR, abs=HOUR)  # 10 h of a done + 2 h of b: 28 h left
    assert eta.low_ms is not None and eta.high_ms is not None and eta.low_ms < eta.eta_ms < eta.high_ms
    assert eta.planned_ms == began + 16 * HOUR + 20 * HOUR and eta.late
    table = view.eta_table([eta], NOW)
    assert table["status"][0] == "late" and "in 42 h" in table["ETA"][0]
