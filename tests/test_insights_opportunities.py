"""Each opportunity rule fires exactly past its threshold and not just short of it; dismissals persist."""

from __future__ import annotations

from types import SimpleNamespace

import polars as pl
import pytest

from core.auth import audit
from core.config import load_settings
from core.insights import dismissals, findings
from core.insights import opportunities as op
from core.store.engine import make_engine

S = load_settings()
EPS = 1e-6


def test_slow_queries_over_100_ms_only():
    frame = pl.DataFrame({"database": ["at", "over"], "mean_ms": [100.0, 100.0 + EPS]})
    found = op.slow_queries(frame, S.opportunity_slow_query_ms)
    assert [o.subject for o in found] == ["over"]
    assert found[0].numbers == {"mean_ms": 100.0, "limit_ms": 100.0} and found[0].effort == "medium"
    assert op.slow_queries(pl.DataFrame({"database": ["x"], "mean_ms": [250.0]}), 100)[0].improvement.startswith(
        "−150 ms per query (60 %)"
    )


def test_low_cache_hit_under_80_percent_only():
    frame = pl.DataFrame({"database": ["at", "under"], "hit_pct": [80.0, 80.0 - EPS]})
    assert [o.subject for o in op.low_cache_hit(frame, S.opportunity_cache_hit_percent)] == ["under"]


@pytest.mark.parametrize(
    ("cpu", "mem", "days", "fires"),
    [
        (29.9, 49.9, 7.0, True),
        (30.0, 10.0, 7.0, False),  # CPU at the limit
        (10.0, 50.0, 7.0, False),  # memory at the limit
        (29.9, 49.9, 6.9, False),  # not a week of history yet
    ],
)
def test_overprovisioned_hosts_need_both_limits_over_a_week(cpu, mem, days, fires):
    frame = pl.DataFrame({"host": ["h"], "cpu_pct": [cpu], "mem_pct": [mem], "days": [days]})
    found = op.overprovisioned_hosts(
        frame, S.opportunity_host_cpu_percent, S.opportunity_host_memory_percent, S.opportunity_host_days
    )
    assert bool(found) is fires
    if fires:
        assert found[0].numbers == {"cpu_percent": 29.9, "memory_percent": 49.9, "days": 7.0}


def test_agents_overloaded_above_and_idle_below_with_a_rebalance_named():
    frame = pl.DataFrame({"agent": ["a", "b", "c", "d"], "load_pct": [85.0, 85.0 + EPS, 20.0, 20.0 - EPS]})
    found = op.agents(frame, S.opportunity_agent_busy_percent, S.opportunity_agent_idle_percent)
    assert {(o.rule, o.subject) for o in found} == {("overloaded_agent", "b"), ("idle_agent", "idle agents")}
    busy = next(o for o in found if o.rule == "overloaded_agent")
    assert "move work to d" in busy.explanation
    idle = next(o for o in found if o.rule == "idle_agent")
    assert idle.title == "1 agent idle" and idle.numbers["load_percent:d"] == 20.0 and "c" not in idle.explanation
    assert "take work from b" in idle.explanation


def test_weak_templates_need_enough_use_and_to_be_below_the_threshold():
    frame = pl.DataFrame(
        {
            "template": ["at", "below", "unjudged"],
            "uses": [9, 9, 2],
            "effectiveness_pct": [85.0, 85.0 - EPS, 10.0],
            "judged": [True, True, False],
        }
    )
    assert [o.subject for o in op.weak_templates(frame, S.qse_template_effective * 100)] == ["below"]


def test_training_gaps_need_enough_gates_and_a_low_pass_rate():
    frame = pl.DataFrame(
        {"team": ["at", "below", "few"], "gates": [5, 5, 4], "gate_pass_pct": [80.0, 80.0 - EPS, 10.0]}
    )
    assert [o.subject for o in op.training_gaps(frame, S.opportunity_gate_pass_percent, S.opportunity_min_gates)] == [
        "below"
    ]


def test_steps_near_their_sla_come_from_the_sla_bottlenecks():
    step = SimpleNamespace(
        kind="step",
        name="security_scan",
        severity="high",
        items_affected=12,
        time_lost_s=600.0,
        detail="d",
        recommendation="r",
    )
    resource = SimpleNamespace(kind="resource", name="agent-1")
    found = op.steps_near_sla([step, resource])
    assert [(o.rule, o.subject, o.numbers["items_affected"]) for o in found] == [("step_near_sla", "security_scan", 12)]


def test_the_thresholds_come_from_settings():
    strict = load_settings(opportunity_slow_query_ms=5.0)
    inputs = op.Inputs(
        queries=pl.DataFrame({"database": ["qms"], "mean_ms": [6.0]}),
        caches=pl.DataFrame(schema={"database": pl.String, "hit_pct": pl.Float64}),
        hosts=pl.DataFrame(
            schema={"host": pl.String, "cpu_pct": pl.Float64, "mem_pct": pl.Float64, "days": pl.Float64}
        ),
        bottlenecks=[],
        agents=pl.DataFrame(schema={"agent": pl.String, "load_pct": pl.Float64}),
        templates=pl.DataFrame(
            schema={"template": pl.String, "uses": pl.Int64, "effectiveness_pct": pl.Float64, "judged": pl.Boolean}
        ),
        teams=pl.DataFrame(schema={"team": pl.String, "gates": pl.Int64, "gate_pass_pct": pl.Float64}),
    )
    assert [o.id for o in op.find(inputs, strict)] == ["slow_queries:qms"]
    assert op.find(inputs, S) == []


def test_dismissals_and_snoozes_persist_across_a_restart_and_are_audited(engine):
    dismissals.dismiss(engine, "slow_queries:qms", "known, fix planned for Q3", "alice", at_ms=1_000)
    dismissals.snooze(engine, "idle_agent:d", "holiday week", "bob", hours=2, at_ms=1_000)
    url = engine.url.render_as_string(hide_password=False)
    fresh = make_engine(url)  # a new engine on the same store: what a restarted process sees
    try:
        hidden = dismissals.hidden(fresh, at_ms=1_000 + 3_600_000)
        assert {k: (v.state, v.reason, v.actor) for k, v in hidden.items()} == {
            "slow_queries:qms": ("dismissed", "known, fix planned for Q3", "alice"),
            "idle_agent:d": ("snoozed", "holiday week", "bob"),
        }
        assert set(dismissals.hidden(fresh, at_ms=1_000 + 2 * 3_600_000)) == {"slow_queries:qms"}  # snooze over
        dismissals.restore(fresh, "slow_queries:qms", "alice")
        assert dismissals.hidden(fresh, at_ms=1_000 + 2 * 3_600_000) == {}
    finally:
        if fresh is not engine:
            fresh.dispose()
    log = audit.entries(engine)
    assert set(zip(log["action"], log["target"], strict=True)) >= {
        (audit.INSIGHT_DISMISSED, "slow_queries:qms"),
        (audit.INSIGHT_SNOOZED, "idle_agent:d"),
        (audit.INSIGHT_RESTORED, "slow_queries:qms"),
    }


def test_a_dismissal_needs_a_reason_and_a_sane_snooze(engine):
    with pytest.raises(ValueError, match="reason is required"):
        dismissals.dismiss(engine, "x", "   ", "alice")
    with pytest.raises(ValueError, match="at most 2160 hours"):
        dismissals.snooze(engine, "x", "why", "alice", hours=0)
    assert dismissals.hidden(engine) == {}


def test_findings_are_ranked_by_impact_and_split_by_dismissals():
    a = findings.Finding("a", "opportunity", "A", "", 50.0, "sla")
    b = findings.Finding("b", "drift", "B", "", 90.0, "insights")
    ranked = findings.rank([a, b])
    assert [f.id for f in ranked] == ["b", "a"]
    shown, hidden = findings.split(ranked, {"b": dismissals.Dismissal("b", "dismissed", None, "r", "x", 0)})
    assert [f.id for f in shown] == ["a"] and [f.id for f in hidden] == ["b"]
