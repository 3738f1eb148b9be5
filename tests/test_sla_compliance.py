"""Compliance from crafted step histories: shares, success rate, response times, breaching items, windows."""

from __future__ import annotations

import polars as pl
import pytest

from core.sla import compliance as comp
from core.sla.definitions import DEFAULTS, DefinitionError, parse_definition
from tests.sla_history import DAY, HOUR, MIN, NOW, dor_history, frame, step, workflow

DOR = next(d for d in DEFAULTS if d.id == "dor_validation")
REVIEWS = next(d for d in DEFAULTS if d.id == "progress_reviews")
E2E = next(d for d in DEFAULTS if d.id == "end_to_end_workflow")


def dor_items() -> pl.DataFrame:
    return comp.items_for(DOR, comp.step_items(frame(dor_history()), NOW), comp.workflow_items(frame([]), NOW))


def test_last_hour_counts_ended_items_and_open_items_over_target():
    result = comp.item_compliance(dor_items(), DOR, NOW - HOUR, NOW)
    assert result.total == 11  # ten ended in the hour + WF-10, open for 30 min
    assert result.within_target == pytest.approx(8 / 11)
    assert result.success_rate == pytest.approx(9 / 10)  # open items have no outcome yet
    assert result.met(DOR) is False


def test_breaching_items_say_by_how_much_and_which_escalate():
    rows = comp.item_compliance(dor_items(), DOR, NOW - HOUR, NOW).breaching
    assert rows["workflow_id"].to_list() == ["WF-10", "WF-9", "WF-8"]
    assert rows["over_s"].to_list() == pytest.approx([900.0, 600.0, 180.0])
    assert rows["over_pct"].to_list() == pytest.approx([100.0, 200 / 3, 20.0])
    assert rows["escalated"].to_list() == [True, True, False]  # escalation at 20 min
    assert rows["open"].to_list() == [True, False, False]


def test_longer_window_takes_in_older_items():
    day = comp.item_compliance(dor_items(), DOR, NOW - DAY, NOW)
    assert day.total == 12
    assert day.within_target == pytest.approx(8 / 12)
    assert day.success_rate == pytest.approx(10 / 11)
    assert day.breaching.height == 4


def test_open_item_under_target_is_not_counted_yet():
    items = comp.step_items(frame(step("WF-1", "dor_validation", 5, None)), NOW)
    assert items["open"].to_list() == [True]
    assert items["duration_s"].to_list() == [300.0]
    assert comp.item_compliance(items, DOR, NOW - HOUR, NOW).total == 0


def test_reviewer_response_share_uses_queue_wait():
    events = (
        step("A", "progress_review", 100, 60, wait_s=10 * 60)
        + step("B", "progress_review", 90, 60, wait_s=29 * 60)
        + step("C", "progress_review", 80, 60, wait_s=45 * 60)
        + step("D", "progress_review", 70, 60, wait_s=31 * 60)
    )
    items = comp.items_for(REVIEWS, comp.step_items(frame(events), NOW), comp.workflow_items(frame([]), NOW))
    result = comp.item_compliance(items, REVIEWS, NOW - DAY, NOW)
    assert result.response_share == pytest.approx(0.5)
    assert result.within_target == 1.0


def test_retries_are_separate_items():
    events = step("A", "dor_validation", 50, 5, status="failed") + step("A", "dor_validation", 40, 5, attempt=2)
    items = comp.step_items(frame(events), NOW)
    assert sorted(items["attempt"].to_list()) == [1, 2]
    assert comp.item_compliance(items, DOR, NOW - HOUR, NOW).success_rate == 0.5


def test_end_to_end_workflows_from_created_to_completed_or_failed():
    events = (
        workflow("W1", 600, 200)
        + workflow("W2", 500, 300)
        + workflow("W3", 400, 100, failed=True)
        + workflow("W4", 420, None)
    )
    items = comp.items_for(E2E, comp.step_items(frame([]), NOW), comp.workflow_items(frame(events), NOW))
    result = comp.item_compliance(items, E2E, NOW - DAY, NOW)
    # W4 has run 7 h (> 4 h target) and counts as over; W2 took 5 h.
    assert result.total == 4
    assert result.within_target == pytest.approx(2 / 4)
    assert result.success_rate == pytest.approx(2 / 3)
    assert result.breaching.filter(pl.col("escalated"))["workflow_id"].to_list() == ["W4"]  # past 6 h


def test_latency_metric_share_of_time_within_target():
    p95 = next(d for d in DEFAULTS if d.id == "api_p95")
    times = [NOW - HOUR + n * MIN for n in range(60)]
    values = pl.DataFrame(
        {"ts": times, "series": ["api"] * 60, "value": [0.9 if n < 6 else 0.3 for n in range(60)]}
    ).with_columns(pl.col("ts").cast(pl.Datetime("ms", "UTC")))
    result = comp.metric_compliance(values, p95, NOW - HOUR, NOW)
    assert result.total == 60
    assert result.within_target == pytest.approx(0.9)
    assert result.breaching.height == 6
    assert result.breaching["over_s"].to_list() == pytest.approx([0.4] * 6)


def test_availability_metric_is_the_mean_of_up():
    uptime = next(d for d in DEFAULTS if d.id == "uptime")
    values = pl.DataFrame(
        {
            "ts": [NOW - 4 * MIN, NOW - 3 * MIN, NOW - 2 * MIN, NOW - MIN],
            "series": ["up"] * 4,
            "value": [1.0, 1.0, 0.5, 1.0],
        }
    ).with_columns(pl.col("ts").cast(pl.Datetime("ms", "UTC")))
    result = comp.metric_compliance(values, uptime, NOW - HOUR, NOW)
    assert result.availability == pytest.approx(0.875)
    assert result.met(uptime) is False


@pytest.mark.parametrize(
    ("change", "reason"),
    [
        ({"escalation_s": 600.0}, "escalation threshold (600 s) must be longer than the target (900 s)"),
        ({"objective": 1.0}, "objective: Input should be less than 1"),
        ({"target_s": -5}, "target_s: Input should be greater than 0"),
        ({"availability_selector": 'up{job="x'}, "availability selector"),
        ({"kind": "latency", "selector": None}, "a latency SLA needs a metric selector"),
    ],
)
def test_a_bad_edit_is_refused_with_the_reason(change, reason):
    with pytest.raises(DefinitionError, match=None) as refused:
        parse_definition(DOR.model_dump() | change)
    assert reason in str(refused.value)


def test_defaults_follow_the_specification():
    by_id = {d.id: d for d in DEFAULTS}
    assert (
        by_id["dor_validation"].target_s,
        by_id["dor_validation"].objective,
        by_id["dor_validation"].escalation_s,
        by_id["dor_validation"].availability_target,
    ) == (900, 0.995, 1200, 0.999)
    assert (
        by_id["progress_reviews"].target_s,
        by_id["progress_reviews"].escalation_s,
        by_id["progress_reviews"].response_s,
    ) == (7200, 14400, 1800)
    assert (by_id["dod_validation"].target_s, by_id["dod_validation"].escalation_s) == (600, 900)
    assert (by_id["final_qms_review"].objective, by_id["final_qms_review"].escalation_s) == (0.998, 2700)
    assert (by_id["end_to_end_workflow"].target_s, by_id["end_to_end_workflow"].objective) == (4 * 3600, 0.985)
    assert [by_id[k].target_s for k in ("api_p50", "api_p95", "api_p99", "dashboard_page_load", "data_freshness")] == [
        0.2,
        0.5,
        1.0,
        2.0,
        5.0,
    ]
    assert by_id["uptime"].objective == 0.9995
