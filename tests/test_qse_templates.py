"""Template effectiveness, customisation, suggestions and the organisation's figures on a crafted month, by hand.

Template ``feature``: five sessions started in the range (judged) plus one the month before.
Template ``spike``: four perfect sessions, one use short of being judged.
"""

from __future__ import annotations

import polars as pl
import pytest

from core.programmes.compliance import QseRules
from core.programmes.organisation import organisation_kpis, team_comparison
from core.programmes.qse_events import QseData
from core.programmes.templates import customisation, effectiveness, phase_stats, reference_phases, suggestions
from tests.qse_history import DAY, HOUR, T0, History

START, END = T0, T0 + 30 * DAY
RULES = QseRules(teams=("platform", "data", "mobile", "payments"))
PLAN = {"design": 10, "build": 20, "check": 10, "security": 5}


def run(
    h: History,
    sid: str,
    template: str,
    team: str,
    day: float,
    phases: dict[str, float | None],
    *,
    quality: float,
    compliance: float,
    outcome: str | None = "completed",
    failed: tuple[str, ...] = (),
) -> None:
    """A session starting on ``day``: each phase back to back (actual hours; None = still running), its gate
    passing unless named in ``failed``, one deliverable of ``quality``, one assessment at ``compliance``."""
    t = T0 + int(day * DAY)
    h.started(sid, t, template, team, list(phases))
    for name, actual in phases.items():
        h.phase(sid, name, t, PLAN.get(name, 8), actual, template=template, team=team)
        if actual is None:
            break
        t += int(actual * HOUR)
        h.gate(sid, name, t, name not in failed, 0.6 if name in failed else 0.9)
    h.deliverable(sid, next(iter(phases)), t, quality)
    h.assessed(sid, t, compliance, compliance, template=template, team=team)
    if outcome:
        h.completed(sid, t + HOUR, outcome)


def month() -> History:
    h = History()
    on_plan = {"design": 10.0, "build": 20.0, "check": 10.0}
    run(h, "F0", "feature", "platform", -10, on_plan, quality=0.9, compliance=0.9)  # the month before
    run(h, "F1", "feature", "platform", 1, on_plan, quality=0.9, compliance=0.9)
    run(h, "F2", "feature", "data", 2, {**on_plan, "design": 20.0, "security": 5.0}, quality=0.8, compliance=0.8)
    run(
        h, "F3", "feature", "platform", 3, {**on_plan, "security": 5.0}, quality=0.7, compliance=0.85, failed=("check",)
    )
    run(
        h,
        "F4",
        "feature",
        "data",
        4,
        {"design": 10.0, "check": 10.0},
        quality=1.0,
        compliance=0.95,
        outcome="abandoned",
    )
    run(
        h,
        "F5",
        "feature",
        "platform",
        5,
        {"design": 10.0, "build": None, "check": None},
        quality=0.9,
        compliance=0.9,
        outcome=None,
    )
    for n in range(4):
        run(h, f"S{n}", "spike", "data", 6 + n, {"explore": 8.0}, quality=1.0, compliance=1.0)
    return h


@pytest.fixture
def data() -> QseData:
    return QseData.of(month().frame())


def row(table: pl.DataFrame, template: str) -> dict:
    return table.filter(pl.col("template") == template).row(0, named=True)


def test_effectiveness_is_the_mean_of_success_schedule_quality_and_compliance(data):
    feature = row(effectiveness(data, START, END, RULES), "feature")
    assert (feature["uses"], feature["previous_uses"], feature["usage_trend"], feature["finished"]) == (5, 1, 4, 4)
    success = (1 + 1 + 0 + 0) / 4  # F3 ends with its check gate failing, F4 was abandoned
    schedule = (1 + 45 / 55 + 1 + 1) / 4  # F2 took 55 h of work for 45 planned
    quality = (0.9 + 0.8 + 0.7 + 1.0 + 0.9) / 5  # every use's deliverables, F5's too
    compliance = (0.9 + 0.8 + 0.85 + 0.95 + 0.9) / 5
    assert feature["success_pct"] == pytest.approx(round(success * 100, 1))
    assert feature["schedule_pct"] == pytest.approx(round(schedule * 100, 1))
    assert feature["quality_pct"] == pytest.approx(round(quality * 100, 1))
    assert feature["compliance_pct"] == pytest.approx(round(compliance * 100, 1))
    effective = (success + schedule + quality + compliance) / 4  # 0.7986
    assert feature["effectiveness_pct"] == pytest.approx(round(effective * 100, 1))
    assert feature["judged"] is True and feature["rating"] == "needs work"  # under 0.85
    assert feature["actual_hours"] == pytest.approx((40 + 55 + 45 + 20) / 4)  # work hours of the finished ones
    assert feature["planned_hours"] == pytest.approx((40 + 45 + 45 + 20) / 4)
    assert feature["hours_vs_plan"] == pytest.approx(round(40 / 37.5, 2))


def test_a_template_with_four_uses_is_not_judged_however_good(data):
    spike = row(effectiveness(data, START, END, RULES), "spike")
    assert spike["uses"] == 4 and spike["effectiveness_pct"] == pytest.approx(100.0)
    assert spike["judged"] is False and spike["rating"] == "too few uses"
    five = QseRules(min_uses=4)
    assert row(effectiveness(data, START, END, five), "spike")["rating"] == "excellent"


def test_customisation_heatmap_shows_added_and_skipped_phases(data):
    assert row(reference_phases(data), "feature")["reference"] == ["design", "build", "check"]
    cells = customisation(data, START, END).filter(pl.col("template") == "feature")
    share = dict(zip(cells["phase"], cells["share_pct"], strict=True))
    assert share == {"design": 0.0, "build": 20.0, "check": 0.0, "+ security": 40.0}  # F4 skips build; F2, F3 add
    assert dict(zip(cells["phase"], cells["change"], strict=True))["build"] == "skipped"


def test_suggestions_name_what_to_change(data):
    table = effectiveness(data, START, END, RULES)
    cells = customisation(data, START, END)
    found = suggestions(table, cells, phase_stats(data, START, END), RULES)
    said = {(t, s) for t, s in found.select("template", "suggestion").iter_rows()}
    assert ("feature", "Add security to the template") in said  # 40 % add it
    assert ("feature", "Make build optional") not in said  # 20 % skip it: under 25 %
    assert ("feature", "Review the template") in said
    assert ("feature", "Strengthen the check guidance") in said  # 1 of 4 check gates failed: 25 %
    assert ("spike", "Collect more uses before judging") in said
    assert found["priority"][0] == "high"


def test_organisation_kpis(data):
    k = organisation_kpis(data, START, END, RULES)
    assert (k.sessions, k.active_sessions) == (9, 1)  # F1-F5 and S0-S3; F5 still runs
    assert (k.teams_using, k.teams_known, k.adoption_pct) == (2, 4, 50.0)
    gates = 3 + 4 + 4 + 2 + 1 + 4  # F1 three phases, F2 and F3 four, F4 two, F5 one so far, S0-S3 one each
    assert k.gates == gates and k.gate_pass_pct == pytest.approx((gates - 1) / gates * 100)
    overall = (0.9 + 0.8 + 0.85 + 0.95 + 0.9 + 4 * 1.0) / 9  # every criterion alike: the mean of the sessions
    assert k.compliance_pct == pytest.approx(overall * 100) and k.band == "compliant"
    assert organisation_kpis(data, START, END, QseRules()).adoption_pct == 100.0  # teams seen: platform and data
    only = organisation_kpis(data, START, END, RULES, {"team": "data"})
    assert (only.sessions, only.teams_using) == (6, 1)  # F2, F4, S0-S3


def test_team_comparison(data):
    teams = team_comparison(data, START, END, RULES)
    platform = row(teams.rename({"team": "template"}), "platform")
    assert (platform["sessions"], platform["active"]) == (3, 1)
    assert platform["compliance_pct"] == pytest.approx(round((0.9 + 0.85 + 0.9) / 3 * 100, 1))
    assert platform["gate_pass_pct"] == pytest.approx(round(7 / 8 * 100, 1))  # F1 3, F3 4 (check failed), F5 1
