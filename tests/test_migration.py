"""Migration health: the plan file, the forecast, progress, health rules, the old-vs-new comparison and the
recording rules behind its alerts — each expectation worked out by hand in the comments beside it."""

from __future__ import annotations

import json
import math
from datetime import UTC, datetime
from pathlib import Path

import numpy as np
import polars as pl
import pytest

from core.programmes.migration import migration_view, recent_operations, series_timings
from core.programmes.migration_plan import PlanError, load_plan, parse_plan, place
from core.programmes.migration_stats import _normal_approximation, compare, slowdown_percent
from core.recording.rules import rule

DAY = 86_400_000
HOUR = 3_600_000
T0 = int(datetime(2025, 1, 6, tzinfo=UTC).timestamp() * 1000)  # a Monday: the fixture programme's week 0
EMPTY_TIMINGS = pl.DataFrame(
    schema={"operation": pl.String, "system": pl.String, "value": pl.Float64, "source": pl.String}
)

PLAN = """\
name: Fixture migration
start: 2025-01-06
datasets_total: 12
phases:
  - id: a
    name: Alpha
    start_week: 0
    end_week: 4
  - id: b
    name: Beta
    start_week: 2
    end_week: 6
  - id: c
    name: Gamma
    start_week: 6
    end_week: 10
    depends_on: [a]
milestones:
  - name: Alpha done
    phase: a
  - name: Kick-off review
    date: 2025-01-10
components:
  - {id: storage, name: Storage, tests_total: 200}
"""


def day(n: float) -> int:
    return T0 + round(n * DAY)


def events(*items: tuple[str, str, int, dict]) -> pl.DataFrame:
    rows = [(eid, kind, ts, "fixture", json.dumps(data)) for eid, kind, ts, data in items]
    return pl.DataFrame(
        rows,
        schema={"id": pl.String, "type": pl.String, "ts": pl.Int64, "source": pl.String, "data": pl.String},
        orient="row",
    ).sort("ts")


def progress(eid: str, phase: str, at: int, pct: float, status: str = "in_progress") -> tuple[str, str, int, dict]:
    return (eid, "migration.phase_progress", at, {"phase_id": phase, "status": status, "progress": pct})


def batch(eid: str, at: int, ok: int, bad: int) -> tuple[str, str, int, dict]:
    data = {"batch_id": eid, "dataset": "customers", "records": ok + bad, "succeeded": ok, "failed": bad}
    return (eid, "migration.batch_completed", at, data)


# --- the plan file ---------------------------------------------------------------------------------------------------


def test_the_plan_places_phases_and_milestones_in_time():
    plan = parse_plan(PLAN)
    phases, milestones = place(plan, anchor_ms=0)
    assert [(p.id, (p.start_ms - T0) / DAY, (p.end_ms - T0) / DAY) for p in phases] == [
        ("a", 0, 28),
        ("b", 14, 42),
        ("c", 42, 70),
    ]
    assert phases[2].depends_on == ("a",)
    assert [(m.name, (m.due_ms - T0) / DAY) for m in milestones] == [("Alpha done", 28), ("Kick-off review", 4)]


def test_the_shipped_plan_is_valid_and_matches_the_demo():
    from collectors.demo_programmes import COMPONENTS, MIGRATION_PHASES

    plan = load_plan(Path(__file__).resolve().parents[1] / "migration.yaml")
    assert plan is not None
    assert [(p.id, p.start_week, p.end_week) for p in plan.phases] == [(i, w0, w1) for i, _, w0, w1 in MIGRATION_PHASES]
    assert [c.id for c in plan.components] == list(COMPONENTS)


@pytest.mark.parametrize(
    ("text", "line", "field", "message"),
    [
        ("phases:\n  - id: a\n    start_week: 0\n    end_week: soon\n", 4, "phases[0].end_week", "valid number"),
        ("phases:\n  - id: a\n    start_week: 0\n    end_week: 2\n    colour: red\n", 5, "phases[0].colour", "unknown"),
        (
            "phases:\n  - id: a\n    start_week: 0\n    end_week: 2\n  - id: b\n    start_week: 2\n    end_week: 3\n"
            "    depends_on: [a, z]\n",
            8,
            "phases[1].depends_on[1]",
            "no phase has id 'z'",
        ),
        ("phases:\n  - id: a\n    start_week: 3\n    end_week: 2\n", 4, "phases[0].end_week", "end after it starts"),
        (
            "phases:\n  - id: a\n    start_week: 0\n    end_week: 4\n  - id: b\n    start_week: 2\n    end_week: 5\n"
            "    depends_on: [a]\n",
            8,
            "phases[1].depends_on[0]",
            "starts before 'a' ends",
        ),
        ("phases:\n  - id: a\n    end_week: 2\n", 2, "phases[0].start", "exactly one of start"),
        ("name: x\nphases: [\n", 3, "", "not valid YAML"),
        ("name: x\n", 1, "phases", "Field required"),
        (
            "phases:\n  - {id: a, start_week: 0, end_week: 1, depends_on: [b]}\n"
            "  - {id: b, start_week: 0, end_week: 1, depends_on: [a]}\n",
            2,
            "phases[0].depends_on",
            "circular dependencies: a → b → a",
        ),
    ],
)
def test_a_malformed_plan_is_rejected_naming_file_line_and_field(tmp_path, text, line, field, message):
    path = tmp_path / "migration.yaml"
    path.write_text(text)
    with pytest.raises(PlanError) as caught:
        load_plan(path)
    error = caught.value
    assert (error.file, error.line, error.field) == (str(path), line, field)
    assert message in str(error) and str(error).startswith(f"{path}, line {line}: ")


def test_no_plan_file_is_no_plan():
    assert load_plan(None) is None
    assert load_plan(Path("/nonexistent/migration.yaml")) is None


# --- schedule, progress and health -----------------------------------------------------------------------------------

# Alpha (days 0–28) started on day 0 and reported 40 % on day 20: at that rate it ends on day 20 × 100 / 40 = 50,
# 22 days late. Beta (14–42) started on day 14 and reported 50 % on day 28: it ends on 14 + 14 × 2 = 42, on plan.
# Gamma (42–70, after Alpha) has not started: it waits for Alpha's forecast end, day 50, and takes its 28 days: day
# 78, 8 days late. The programme was planned to end on day 70 and is forecast for day 78: 8 days of slip.
# Progress weighs each phase by its planned length (28 days each): (40 + 50 + 0) / 3 = 30.0 %.
NOW = day(28.5)
STATE = [
    ("a-start", "migration.phase_started", day(0), {"phase_id": "a", "status": "in_progress", "progress": 0}),
    progress("a-20", "a", day(20), 40),
    ("b-start", "migration.phase_started", day(14), {"phase_id": "b", "status": "in_progress", "progress": 0}),
    progress("b-28", "b", day(28), 50),
]


def view(state=STATE, activity=(), plan_text: str | None = PLAN, timings=EMPTY_TIMINGS, start=NOW - 7 * DAY):
    plan = parse_plan(plan_text) if plan_text else None
    return migration_view(events(*state), events(*activity), timings, plan, start_ms=start, now_ms=NOW)


def test_forecast_progress_eta_and_week_worked_out_by_hand():
    v = view()
    phases = {r["id"]: r for r in v.phases.iter_rows(named=True)}
    assert (phases["a"]["forecast_end_ms"] - T0) / DAY == pytest.approx(50)
    assert phases["a"]["delay_days"] == pytest.approx(22)
    assert (phases["b"]["forecast_end_ms"] - T0) / DAY == pytest.approx(42)
    assert phases["b"]["delay_days"] == pytest.approx(0)
    assert (phases["c"]["forecast_start_ms"] - T0) / DAY == pytest.approx(50)  # waits for Alpha
    assert (phases["c"]["forecast_end_ms"] - T0) / DAY == pytest.approx(78)
    assert phases["c"]["status"] == "not_started"
    assert v.progress_pct == 30.0
    assert (v.planned_end_ms - T0) / DAY == 70 and (v.eta_ms - T0) / DAY == pytest.approx(78)
    assert v.slip_days == 8.0
    assert (v.week, v.weeks_total) == (5, 10)  # day 28.5 is in week 28.5 // 7 + 1; 70 days are 10 weeks
    # Alpha's milestone was due on day 28 and Alpha is not done: missed; the dated review passed on day 4
    assert dict(v.milestones.select("name", "status").iter_rows()) == {
        "Alpha done": "missed",
        "Kick-off review": "passed",
    }


def test_health_at_risk_by_hand():
    # 1,950 of 2,000 records verified: 97.5 %, above the at-risk line of 95 %
    v = view(activity=[batch("b1", NOW - HOUR, 960, 40), batch("b2", NOW - 2 * HOUR, 990, 10)])
    assert v.batches["success_rate_pct"] == 97.5
    assert v.health == "at risk"
    assert sorted((f.level, f.rule) for f in v.findings) == [
        ("at risk", "milestones"),  # Alpha done
        ("at risk", "phase late"),  # Alpha 22 days > 7
        ("at risk", "phase late"),  # Gamma 8 days > 7
        ("at risk", "schedule"),  # 8 days of slip, not over 14
    ]


def test_health_critical_by_hand():
    # 1,780 of 2,000: 89 % < 90 %, and an open critical issue is a blocker
    issue = {"issue_id": "I-1", "severity": "critical", "component": "storage", "title": "pool exhausted"}
    v = view(
        state=[*STATE, ("i1", "migration.issue_detected", NOW - 5 * HOUR, issue)],
        activity=[batch("b1", NOW - HOUR, 880, 120), batch("b2", NOW - 2 * HOUR, 900, 100)],
    )
    assert v.batches["success_rate_pct"] == 89.0
    assert v.health == "critical"
    assert {f.rule for f in v.findings if f.level == "critical"} == {"success rate", "blockers"}
    assert v.blockers.select("kind", "what").rows() == [("critical issue", "I-1")]
    assert v.issues.row(0, named=True)["age_h"] == 5.0


def test_healthy_when_every_rule_holds_by_hand():
    # Everything on plan at day 10: Alpha at 10 / 28 = 35.7 % (rate ends it on day 28); Beta not due to start yet.
    state = [
        ("a-start", "migration.phase_started", day(0), {"phase_id": "a", "status": "in_progress", "progress": 0}),
        progress("a-10", "a", day(10), 100 * 10 / 28),
    ]
    plan = PLAN.replace("  - name: Kick-off review\n    date: 2025-01-10\n", "")
    v = migration_view(
        events(*state),
        events(batch("b1", day(9.9), 995, 5)),
        EMPTY_TIMINGS,
        parse_plan(plan),
        start_ms=day(9),
        now_ms=day(10),
    )
    assert (v.health, v.findings) == ("healthy", [])
    assert v.slip_days == 0.0


def test_a_rollback_and_a_resolved_issue_count_and_a_resolution_closes_the_issue():
    issue = {"issue_id": "I-2", "severity": "error", "component": "api", "title": "timeouts"}
    state = [
        *STATE,
        ("i2", "migration.issue_detected", NOW - 30 * HOUR, issue),
        ("i2r", "migration.issue_resolved", NOW - 2 * HOUR, issue | {"resolution_type": "rollback"}),
    ]
    rollback = ("r1", "migration.rollback", NOW - 3 * HOUR, {"batch_id": "B-9", "dataset": "orders", "reason": "bad"})
    v = view(state=state, activity=[rollback])
    assert sorted(v.rollbacks["what"].to_list()) == ["B-9", "I-2"]
    assert v.issues.select("issue_id", "state", "age_h").rows() == [("I-2", "resolved (rollback)", 28.0)]
    assert not any(f.rule == "issues" for f in v.findings)  # resolved: no longer an open error issue
    assert any(f.rule == "rollbacks" and f.message.startswith("2 rollback") for f in v.findings)


def test_without_a_plan_phases_come_from_the_events():
    planned = {"planned_start": "2025-01-06T00:00:00Z", "planned_end": "2025-02-03T00:00:00Z", "name": "Alpha"}
    state = [
        ("a-start", "migration.phase_started", day(0), {"phase_id": "a", "status": "in_progress"} | planned),
        (
            "a-20",
            "migration.phase_progress",
            day(20),
            {"phase_id": "a", "status": "in_progress", "progress": 40} | planned,
        ),
    ]
    v = view(state=state, plan_text=None)
    assert v.phases.select("id", "name", "in_plan").rows() == [("a", "Alpha", False)]
    assert v.phases["delay_days"].item() == pytest.approx(22)
    assert v.name == "Migration" and v.plan_file is None


def test_nothing_at_all_is_no_data():
    v = view(state=[], plan_text=None)
    assert not v.has_data and v.health == "no data"


# --- old vs new ------------------------------------------------------------------------------------------------------

OLD = [1.0, 1.1, 0.9, 1.05, 0.95, 1.02]
SLOW = [1.5, 1.6, 1.7, 1.4, 1.55, 1.65]


def test_mann_whitney_normal_approximation_by_hand():
    # Every new timing is above every old one: U(new) = 36, mean 18, variance 6 × 6 × 13 / 12 = 39;
    # z = (36 − 18 − 0.5) / √39 = 2.802, two-sided p = erfc(2.802 / √2) = 0.00508.
    u, p = _normal_approximation(np.array(SLOW), np.array(OLD))
    assert u == 36.0
    assert p == pytest.approx(math.erfc((17.5 / math.sqrt(39)) / math.sqrt(2)), rel=1e-9)
    assert p == pytest.approx(0.00508, abs=1e-5)
    # ties: [1, 2, 2] against [2, 3, 3] — midranks 1, 3, 3 | 3, 5.5, 5.5: U = 7 − 6 = 1
    assert _normal_approximation(np.array([1.0, 2, 2]), np.array([2.0, 3, 3]))[0] == 1.0
    assert _normal_approximation(np.array([2.0] * 5), np.array([2.0] * 5))[1] == 1.0  # all tied: no evidence


def test_regression_flags_by_hand():
    # medians 1.01 and 1.575: +55.9 %, and p = 0.005: a regression
    slow = compare(np.array(OLD), np.array(SLOW))
    assert slow.delta_percent == pytest.approx((1.575 - 1.01) / 1.01 * 100)
    assert (slow.regression, slow.verdict) == (True, "regression")
    # +5 %: never a regression, significant or not
    assert not compare(np.array(OLD), np.array(OLD) * 1.05).regression
    # +30 % on five noisy timings: ranks of new 2, 4, 6, 9, 10 → U = 31 − 15 = 16, mean 12.5,
    # sd √(25 × 11 / 12) = 4.787, z = (16 − 12.5 − 0.5) / 4.787 = 0.63, p = 0.53: not significant, no flag
    noisy = compare(np.array([1.0, 2, 3, 4, 5]), np.array([1.3, 2.6, 3.9, 5.2, 6.5]))
    assert noisy.delta_percent == pytest.approx(30.0)
    assert noisy.p_value == pytest.approx(0.53, abs=0.01)
    assert (noisy.regression, noisy.verdict) == (False, "no significant change")
    # faster and significant: improved
    assert compare(np.array(SLOW), np.array(OLD)).verdict == "improved"
    # four timings are too few to judge
    assert compare(np.array(OLD[:4]), np.array(SLOW[:4])).verdict == "too few samples"
    assert slowdown_percent(np.array(OLD), np.array(SLOW)) == pytest.approx(55.94, abs=0.01)
    assert slowdown_percent(np.array(SLOW), np.array(OLD)) == 0.0
    assert slowdown_percent(np.array(OLD[:4]), np.array(SLOW)) is None


def test_the_view_compares_event_timings_and_series_per_operation():
    timed = [
        (
            f"t{n}{side}",
            "migration.operation_timed",
            NOW - HOUR + n,
            {"operation": "register", "system": side, "duration_s": v},
        )
        for n, (o, s) in enumerate(zip(OLD, SLOW, strict=True))
        for side, v in (("old", o), ("new", s))
    ]
    rows = [("migration_response_time_seconds", json.dumps({"system": "old"}), v) for v in OLD] + [
        ("migration_response_time_seconds", json.dumps({"system": "new"}), v * 0.5) for v in OLD
    ]
    series = series_timings(
        pl.DataFrame(rows, schema={"name": pl.String, "labels": pl.String, "value": pl.Float64}, orient="row")
    )
    v = view(activity=timed, timings=series)
    perf = {r["operation"]: r for r in v.performance.iter_rows(named=True)}
    assert set(perf) == {"register", "response time"}
    assert perf["register"]["regression"] and perf["register"]["old_n"] == 6 and perf["register"]["new_n"] == 6
    assert perf["response time"]["verdict"] == "improved" and perf["response time"]["delta_p50_pct"] == -50.0
    assert v.regressions == 1
    assert v.perf_delta_pct == pytest.approx(round((55.9 - 50.0) / 2, 1), abs=0.1)  # mean of the two Δ p50
    assert any(f.rule == "performance" and "register" in f.message for f in v.findings)


def test_recent_operations_newest_first():
    ops = recent_operations(events(*STATE, batch("b1", NOW - HOUR, 960, 40)), limit=2)
    assert ops.select("type", "subject").rows() == [("batch_completed", "b1"), ("phase_progress", "b")]
    assert ops["detail"][0].startswith("customers: 1000 records, 40 failed")
    assert recent_operations(events(*STATE), limit=5, kinds=("phase_started",))["subject"].to_list() == ["b", "a"]


# --- the recording rules behind the alerts ---------------------------------------------------------------------------


def test_rollback_rule_counts_the_past_hour():
    frame = events(
        batch("b1", day(1), 10, 0),
        ("r1", "migration.rollback", day(1) + 10 * 60_000, {"batch_id": "b1"}),
        ("i1", "migration.issue_resolved", day(1) + 20 * 60_000, {"issue_id": "I", "resolution_type": "rollback"}),
        ("i2", "migration.issue_resolved", day(1) + 25 * 60_000, {"issue_id": "J", "resolution_type": "manual"}),
    )
    at = np.array([day(1) + m * 60_000 for m in (5, 15, 25, 70, 75, 85)], dtype=np.int64)
    out = rule("migration_rollbacks_per_hour").evaluate(frame, at)
    # minute 15 sees the rollback event, 25 both (the manual resolution is no rollback); 70 still the issue (20 + 60
    # > 70), 75 neither: (t − 60 min, t] excludes minute 10 from 70 on and minute 20 from 80 on
    assert out["value"].to_list() == [0.0, 1.0, 2.0, 1.0, 1.0, 0.0]


def test_regression_rule_flags_the_operation_only_while_the_past_hour_is_slow_and_significant():
    timed = []
    for m in range(0, 120, 5):  # a timing of each system every 5 minutes; the new one 1.5 s over minutes [30, 90)
        new = 1.5 if 30 <= m < 90 else 0.8
        for side, value in (("old", 1.0 + 0.001 * (m % 7)), ("new", new)):
            data = {"operation": "register", "system": side, "duration_s": value}
            timed.append((f"{m}{side}", "migration.operation_timed", day(1) + m * 60_000, data))
    at = np.array([day(1) + m * 60_000 for m in (20, 60, 85, 115)], dtype=np.int64)
    out = rule("migration_performance_regression_percent").evaluate(events(*timed), at)
    values = dict(zip(((out["ts"] - day(1)) // 60_000).to_list(), out["value"].to_list(), strict=True))
    # minute 20: (−40, 20] holds 5 timings a side, the new ones faster: 0
    assert values[20] == 0.0
    # minute 60: (0, 60] holds 12 a side; 7 new are slow (30..60) and 5 fast, so the new median is 1.5 (+50 %),
    # but 5 new timings sit below every old one: U = 7 × 12 = 84 against a mean of 72, z ≈ 0.66, p ≈ 0.5 —
    # not significant, so no regression is recorded
    assert values[60] == 0.0
    # minute 85: (25, 85] holds only slow new timings (30..85): fully separated, p < 0.001. The old ones are
    # 1 + 0.001 × (m mod 7) for m = 30..85, i.e. 1.000..1.006 with median 1.0025: (1.5 − 1.0025) / 1.0025 = +49.63 %
    assert values[85] == pytest.approx(49.63, abs=0.01)
    # minute 115: (55, 115] holds 6 slow and 6 fast new timings: U = 72 = its mean, p = 1: 0
    assert values[115] == 0.0
    assert set(out["operation"].to_list()) == {"register"}


# --- what the page draws ---------------------------------------------------------------------------------------------


def test_the_roadmap_has_planned_and_forecast_bars_milestones_and_today():
    from core.ui import migration_frames as mf
    from core.ui import widgets as w

    v = view()
    frame = mf.roadmap(v)
    assert frame.group_by("kind").len().sort("kind").rows() == [
        ("forecast", 3),
        ("link", 1),  # Gamma depends on Alpha
        ("milestone", 1),  # the dated review has no phase row to sit on; Alpha's milestone does
        ("planned", 3),
        ("today", 1),
    ]
    # the dependency runs from Alpha's forecast end (day 50) to Gamma's forecast start, the same day 50: Gamma waits
    link = frame.filter(pl.col("kind") == "link").row(0, named=True)
    assert (link["from_task"], link["task"], link["status"]) == ("Alpha · 40 %", "Gamma · 0 %", "ok")
    assert link["start"].timestamp() * 1000 == day(50) == link["end"].timestamp() * 1000
    # the row label carries the progress, the bar colour the status (Alpha and Gamma late, Beta on plan)
    assert dict(frame.filter(pl.col("kind") == "forecast").select("task", "status").iter_rows()) == {
        "Alpha · 40 %": "late",
        "Beta · 50 %": "in progress",
        "Gamma · 0 %": "late",
    }
    spec = json.dumps(w.build(w.RoadmapConfig(title="t", order=mf.order(v)), frame).chart.to_dict())  # type: ignore[union-attr]
    assert '"shape": "diamond"' in spec and '"text": "today"' in spec and '"strokeDash": [4, 2]' in spec
    assert '"shape": "triangle-down"' in spec  # Gamma's row is below Alpha's: the arrow points down onto it


def test_a_dependent_that_started_before_its_prerequisite_ended_is_an_overlap_link():
    """Gamma (after Alpha) reports progress on day 25 while Alpha runs until day 50: the link goes backwards from
    Alpha's end (day 50) to Gamma's start (day 25) and says so."""
    from core.ui import migration_charts
    from core.ui import migration_frames as mf

    early = [*STATE, ("c-start", "migration.phase_started", day(25), {"phase_id": "c", "status": "in_progress"})]
    frame = mf.roadmap(view(state=early))
    link = frame.filter(pl.col("kind") == "link").row(0, named=True)
    assert link["status"] == "overlap" and link["detail"] == "Gamma started before Alpha ended"
    assert link["end"].timestamp() * 1000 == day(25)
    layers = migration_charts.dependency_arrows(frame.filter(pl.col("kind") == "link"), mf.order(view(state=early)))
    line = layers[0].to_dict()
    points = next(iter(line["datasets"].values()))
    assert line["mark"] == {"type": "line", "strokeWidth": 1.5, "color": "#D55E00", "strokeDash": [4, 3]}
    assert [p["task"] for p in points] == ["Alpha · 40 %"] * 2 + ["Gamma · 0 %"]  # end → along Alpha's row → down
    assert migration_charts.dependency_arrows(frame.filter(pl.col("kind") == "link"), ["elsewhere"]) == []


def test_the_change_chart_always_shows_the_regression_line():
    from core.ui import widgets as w

    small = pl.DataFrame({"operation": ["a"], "delta_pct": [-2.0], "verdict": ["improved"]})
    spec = w.build(w.DeltaConfig(title="t", thresholds=w.Thresholds(warning=10)), small).chart.to_dict()  # type: ignore[union-attr]
    domain = spec["layer"][0]["encoding"]["x"]["scale"]["domain"]
    assert domain[0] <= -2.0 and domain[1] >= 15.0  # reaches past +10 %, so the rule and its label are on the chart
    assert any(layer.get("mark", {}).get("strokeDash") == [5, 3] for layer in spec["layer"])
