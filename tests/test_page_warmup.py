"""Server warm-up (core.ui.warmup) and the parse-once KPI helpers the role pages' first runs rely on."""

from __future__ import annotations

import sys

import polars as pl
from sqlalchemy.engine import Engine

from core.ingest.writer import write_batch
from core.kpis import workflow
from core.kpis.records import EVENT_SCHEMA, fields, load_events
from core.model import Event
from core.store import columnar, make_engine
from core.ui.warmup import DRAWING_MODULES, warm_up
from tests.test_kpis_roles import T0, H, events, wf_events

SQL = "SELECT ? AS a"


def test_warm_up_starts_the_sqlite_readers_that_the_first_read_then_uses(sqlite_engine: Engine) -> None:
    columnar._stop_workers()  # a fresh process: no reader yet
    assert columnar.worker_pids() == []
    spent = warm_up(sqlite_engine)
    assert set(spent) == {"imports_ms", "readers_ms"}
    started = set(columnar.worker_pids())
    assert len(started) == columnar.SQLITE_WORKERS
    assert all(name in sys.modules for name in ("pandas", "pyarrow"))
    assert columnar.fetch_adbc(sqlite_engine, SQL, (7,), {"a": pl.Int64()}).item() == 7
    assert set(columnar.worker_pids()) == started  # the read was answered by a warmed worker, none was added
    assert columnar.start_readers(sqlite_engine) == 0  # all running: a second warm-up starts nothing


def test_start_readers_leaves_stores_without_a_sqlite_file_alone(tmp_path) -> None:
    memory = make_engine("sqlite://")
    try:
        assert columnar.start_readers(memory) == 0
    finally:
        memory.dispose()
    not_yet = make_engine(f"sqlite:///{tmp_path / 'later.db'}")  # no file yet: the engine creates it, not ADBC
    try:
        assert columnar.start_readers(not_yet) == 0
    finally:
        not_yet.dispose()


def test_start_readers_on_postgres_starts_no_process(pg_engine: Engine) -> None:
    before = columnar.worker_pids()
    assert columnar.start_readers(pg_engine) == 0
    assert columnar.worker_pids() == before


def test_drawing_modules_are_importable() -> None:
    """A name that no longer exists would make the warm-up silently skip it."""
    import importlib.util

    assert all(importlib.util.find_spec(name) is not None for name in DRAWING_MODULES)


def _same(a: workflow.Outcomes, b: workflow.Outcomes) -> bool:
    numbers = ("completed", "failed", "completion_pct", "time_to_merge_h", "review_cycle_h", "agent_hours")
    return all(getattr(a, n) == getattr(b, n) for n in numbers) and a.step_wait_s.equals(b.step_wait_s)


def test_outcomes_read_only_workflow_events() -> None:
    """Gate and defect events carrying workflow_id / duration_s (as the Executive frame does) change nothing."""
    noise = events(
        (T0 + H, "workflow.quality_gate_passed", {"workflow_id": "A", "duration_s": 99_999, "step": "x"}),
        (T0 + H, "qa.defect_found", {"workflow_id": "A", "duration_s": 5, "queue_wait_s": 7}),
    )
    plain = workflow.outcomes(wf_events(), T0, T0 + 4 * H)
    assert plain.completed == 1 and plain.agent_hours > 0  # the frame has something to get wrong
    assert _same(workflow.outcomes(pl.concat([wf_events(), noise]), T0, T0 + 4 * H), plain)


def test_one_parse_serves_several_windows() -> None:
    """outcomes_of / adherence_of over prepared frames give what outcomes / sla_adherence give per window."""
    frame = wf_events()
    work, items = workflow.outcome_fields(frame), workflow.sla_items(frame, T0 + 4 * H)
    for start, end in ((T0, T0 + 4 * H), (T0 + 2 * H, T0 + 3 * H), (T0 - 4 * H, T0)):
        assert _same(workflow.outcomes_of(work, start, end), workflow.outcomes(frame, start, end))
        prepared = workflow.adherence_of(items, start, end)
        direct = workflow.sla_adherence(frame, start, end, T0 + 4 * H)
        assert (prepared.items, prepared.within_pct, prepared.target_pct) == (
            direct.items,
            direct.within_pct,
            direct.target_pct,
        )


def test_load_events_reads_the_drivers_rows_into_the_same_frame_on_both_stores(engine: Engine, settings) -> None:
    """load_events hands the DB-API cursor's own tuples to polars: same columns, types and order on either store."""
    base = 1_800_000_000_000
    stored = [
        Event("e-b", "workflow.step_completed", base + 2_000, "t", {"workflow_id": "W", "duration_s": 1.5}),
        Event("e-a", "workflow.pr_created", base + 1_000, "t", {"workflow_id": "W", "repository": "org/x"}),
        Event("e-c", "workflow.step_completed", base + 2_000, "t", {"workflow_id": "W", "step": "é ü"}),
        Event("e-d", "qa.defect_found", base + 1_500, "t", {"defect_id": "d"}),
    ]
    write_batch(engine, [], stored)
    frame = load_events(engine, ["workflow.*"], base, base + 60_000, settings=settings)
    assert frame.schema == EVENT_SCHEMA
    assert frame["id"].to_list() == ["e-a", "e-b", "e-c"]  # by time, then id; the defect is another type
    assert frame["ts"].to_list() == [base + 1_000, base + 2_000, base + 2_000]
    read = fields(frame, {"step": "step"}, {"duration_s": "duration_s"})
    assert read["duration_s"].to_list() == [None, 1.5, None] and read["step"].to_list() == [None, None, "é ü"]
