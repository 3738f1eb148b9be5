"""Bottleneck ranking (items affected × time lost) and the critical path on a crafted history."""

from __future__ import annotations

import polars as pl
import pytest

from core.sla import bottlenecks as bn
from core.sla import compliance as comp
from core.sla.definitions import DEFAULTS
from tests.sla_history import NOW, bottleneck_history, frame, step
from tests.sla_history import UTILISATION as LOADS


def history() -> tuple[pl.DataFrame, pl.DataFrame]:
    data = frame(bottleneck_history())
    return comp.step_items(data, NOW), comp.workflow_items(data, NOW)


UTILISATION = pl.DataFrame({"resource": list(LOADS), "percent": list(LOADS.values())})


def test_ranking_by_items_affected_times_time_lost():
    steps, _ = history()
    found = bn.find_bottlenecks(steps, DEFAULTS, UTILISATION)
    table = bn.as_frame(found)
    assert table["impact_s"].to_list() == sorted(table["impact_s"].to_list(), reverse=True)
    by_name = {b.name: b for b in found}
    assert by_name["Progress reviews"].impact_s == pytest.approx(2 * 16 * 60)
    assert by_name["DoR validation"].impact_s == pytest.approx(3 * 200)
    assert by_name["DoR validation"].time_lost_s == pytest.approx(200)
    assert by_name["agent-x"].impact_s == pytest.approx(4 * 60)
    assert by_name["agent-y"].severity == "critical" and by_name["agent-y"].impact_s == pytest.approx(2 * 40 * 60)
    assert "agent-z" not in by_name and "DoD validation" not in by_name
    assert [b.name for b in found] == ["agent-y", "Progress reviews", "DoR validation", "agent-x"]
    assert table["rank"].to_list() == [1, 2, 3, 4]


def test_every_bottleneck_has_a_recommendation():
    steps, _ = history()
    for found in bn.find_bottlenecks(steps, DEFAULTS, UTILISATION):
        assert found.recommendation and found.name.split()[0] in found.recommendation


def test_rework_heavy_step_is_told_to_cut_rework():
    events = []
    for n in range(5):
        events += step(f"R{n}", "dod_validation", 300, 9, status="failed")
        events += step(f"R{n}", "dod_validation", 200, 9, attempt=2)
    found = bn.find_bottlenecks(comp.step_items(frame(events), NOW), DEFAULTS, UTILISATION.clear())
    assert [b.kind for b in found] == ["step"]
    assert found[0].recommendation.startswith("Cut rework in DoD validation: 100% of workflows")


def test_critical_path_orders_steps_and_marks_the_largest():
    steps, workflows = history()
    path = bn.critical_path(steps, workflows)
    assert path["step"].to_list() == ["dor_validation", "progress_review", "dod_validation"]
    assert path.filter(pl.col("dominant"))["step"].to_list() == ["progress_review"]
    assert path["share"].sum() == pytest.approx(1.0)
    # Progress review: one workflow of each two waits 40 min and works 60 min.
    assert path.filter(pl.col("step") == "progress_review")["total_s"].item() == pytest.approx(100 * 60)
