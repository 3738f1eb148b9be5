"""QSE compliance per session and for the organisation, on a crafted history whose answers are worked out by hand."""

from __future__ import annotations

import numpy as np
import polars as pl
import pytest

from core.config import ConfigError, load_settings
from core.programmes import compliance as c
from core.programmes.qse import COF_DIMENSIONS, UCL_LAWS
from core.programmes.qse_events import QseData, Weights, assessments
from core.programmes.sessions import session_table, session_view
from tests.qse_history import DAY, HOUR, T0, History

RULES = c.QseRules()
END = T0 + 3 * DAY
RISK, GOVERNANCE = "Risk Management", "Governance & Oversight"

# S1: a full assessment at 92 % on day 1, then on day 2 eleven dimensions at 0.90, two at 0.70, every law at 0.80
S1_COF = (11 * 0.90 + 2 * 0.70) / 13
S1_OVERALL = 0.6 * S1_COF + 0.4 * 0.80  # 0.8415: warning
# S2 (partial coverage): the first ten dimensions at 0.95, the first three laws at 0.60, the rest never scored
S2_OVERALL = 0.6 * 0.95 + 0.4 * 0.60  # 0.81: warning
S2_COVERAGE = (10 + 3) / 18
# S3: everything at 0.70: critical


def history() -> History:
    h = History()
    h.started("S1", T0, "feature", "platform", ["design", "build"])
    h.assessed("S1", T0 + DAY, 0.92, 0.92, template="feature", team="platform")
    s1 = dict.fromkeys(COF_DIMENSIONS, 0.90) | {RISK: 0.70, GOVERNANCE: 0.70}
    h.assessed("S1", T0 + 2 * DAY, s1, 0.80, template="feature", team="platform")
    h.started("S2", T0, "audit", "data", ["analysis"])
    h.assessed(
        "S2",
        T0 + 2 * DAY,
        dict.fromkeys(COF_DIMENSIONS[:10], 0.95),
        dict.fromkeys(UCL_LAWS[:3], 0.60),
        template="audit",
    )
    h.started("S3", T0, "feature", "mobile", ["design"])
    h.assessed("S3", T0 + 2 * DAY, 0.70, 0.70)
    h.evidence("S1", T0 + DAY, "COF", RISK, 0.8, 1)
    h.evidence("S1", T0 + DAY, "cof", "risk management", 0.6, 2)  # spelling as a hand-written bundle might have it
    h.evidence("S2", T0 + DAY, "UCL", "Systematic Approach", 0.7, 3)
    return h


@pytest.fixture
def data() -> QseData:
    return QseData.of(history().frame())


def test_each_session_scores_weights_times_framework_means_with_band_and_trend(data):
    table = c.session_compliance(data.assessments, RULES, END).sort("session_id")
    rows = {r["session_id"]: r for r in table.iter_rows(named=True)}
    assert rows["S1"]["overall"] == pytest.approx(S1_OVERALL)  # the event's own 0.5 is ignored: recomputed
    assert rows["S1"]["band"] == "warning"
    assert rows["S1"]["trend_points"] == pytest.approx((S1_OVERALL - 0.92) * 100)  # -7.85 points
    assert rows["S1"]["degraded"] is True
    assert rows["S2"]["overall"] == pytest.approx(S2_OVERALL) and rows["S2"]["band"] == "warning"
    assert rows["S3"]["overall"] == pytest.approx(0.70) and rows["S3"]["band"] == "critical"
    assert rows["S3"]["trend_points"] is None and rows["S3"]["degraded"] is False  # a first assessment


def test_partial_coverage_counts_only_the_scored_criteria_and_says_so(data):
    s2 = data.assessments.filter(pl.col("session_id") == "S2").row(0, named=True)
    assert s2["cof_mean"] == pytest.approx(0.95) and s2["ucl_mean"] == pytest.approx(0.60)
    assert s2["cof_coverage"] == pytest.approx(10 / 13) and s2["ucl_coverage"] == pytest.approx(3 / 5)
    assert s2["coverage"] == pytest.approx(S2_COVERAGE)
    detail = session_view(data, "S2", END, RULES)
    assert detail is not None
    unscored = detail.criteria.filter(pl.col("score").is_null())["criterion"].to_list()
    assert unscored == [*COF_DIMENSIONS[10:], *UCL_LAWS[3:]]
    assess = detail.recommendations.filter(pl.col("action").str.starts_with("Assess"))
    assert set(assess["area"]) == {f"COF · {d}" for d in COF_DIMENSIONS[10:]} | {f"UCL · {law}" for law in UCL_LAWS[3:]}
    assert set(assess["priority"]) == {"medium"}


def test_organisation_scores_each_criterion_as_the_mean_of_the_sessions_latest(data):
    table = c.criteria(data.assessments, RULES, END)
    score = dict(zip(table["criterion"], table["score"], strict=True))
    scored_by = dict(zip(table["criterion"], table["sessions"], strict=True))
    assert score[COF_DIMENSIONS[0]] == pytest.approx((0.90 + 0.95 + 0.70) / 3)  # 0.85: compliant, just
    assert score[RISK] == pytest.approx((0.70 + 0.95 + 0.70) / 3)
    assert score[COF_DIMENSIONS[10]] == pytest.approx((0.90 + 0.70) / 2) and scored_by[COF_DIMENSIONS[10]] == 2
    assert score[GOVERNANCE] == pytest.approx(0.70)
    assert score[UCL_LAWS[0]] == pytest.approx((0.80 + 0.60 + 0.70) / 3)
    assert score[UCL_LAWS[4]] == pytest.approx((0.80 + 0.70) / 2)
    bands = dict(zip(table["criterion"], table["band"], strict=True))
    assert (bands[COF_DIMENSIONS[0]], bands[RISK], bands[GOVERNANCE], bands[UCL_LAWS[4]]) == (
        "compliant",
        "warning",
        "critical",
        "warning",
    )
    cof = (9 * 0.85 + (0.70 + 0.95 + 0.70) / 3 + 2 * 0.80 + 0.70) / 13
    ucl = (3 * 0.70 + 2 * 0.75) / 5
    summary = c.summary(table, c.session_compliance(data.assessments, RULES, END), RULES)
    assert summary.cof == pytest.approx(cof) and summary.ucl == pytest.approx(ucl)
    assert summary.overall == pytest.approx(0.6 * cof + 0.4 * ucl)
    assert summary.coverage == pytest.approx((1 + S2_COVERAGE + 1) / 3)
    assert summary.band == "warning"  # 0.6 × 0.8256 + 0.4 × 0.72 = 0.783
    # the weakest: four criteria at 0.70, COF before UCL, then the framework's order
    assert c.weakest(table)["criterion"].to_list() == [GOVERNANCE, UCL_LAWS[0], UCL_LAWS[1]]


def test_evidence_is_counted_per_criterion_whatever_its_spelling(data):
    counts = c.evidence_counts(data.evidence, END)
    by = dict(zip(counts["criterion"], counts["records"], strict=True))
    assert by[RISK] == 2 and by["Systematic Approach"] == 1
    assert sum(by.values()) == 3 and counts.height == 18
    mean = counts.filter(pl.col("criterion") == RISK)["mean_score"][0]
    assert mean == pytest.approx((0.8 + 0.6) / 2)
    assert c.evidence_counts(data.evidence, END, ["S2"])["records"].sum() == 1


def test_session_recommendations_name_the_drop_then_the_critical_then_the_warning_criteria(data):
    detail = session_view(data, "S1", END, RULES)
    assert detail is not None
    recs = detail.recommendations
    assert recs["area"][0] == "Overall" and recs["priority"][0] == "high"
    assert "7.8 points" in recs["why"][0]
    high = recs.filter((pl.col("priority") == "high") & (pl.col("area") != "Overall"))
    assert set(high["area"]) == {f"COF · {RISK}", f"COF · {GOVERNANCE}"}
    assert set(high["action"]) == {f"Raise {RISK} (at 70.0 %)", f"Raise {GOVERNANCE} (at 70.0 %)"}
    medium = recs.filter(pl.col("priority") == "medium")
    assert medium.height and medium["area"].str.starts_with("UCL").all()  # every law at 0.80: warning
    # evidence counted for the session's own criteria: Risk Management has two records, Governance none
    assert "2 evidence record(s)" in high.filter(pl.col("area") == f"COF · {RISK}")["why"][0]


def test_sessions_table_bands_and_degradation(data):
    table = session_table(data, ["S1", "S2", "S3"], END, RULES)
    rows = {r["session"]: r for r in table.iter_rows(named=True)}
    assert rows["S1"]["compliance"] == pytest.approx(round(S1_OVERALL * 100, 1))
    assert rows["S1"]["trend"] == pytest.approx(round((S1_OVERALL - 0.92) * 100, 1))
    assert [rows[s]["band"] for s in ("S1", "S2", "S3")] == ["warning", "warning", "critical"]
    assert rows["S2"]["team"] == "data" and rows["S3"]["template"] == "feature"


@pytest.mark.parametrize(
    ("score", "expected"),
    [(0.85, "compliant"), (0.8499, "warning"), (0.75, "warning"), (0.7499, "critical"), (None, "not assessed")],
)
def test_band_boundaries_follow_the_settings(score, expected):
    assert c.band_of(score, RULES) == expected
    frame = pl.DataFrame({"s": [score]}, schema={"s": pl.Float64})
    assert frame.select(c.band(pl.col("s"), RULES)).item() == expected


def test_other_weights_change_the_overall_score():
    frame = history().frame()
    weighted = assessments(frame, Weights(0.7, 0.3)).filter(pl.col("session_id") == "S1").sort("ts")
    assert weighted["overall"][-1] == pytest.approx(0.7 * S1_COF + 0.3 * 0.80)


def test_weights_that_do_not_sum_to_one_are_a_clear_settings_error():
    with pytest.raises(ConfigError) as error:
        load_settings(qse_cof_weight=0.7)
    message = str(error.value)
    assert "PULSEBOARD_QSE_UCL_WEIGHT" in message
    assert "qse_cof_weight + qse_ucl_weight must sum to 1, got 0.7 + 0.4 = 1.1" in message
    with pytest.raises(ValueError, match="must sum to 1"):
        Weights(0.7, 0.4)
    assert load_settings(qse_cof_weight=0.7, qse_ucl_weight=0.3).qse_ucl_weight == 0.3
    with pytest.raises(ConfigError, match=r"qse_critical_below.*must be below qse_warning_below"):
        load_settings(qse_critical_below=0.9)


def test_settings_reach_the_rules():
    rules = c.QseRules.of(load_settings(qse_cof_weight=0.5, qse_ucl_weight=0.5, qse_teams=["a", "b"]))
    assert (rules.weights.cof, rules.weights.ucl, rules.warning_below, rules.min_uses, rules.teams) == (
        0.5,
        0.5,
        0.85,
        5,
        ("a", "b"),
    )


def test_the_organisation_is_assessed_week_on_week():
    h = History()
    for day, score in ((1, 0.92), (3, 0.88), (8, 0.81), (10, 0.79)):
        h.assessed(f"W{day}", T0 + day * DAY, score, score)
    assessed = assessments(h.frame())
    at = np.array([T0 + 6 * DAY, T0 + 14 * DAY - HOUR, T0 + 18 * DAY], dtype=np.int64)
    now = c.organisation_score(assessed, at)
    assert now[0] == pytest.approx((0.92 + 0.88) / 2) and now[1] == pytest.approx((0.81 + 0.79) / 2)
    assert np.isnan(now[2])  # (day 11, day 18] holds no assessment
    drop = c.organisation_drop(assessed, at)
    assert drop[0] == 0.0  # no week before it: nothing to have dropped from
    assert drop[1] == pytest.approx(((0.92 + 0.88) / 2 - (0.81 + 0.79) / 2) * 100)  # 10 points
