"""KPI functions of the Overview, Executive and Operations pages against hand-computed answers (no Streamlit)."""

from __future__ import annotations

import json
from datetime import UTC, datetime

import polars as pl
import pytest

from core.auth.access import Viewer
from core.config import load_settings
from core.kpis import alerting, executive, health, operations, workflow

H = 3_600_000
T0 = 1_755_400_000_000


def events(*rows: tuple[int, str, dict]) -> pl.DataFrame:
    """An events frame as core.kpis.records.load_events returns it."""
    return pl.DataFrame(
        [(f"e{n}", kind, ts, "test", json.dumps(data)) for n, (ts, kind, data) in enumerate(rows)],
        schema={"id": pl.String, "type": pl.String, "ts": pl.Int64, "source": pl.String, "data": pl.String},
        orient="row",
    )


def wf_events() -> pl.DataFrame:
    """Four workflows: A completed (2 steps worked 1 h + 0.5 h), B failed, C in review,
    D waiting after a failed DoR, E just created."""

    def step(ts, kind, wid, name, **extra):
        return (
            ts,
            f"workflow.{kind}",
            {"workflow_id": wid, "repository": "org/a", "step": name, "agent_id": "ag-1", **extra},
        )

    return events(
        (T0, "workflow.pr_created", {"workflow_id": "A", "repository": "org/a"}),
        step(T0 + 1, "step_started", "A", "dor_validation", queue_wait_s=60),
        step(T0 + H, "step_completed", "A", "dor_validation", status="passed", duration_s=3600),
        step(T0 + H + 1, "step_started", "A", "progress_review", queue_wait_s=120),
        step(T0 + 2 * H, "step_completed", "A", "progress_review", status="passed", duration_s=1800),
        (T0 + 3 * H, "workflow.workflow_completed", {"workflow_id": "A", "duration_s": 3 * 3600}),
        (T0, "workflow.pr_created", {"workflow_id": "B", "repository": "org/b"}),
        (T0 + 2 * H, "workflow.workflow_failed", {"workflow_id": "B", "duration_s": 2 * 3600}),
        (T0, "workflow.pr_created", {"workflow_id": "C", "repository": "org/a"}),
        step(T0 + 1, "step_completed", "C", "dor_validation", status="passed", duration_s=60),
        step(T0 + 2, "step_started", "C", "progress_review", queue_wait_s=30),
        (T0, "workflow.pr_created", {"workflow_id": "D", "repository": "org/a"}),
        step(T0 + 5, "step_completed", "D", "dor_validation", status="failed", duration_s=10),
        (T0 + 9, "workflow.pr_created", {"workflow_id": "E", "repository": "org/c"}),
    )


def test_open_workflows_and_pipeline_counts():
    frame = workflow.open_workflows(wf_events())
    assert {r["workflow_id"]: (r["step"], r["state"]) for r in frame.iter_rows(named=True)} == {
        "C": ("progress_review", "in progress"),
        "D": ("dor_validation", "rework"),
        "E": ("dor_validation", "waiting"),
    }
    assert frame.filter(pl.col("workflow_id") == "C")["agent_id"].item() == "ag-1"
    counts = workflow.pipeline_counts(frame)
    assert counts.height == 12 and counts["count"].sum() == 3
    got = {(r["label"], r["state"]): r["count"] for r in counts.iter_rows(named=True) if r["count"]}
    assert got == {("Pending DoR", "rework"): 1, ("Pending DoR", "waiting"): 1, ("In review", "in progress"): 1}


def test_outcomes_hand_computed():
    out = workflow.outcomes(wf_events(), T0, T0 + 4 * H)
    assert (out.completed, out.failed) == (1, 1)
    assert out.completion_pct == 50.0
    assert out.time_to_merge_h == 3.0
    assert out.review_cycle_h == 1.5  # A: 3600 + 1800 s of step work
    assert out.agent_hours == pytest.approx((3600 + 1800 + 60 + 10) / 3600)
    waits = dict(out.step_wait_s.select("step", "wait_s").iter_rows())
    assert waits == {"dor_validation": 60.0, "progress_review": 75.0}


def test_cost_per_review_model():
    assert workflow.cost_per_review(10.0, 4, 60.0, 5.0) == 10 * 60 / 4 + 5
    assert workflow.cost_per_review(10.0, 0, 60.0, 5.0) is None


def test_health_score_weights_bands_and_drags():
    parts = [
        health.Component("a", 100.0, "", 3.0),
        health.Component("b", 50.0, "", 1.0),
        health.Component("c", None, "no data", 5.0),
    ]
    result = health.health(parts)
    assert result.score == (3 * 100 + 50) / 4 == 87.5
    assert result.band == "good"
    assert result.drags["component"].to_list() == ["b", "a", "c"]
    assert result.drags["points_lost"].to_list()[:2] == [12.5, 0.0]
    assert [health.band(v) for v in (99, 95, 90, 85, 72, 60, 10, None)] == [
        "excellent",
        "excellent",
        "good",
        "good",
        "warning",
        "poor",
        "critical",
        "no data",
    ]
    assert health.health([]).score is None


def test_health_component_rules():
    assert health.api_errors(0.5).score == 90.0
    assert health.api_latency(0.75).score == 50.0
    assert health.availability(12, 15).score == 80.0
    depth = pl.DataFrame(
        {"queue": ["q1", "q2"], "depth": [3.0, 15.0], "warning": [10.0, 10.0], "critical": [20.0, 20.0]}
    )
    queues = health.queues(depth)
    assert queues.score == 60.0 and "q2" in queues.detail
    assert health.resources(85.0, 40.0).score == 75.0
    assert health.alerts({"critical": 1, "error": 0, "warning": 2}).score == 65.0
    assert health.alerts(None).score is None


def _last(label: str, rows: list[tuple[str, float, int]]) -> pl.DataFrame:
    return pl.DataFrame(rows, schema={label: pl.String, "value": pl.Float64, "ts_ms": pl.Int64}, orient="row")


def test_agent_status_rules():
    load = _last("agent", [("a", 95.0, T0), ("b", 40.0, T0), ("c", 0.0, T0), ("d", 50.0, T0), ("e", 30.0, T0)])
    up = _last("agent", [("a", 1.0, T0), ("b", 1.0, T0), ("c", 1.0, T0), ("d", 0.0, T0), ("e", 1.0, T0)])
    changes = events(
        (T0, "system.agent_status_changed", {"agent_id": "e", "new_status": "training"}),
        (T0 - H, "system.agent_status_changed", {"agent_id": "b", "new_status": "down"}),
        (T0, "system.agent_status_changed", {"agent_id": "b", "new_status": "online"}),
    )
    agents = operations.agent_status(load, up, changes)
    assert dict(agents.select("name", "status").iter_rows()) == {
        "a": "overloaded",
        "b": "active",
        "c": "idle",
        "d": "down",
        "e": "in_training",
    }
    assert operations.agent_summary(agents) == {
        "total": 5,
        "active": 1,
        "overloaded": 1,
        "idle": 1,
        "down": 1,
        "in_training": 1,
    }


def test_queue_depths_newest_source_wins_and_levels():
    samples = _last("queue", [("review", 12.0, T0 + 10), ("dor", 3.0, T0)])
    evts = events(
        (
            T0 + 5,
            "system.queue_depth_updated",
            {"queue": "review", "depth": 30, "warning_threshold": 5, "critical_threshold": 25},
        ),
        (T0 + 20, "system.queue_depth_updated", {"queue": "dor", "depth": 21}),
    )
    queues = operations.queue_depths(samples, evts)
    rows = {r["queue"]: (r["depth"], r["warning"], r["critical"], r["level"]) for r in queues.iter_rows(named=True)}
    assert rows == {"review": (12.0, 5.0, 25.0, "warning"), "dor": (21.0, 10.0, 20.0, "critical")}


def test_component_status_and_active_incidents():
    queues = pl.DataFrame({"queue": ["review"], "depth": [25.0], "level": ["critical"]})
    agents = pl.DataFrame({"name": ["a", "b"], "status": ["down", "active"]})
    api = pl.DataFrame({"endpoint": ["/x", "/y"], "value": [0.2, 6.0]})
    iso = datetime.fromtimestamp((T0 + H) / 1000, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    errs = events(
        (
            T0 - 10,
            "system.error_occurred",
            {"component": "/x", "severity": "warning", "message": "slow", "ends_at": iso},
        ),
        (T0 - 2 * H, "system.error_occurred", {"component": "db", "severity": "critical", "message": "old"}),
    )
    status = dict(operations.component_status(queues, agents, api, errs, T0).select("name", "status").iter_rows())
    assert status == {"review": "critical", "agent pool": "degraded", "/x": "degraded", "/y": "critical"}


def test_anomalies_flag_a_spike():
    ts = [datetime.fromtimestamp((T0 + i * 300_000) / 1000, UTC) for i in range(60)]
    values = [10.0 + (i % 3) * 0.5 for i in range(60)]
    values[50] = 60.0
    found = operations.anomalies(pl.DataFrame({"ts": ts, "series": ["s"] * 60, "value": values}))
    assert found["observed"].to_list() == [60.0]
    low, high = (float(x) for x in found["expected"][0].split(" to "))
    assert low < 10.5 < high < 60.0 and found["score"][0] > 3


def test_executive_kpis_hand_computed():
    gates = [
        (
            T0 + n,
            "workflow.quality_gate_passed" if n < 3 else "workflow.quality_gate_failed",
            {"workflow_id": "A", "gate_name": "g", "attempt": n, "metrics": {"score": s}},
        )
        for n, s in enumerate([0.9, 0.8, 1.0, 0.5])
    ]
    defects = [
        (T0 + 10, "qa.defect_found", {"defect_id": "d1", "severity": "high", "step": "progress_review"}),
        (T0 + 11, "qa.defect_found", {"defect_id": "d2", "severity": "low", "step": "production"}),
        (T0 + 20, "qa.defect_resolved", {"defect_id": "d1", "resolution": "fixed"}),
        (T0 + 21, "qa.defect_resolved", {"defect_id": "d2", "resolution": "false_positive"}),
    ]
    checks = [
        (T0 + 30 + n, "qa.compliance_check", {"workflow_id": w, "policy": "p", "passed": ok, "score": 0.9})
        for n, (w, ok) in enumerate([("A", True), ("B", True), ("C", False), ("D", True)])
    ]
    frame = (
        pl.concat([wf_events(), events(*gates, *defects, *checks)])
        .with_row_index("n")
        .with_columns(pl.format("x{}", pl.col("n")).alias("id"))
        .drop("n")
    )
    settings = load_settings(demo=False, collectors=False, cost_per_agent_hour=100.0, cost_per_review_fixed=2.0)
    kpis = executive.compute(frame, 42.0, T0, T0 + 4 * H, T0 + 4 * H, settings)
    assert kpis.quality_score == pytest.approx((0.9 + 0.8 + 1.0 + 0.5) / 4 * 100)
    assert kpis.defect_detection_pct == 50.0  # d2 was found in production
    assert kpis.false_positive_pct == 50.0
    assert kpis.compliance_pct == 75.0
    assert (kpis.completion_pct, kpis.time_to_merge_h, kpis.review_cycle_h, kpis.reviews) == (50.0, 3.0, 1.5, 1)
    assert kpis.utilisation_pct == 42.0
    assert kpis.cost_per_review == pytest.approx((3600 + 1800 + 60 + 10) / 3600 * 100 / 1 + 2)
    hidden = executive.for_viewer(kpis, Viewer.of("dev", ["developer"]))
    assert hidden.cost_per_review is None and hidden.quality_score == kpis.quality_score
    assert executive.for_viewer(kpis, Viewer.of("boss", ["executive"])).cost_per_review == kpis.cost_per_review


def test_risks_rank_high_first():
    k = executive.ExecutiveKpis(80.0, 90.0, None, 95.0, 2.0, 97.0, 88.0, 95.0, 99.0, 3.0, None, 10)
    before = executive.ExecutiveKpis(86.0, 90.0, None, 95.0, 2.0, 97.0, 70.0, 99.0, 99.0, 3.0, None, 10)
    queues = pl.DataFrame({"queue": ["q"], "depth": [12.0], "level": ["warning"]})
    frame = executive.risks(k, before, queues, 0, 10, 1)
    levels = dict(frame.select("risk", "level").iter_rows())
    assert levels == {
        "Agent capacity": "high",
        "SLA adherence": "high",
        "Quality trend": "high",
        "Review backlog": "medium",
        "Agent availability": "low",
        "Critical defects": "high",
    }
    assert frame["level"].to_list() == sorted(frame["level"].to_list(), key=["high", "medium", "low"].index)


def test_alert_views():
    frame = pl.DataFrame(
        {
            "fingerprint": ["a", "b", "c"],
            "severity": ["warning", "critical", "critical"],
            "state": ["firing", "firing", "pending"],
            "rule": ["r1", "r2", "r3"],
            "summary": ["", "", ""],
            "active_since": [T0, T0, T0],
            "fired_at": [T0, T0 - 2 * H, None],
            "acknowledged_by": [None, None, None],
        }
    )
    assert alerting.by_severity(frame) == {"critical": 1, "error": 0, "warning": 1, "info": 0}
    assert alerting.active_list(frame, T0)["fingerprint"].to_list() == ["b", "c", "a"]
    assert alerting.recent_severe(frame, T0 - H)["rule"].to_list() == []


def test_resource_panels_name_series_by_what_tells_them_apart(sqlite_engine):
    from core.ingest import ingest
    from core.model import Batch, Sample, now_ms

    now = now_ms()
    disk = {"device": "/dev/sda1", "fstype": "ext4", "mount": "/"}
    samples = [Sample.of("system_cpu_percent", {"host": host}, 10.0, now - 60_000) for host in ("app-1", "app-2")]
    samples += [
        Sample.of("system_memory_used_percent", {"host": "app-1"}, 50.0, now - 60_000),
        Sample.of("system_filesystem_used_percent", {"host": "app-1", **disk}, 70.0, now - 60_000),
        Sample.of("system_network_receive_bytes_per_second", {"host": "app-1", "interface": "eth0"}, 1e5, now - 60_000),
    ]
    ingest(sqlite_engine, Batch(tuple(samples)), origin="test")
    frames = operations.resource_frames(sqlite_engine, now - H, now, 60_000)
    names = {panel: sorted(set(frame["series"].to_list())) for panel, frame in frames.items()}
    assert names == {
        "CPU": ['host="app-1"', 'host="app-2"'],
        "Memory": ["Memory"],
        "Disk": ['mount="/"'],
        "Network": ['interface="eth0"'],
    }
