"""Recording rules: each derived series from crafted events, and the job that stores them on real stores."""

from __future__ import annotations

import json
from datetime import datetime

import numpy as np
import polars as pl
import pytest

from core.ingest import ingest
from core.kpis.records import EVENT_SCHEMA
from core.model import Batch, Event, now_ms
from core.query import series
from core.recording import rules as rr
from core.recording.job import COARSE_STEP_MS, evaluate_recording_rules, instants

NOW = 1_767_225_600_000  # 2026-01-01 00:00 UTC
MIN, HOUR, DAY = 60_000, 3_600_000, 86_400_000


def frame(events: list[tuple[str, int, dict]]) -> pl.DataFrame:
    """Events as load_events returns them: (type, ts, data)."""
    rows = [(f"e{n}", kind, ts, "test", json.dumps(data)) for n, (kind, ts, data) in enumerate(events)]
    return pl.DataFrame(rows, schema=EVENT_SCHEMA, orient="row")


def values(result: pl.DataFrame, **labels: str) -> list[float]:
    for key, value in labels.items():
        result = result.filter(pl.col(key) == value)
    return result.sort("ts")["value"].to_list()


AT = np.array([NOW - 2 * HOUR, NOW], dtype=np.int64)


def test_window_count_and_mean_take_the_half_open_window_before_each_instant():
    ts = np.array([NOW - HOUR, NOW - HOUR + 1, NOW - 1, NOW, NOW + 1])
    assert rr.window_count(ts, np.array([NOW]), HOUR).tolist() == [3.0]  # (NOW - 1 h, NOW]
    means = rr.window_mean(ts, np.array([9.0, 1.0, 2.0, 3.0, 100.0]), np.array([NOW, NOW - 2 * HOUR]), HOUR)
    assert means[0] == pytest.approx(2.0) and np.isnan(means[1])


def test_workflow_failure_percent_counts_the_past_hour_and_is_absent_without_finished_work():
    events = frame(
        [(rr.COMPLETED, NOW - m * MIN, {}) for m in (5, 10, 50)]
        + [(rr.FAILED, NOW - 20 * MIN, {}), (rr.FAILED, NOW - 70 * MIN, {})]
    )
    assert values(rr.failure_percent(events, AT)) == [25.0]  # no row two hours ago: nothing had finished
    assert values(rr.completed_per_hour(events, AT)) == [0.0, 3.0]
    assert values(rr.failed_per_hour(events, AT)) == [0.0, 1.0]


def test_active_workflows_are_created_and_not_yet_finished():
    events = frame(
        [(rr.CREATED, NOW - h * HOUR, {"workflow_id": f"w{h}"}) for h in (1, 3, 5)]
        + [(rr.COMPLETED, NOW - 2 * HOUR, {"workflow_id": "w3"}), (rr.FAILED, NOW - HOUR, {"workflow_id": "gone"})]
    )
    at = np.array([NOW - 6 * HOUR, NOW - 4 * HOUR, NOW - 150 * MIN, NOW], dtype=np.int64)
    # w5 open from -5 h; w3 from -3 h to -2 h; w1 from -1 h; a failure of an unseen workflow is ignored
    assert values(rr.active_workflows(events, at)) == [0.0, 1.0, 2.0, 2.0]


def test_quality_score_uses_gate_scores_or_pass_fail_and_counts_each_run_once():
    run = {"workflow_id": "w1", "gate_name": "coverage", "attempt": 1}
    events = frame(
        [
            ("workflow.quality_gate_passed", NOW - 10 * MIN, run | {"metrics": {"score": 0.9}}),
            ("workflow.quality_gate_executed", NOW - 10 * MIN, run | {"passed": True, "metrics": {"score": 0.9}}),
            ("workflow.quality_gate_failed", NOW - 5 * MIN, run | {"gate_name": "lint"}),  # no score: a fail is 0
            ("workflow.quality_gate_executed", NOW - 3 * MIN, run | {"gate_name": "sec", "passed": True}),  # 1
        ]
    )
    assert values(rr.quality_score(events, AT)) == [pytest.approx((90 + 0 + 100) / 3)]


def test_step_duration_is_the_mean_per_step():
    events = frame(
        [
            ("workflow.step_completed", NOW - 10 * MIN, {"step": "dor", "duration_s": 60}),
            ("workflow.step_completed", NOW - 20 * MIN, {"step": "dor", "duration_s": 120}),
            ("workflow.step_completed", NOW - 20 * MIN, {"step": "review", "duration_s": 600}),
            ("workflow.step_completed", NOW - 30 * MIN, {"step": "review"}),  # no duration: not counted
        ]
    )
    result = rr.step_duration(events, AT)
    assert values(result, step="dor") == [90.0]
    assert values(result, step="review") == [600.0]


def test_compliance_score_is_the_latest_assessment_and_the_drop_is_against_the_week_before_it():
    def scored(template: str, ts: int, overall: float) -> tuple[str, int, dict]:
        return ("qse.compliance_scored", ts, {"template": template, "overall_compliance": overall})

    history = [scored("a", NOW - d * DAY, 0.9) for d in (2, 4, 6, 9, 25)]  # the 5 before the latest
    older = [scored("a", NOW - 26 * DAY, 0.1), scored("b", NOW - 40 * DAY, 0.5)]  # 6th back; over 30 days back
    events = frame([*history, *older, scored("a", NOW - HOUR, 0.8), scored("b", NOW - 3 * DAY, 0.95)])
    at = np.array([NOW, NOW + 8 * DAY], dtype=np.int64)
    assert values(rr.compliance_score(events, at), template="a") == [pytest.approx(80.0)]  # stale after 7 days
    assert values(rr.compliance_drop(events, at), template="a") == [pytest.approx(10.0)]
    # b's latest (3 days ago) has nothing in the 30 days before it: a score, but no drop to speak of
    assert values(rr.compliance_score(events, at), template="b") == [pytest.approx(95.0)]
    assert values(rr.compliance_drop(events, at), template="b") == []


def test_migration_success_rate_is_records_succeeded_over_attempted_in_the_past_hour():
    def batch(ts: int, succeeded: int, failed: int) -> tuple[str, int, dict]:
        return (
            "migration.batch_completed",
            ts,
            {"records": succeeded + failed, "succeeded": succeeded, "failed": failed},
        )

    events = frame([batch(NOW - 2 * HOUR - MIN, 0, 100), batch(NOW - 30 * MIN, 900, 100), batch(NOW - MIN, 80, 20)])
    at = np.array([NOW - 2 * HOUR, NOW - 50 * MIN, NOW], dtype=np.int64)
    # the first batch only counts at the first instant; nothing finished in the hour before the second
    assert values(rr.migration_success_rate(events, at)) == [0.0, pytest.approx(980 / 1100 * 100)]


def test_schedule_delay_projects_the_phase_end_at_its_rate_so_far():
    start = NOW - 5 * DAY
    planned = {"phase_id": "p1", "planned_start": "2025-12-27T00:00:00Z", "planned_end": "2026-01-06T00:00:00Z"}
    events = frame(
        [
            ("migration.phase_started", start, planned | {"status": "in_progress", "progress": 0}),
            ("migration.phase_progress", NOW - HOUR, planned | {"status": "in_progress", "progress": 24.0}),
            ("migration.phase_progress", NOW, planned | {"status": "in_progress", "progress": 25.0}),
            ("migration.phase_progress", NOW, planned | {"phase_id": "done", "status": "completed", "progress": 100}),
        ]
    )
    result = rr.schedule_delay(events, np.array([NOW], dtype=np.int64))
    # 25 % in 5 days → 20 days in all → ends NOW + 15 d, planned NOW + 5 d: 10 days late; completed phases say nothing
    assert result.select("phase", "value").rows() == [("p1", pytest.approx(10.0))]
    assert datetime.fromisoformat(planned["planned_end"]).timestamp() * 1000 == NOW + 5 * DAY


def test_instants_are_step_multiples_coarse_beyond_a_day_and_resume_after_the_last():
    fresh = instants(NOW - 3 * DAY - 1, NOW, MIN)
    assert fresh[0] == NOW - 3 * DAY and fresh[-1] == NOW
    assert np.all(fresh % MIN == 0) and np.all(np.diff(fresh) > 0)
    older, last_day = fresh[fresh < NOW - DAY], fresh[fresh >= NOW - DAY]
    assert set(np.diff(older)) == {COARSE_STEP_MS} and set(np.diff(last_day)) == {MIN}
    assert instants(NOW - 2 * MIN, NOW + 30_000, MIN).tolist() == [NOW - MIN, NOW]
    assert instants(NOW, NOW + 30_000, MIN).size == 0


def test_the_job_starts_at_the_first_event_stores_series_and_resumes_where_it_stopped(engine, settings):
    now = (now_ms() // MIN - 10) * MIN  # recent, so the query layer reads the raw tier
    wanted = tuple(rr.rule(n) for n in ("qms_workflow_failure_percent", "qms_workflows_completed_per_hour"))
    nothing = evaluate_recording_rules(engine, settings, now=now, rules=wanted)
    assert [r.samples for r in nothing] == [0, 0]  # no events: no made-up zeros, alert rules see "no data"

    events = [Event(f"c{m}", rr.COMPLETED, now - m * MIN, "api", {}) for m in (3, 13, 23)]
    events += [Event("f1", rr.FAILED, now - 7 * MIN, "api", {})]
    ingest(engine, Batch(events=tuple(events)), origin="api", settings=settings)
    first = evaluate_recording_rules(engine, settings, now=now, rules=wanted)
    # every minute from the first event (23 min ago) to now; something had finished at each of them
    assert [(r.instants, r.samples) for r in first] == [(24, 24), (24, 24)]
    stored = series(engine, "qms_workflow_failure_percent", now - 5 * MIN, now + 1, agg="last", settings=settings)
    assert stored["value"].to_list()[-1] == pytest.approx(25.0)

    again = evaluate_recording_rules(engine, settings, now=now + 2 * MIN + 5_000, rules=wanted)
    assert [r.instants for r in again] == [2, 2]  # only the instants after the last one
    counts = series(engine, "qms_workflows_completed_per_hour", now + 1, now + 3 * MIN, agg="last", settings=settings)
    assert counts.height >= 2 and set(counts["value"]) == {3.0}  # the three completions are still within the hour


def test_every_rule_has_a_unique_name_and_reads_events():
    names = [r.name for r in rr.RULES]
    assert len(names) == len(set(names)) and all(r.reads for r in rr.RULES)
    with pytest.raises(KeyError, match="no recording rule writes 'nope'"):
        rr.rule("nope")
