"""One session's detail: progress, the planned-vs-actual phases, gates and the rate-based projection, by hand."""

from __future__ import annotations

import polars as pl
import pytest

from core.programmes.compliance import QseRules
from core.programmes.qse_events import QseData
from core.programmes.sessions import in_scope, predict, session_table, session_view
from tests.qse_history import DAY, HOUR, T0, History

RULES = QseRules()
S = T0 + DAY  # session P starts
END = S + 30 * HOUR  # design took 15 h (planned 10), a 5 h gap, build has run 10 of its planned 20 h


def history() -> History:
    h = History()
    h.started("P", S, "feature", "platform", ["design", "build", "check"])
    h.phase("P", "design", S, 10, 15, template="feature", team="platform")
    h.gate("P", "design", S + 15 * HOUR, False, 0.6, "design-review")
    h.gate("P", "design", S + 16 * HOUR, True, 0.8, "design-review")  # re-evaluated: passes now
    h.deliverable("P", "design", S + 14 * HOUR, 0.9, "architecture")
    h.phase("P", "build", S + 20 * HOUR, 20, template="feature", team="platform")
    # two finished sessions of the template tell how long its check phase is usually planned: 12 h and 8 h
    for sid, check in (("Q", 12), ("R", 8)):
        h.started(sid, T0 - 5 * DAY, "feature", "data", ["design", "check"])
        h.phase(sid, "design", T0 - 5 * DAY, 10, 10)
        h.phase(sid, "check", T0 - 4 * DAY, check, check)
        h.completed(sid, T0 - 3 * DAY)
    return h


@pytest.fixture
def data() -> QseData:
    return QseData.of(history().frame())


def test_projection_extends_the_rate_so_far_over_what_is_left(data):
    p = predict(data, "P", END, RULES)
    rate = (15 + 10) / (10 + 10)  # hours spent ÷ plan credited (build: 10 of its 20 planned hours so far)
    remaining = (20 * rate - 10) + 10 * rate  # build's rest at that rate, and check at the template's median 10 h
    assert p.planned_hours == pytest.approx(10 + 20 + 10)
    assert p.predicted_hours == pytest.approx(25 + remaining)  # 52.5
    assert p.ratio == pytest.approx((25 + remaining) / 40)  # 1.31
    factor = 30 / 25  # calendar hours since the start ÷ work hours so far
    assert p.completion_ms == pytest.approx(END + remaining * factor * HOUR, abs=1)
    assert p.risk == "medium" and p.reasons == ("projected at 1.31× its planned hours",)


def test_a_running_phase_past_the_delay_multiplier_is_high_risk(data):
    later = S + 20 * HOUR + 31 * HOUR  # build has run 31 of its 20 planned hours: 1.55×
    p = predict(data, "P", later, RULES)
    assert p.risk == "high" and "build has run 1.55× its planned hours" in p.reasons


def test_a_completed_session_reports_what_it_took(data):
    p = predict(data, "Q", END, RULES)
    assert (p.risk, p.planned_hours, p.predicted_hours, p.ratio) == ("done", 22.0, 22.0, 1.0)
    assert p.completion_ms == T0 - 3 * DAY


def test_detail_shows_phases_planned_against_actual_and_the_latest_gate(data):
    detail = session_view(data, "P", END, RULES)
    assert detail is not None
    bars = detail.gantt.select("task", "kind", "status", "hours").rows()
    assert bars == [
        ("design", "planned", "plan", 10.0),
        ("design", "actual", "done", 15.0),
        ("build", "planned", "plan", 20.0),
        ("build", "actual", "running", 10.0),
    ]
    running = detail.gantt.filter((pl.col("task") == "build") & (pl.col("kind") == "actual"))
    assert running["end"][0].timestamp() * 1000 == END
    gates = detail.gates.row(0, named=True)
    assert (gates["gate"], gates["result"], gates["evaluations"]) == ("design-review", "passed", 2)
    assert detail.deliverables["quality"].to_list() == [90.0]
    assert detail.header["phase"] == "build" and detail.header["progress"] == pytest.approx(100 / 3, abs=0.05)
    assert detail.header["band"] == "not assessed" and detail.criteria["score"].is_null().all()
    assert session_view(data, "nobody", END, RULES) is None


def test_sessions_table_and_scope_follow_the_end_of_the_range(data):
    assert sorted(in_scope(data, S, END)) == ["P"]  # Q and R completed before
    assert sorted(in_scope(data, T0 - 6 * DAY, END)) == ["P", "Q", "R"]
    assert sorted(in_scope(data, T0 - 6 * DAY, END, {"status": "completed"})) == ["Q", "R"]
    assert in_scope(data, T0 - 6 * DAY, END, {"team": "platform"}) == ["P"]
    table = session_table(data, ["P", "Q"], END, RULES)
    rows = {r["session"]: r for r in table.iter_rows(named=True)}
    assert rows["P"]["phase"] == "build" and rows["P"]["overrun"] == pytest.approx(0.5)
    assert rows["P"]["gates_failed"] == 0  # its failed gate passed on re-evaluation
    assert (rows["Q"]["status"], rows["Q"]["progress"], rows["Q"]["phase"]) == ("completed", 100.0, "—")
    before_build = session_table(data, ["P"], S + 17 * HOUR, RULES).row(0, named=True)
    assert before_build["phase"] == "after design" and before_build["gates_failed"] == 0
    at_gate = session_table(data, ["P"], S + 15 * HOUR + 1, RULES).row(0, named=True)
    assert at_gate["gates_failed"] == 1
