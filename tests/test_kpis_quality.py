"""QA figures against answers worked out by hand: gates, defects, compliance, JUnit suites, coverage, risk."""

from __future__ import annotations

import json

import polars as pl
import pytest

from core.ingest import ingest
from core.ingest.junit import TestCase, TestRun, store_test_run
from core.kpis import quality as qa
from core.kpis.records import EVENT_SCHEMA
from core.model import Batch, Event, now_ms
from core.query import clear_cache

H = 3_600_000
NOW = 1_790_000_000_000


@pytest.fixture(autouse=True)
def _fresh_cache():
    clear_cache()
    yield
    clear_cache()


def frame(events: list[Event]) -> pl.DataFrame:
    rows = [(e.id, e.type, e.ts, e.source, json.dumps(e.data)) for e in events]
    return pl.DataFrame(rows, schema=EVENT_SCHEMA, orient="row")


def gate(
    n: int, kind: str, wf: str, name: str, seconds: float, repository: str = "org/a", ts: int = NOW - H, **extra: object
) -> Event:
    data = {
        "workflow_id": wf,
        "gate_name": name,
        "attempt": 1,
        "repository": repository,
        "step": "progress_review",
        "metrics": {"execution_time": seconds, **extra.pop("metrics", {})},
        **extra,
    }  # type: ignore[dict-item]
    return Event(f"g{n}", f"workflow.quality_gate_{kind}", ts, "t", data)


GATE_EVENTS = [
    gate(1, "executed", "WF-1", "coverage", 30, passed=True),
    gate(2, "passed", "WF-1", "coverage", 30),  # one run, sent twice
    gate(3, "executed", "WF-2", "coverage", 90, passed=False),
    gate(4, "failed", "WF-2", "coverage", 90),
    gate(5, "executed", "WF-3", "coverage", 60, passed=True),  # only the executed event: still one run
    gate(6, "failed", "WF-3", "security", 120),  # only the outcome
]


def test_gate_runs_are_counted_once_whatever_the_source_sends():
    gates = qa.gate_frame(frame(GATE_EVENTS))
    assert gates.height == 4
    totals = qa.gate_totals(gates)
    assert (totals.executed, totals.passed, totals.failed) == (4, 2, 2)
    assert totals.pass_pct == 50.0
    assert totals.avg_time_s == pytest.approx((30 + 90 + 60 + 120) / 4)
    summary = qa.gate_summary(gates)
    assert summary.rows() == [("security", 1, 0, 1, 0.0, 100.0, 120.0), ("coverage", 3, 2, 1, 66.7, 33.3, 60.0)]
    assert sorted(qa.gate_runs(gates, "coverage")["result"].to_list()) == ["failed", "passed", "passed"]


def test_gate_trend_per_bucket():
    events = [
        gate(1, "passed", "WF-1", "g", 1, ts=NOW - 30 * 60_000),
        gate(2, "failed", "WF-2", "g", 1, ts=NOW - 20 * 60_000),
        gate(3, "passed", "WF-3", "g", 1, ts=NOW - 3 * H),
    ]
    trend = qa.gate_trend(qa.gate_frame(frame(events)), H)
    assert trend.select("executed", "pass_pct", "fail_pct").rows() == [(1, 100.0, 0.0), (2, 50.0, 50.0)]


DEFECTS = [
    Event(
        "d1",
        "qa.defect_found",
        NOW - 2 * H,
        "t",
        {
            "defect_id": "D1",
            "severity": "critical",
            "repository": "org/a",
            "category": "logic",
            "step": "progress_review",
        },
    ),
    Event(
        "d2",
        "qa.defect_found",
        NOW - 30 * H,
        "t",
        {"defect_id": "D2", "severity": "high", "component": "api", "root_cause": "config"},
    ),
    Event(
        "d2r", "qa.defect_resolved", NOW - 26 * H, "t", {"defect_id": "D2", "severity": "high", "resolution_hours": 4.0}
    ),
    Event(
        "d3",
        "qa.defect_found",
        NOW - H,
        "t",
        {"defect_id": "D3", "severity": "low", "repository": "org/b", "step": "production"},
    ),
    Event("d3r", "qa.defect_resolved", NOW - H // 2, "t", {"defect_id": "D3", "severity": "low"}),
]


def test_defect_kpis_by_hand():
    defects = qa.defect_frame(frame(DEFECTS))
    assert defects.sort("defect_id").select(
        "defect_id", "component", "root_cause", "escaped", "resolution_h"
    ).rows() == [
        ("D1", "org/a", "logic", False, None),
        ("D2", "api", "config", False, 4.0),
        ("D3", "org/b", "unknown", True, 0.5),
    ]
    k = qa.defect_kpis(defects, start_ms=NOW - 24 * H, end_ms=NOW, day_start_ms=NOW - 3 * H)
    # in range: D1 (critical, open) and D3 (escaped to production); resolved in range: D3 after 0.5 h
    assert k == qa.DefectKpis(
        found_today=2, found=2, critical=1, critical_open=1, avg_resolution_h=0.5, prevention_pct=50.0
    )
    by_component = qa.defects_by(qa.found_between(defects, NOW - 24 * H, NOW), "component")
    assert by_component.rows() == [("org/a", "critical", 1), ("org/b", "low", 1)]


def test_compliance_by_hand():
    def check(n: int, wf: str, policy: str, passed: bool, score: float) -> Event:
        return Event(
            f"c{n}",
            qa.COMPLIANCE_EVENT,
            NOW - (10 - n) * H,
            "t",
            {"workflow_id": wf, "policy": policy, "passed": passed, "score": score},
        )

    c = qa.compliance(
        frame(
            [
                check(1, "WF-1", "P", False, 0.6),
                check(2, "WF-1", "P", True, 0.9),
                check(3, "WF-2", "P", False, 0.7),
                check(4, "WF-3", "Q", True, 1.0),
            ]
        )
    )
    assert (c.checks, c.passed_pct, c.violations, c.remediation_pending) == (
        4,
        50.0,
        2,
        1,
    )  # WF-2 still waits for a pass
    assert c.audit_readiness_pct == pytest.approx(80.0)
    assert c.by_policy.rows() == [("P", 3, 33.3, 2, 73.3, 1), ("Q", 1, 100.0, 0, 100.0, 0)]


def run(suite: str, ts: int, statuses: list[str], seconds: float) -> TestRun:
    cases = tuple(TestCase(suite, "c", f"t{n}", s, 0.1) for n, s in enumerate(statuses))
    return TestRun(suite, cases, seconds, ts, f"{suite}-{ts}")


def test_suite_table_from_stored_junit_runs(engine, settings):
    now = now_ms()
    store_test_run(
        engine, run("Unit", now - 2 * H, ["passed"] * 8 + ["failed", "skipped"], 12.0), {"component": "core"}
    )
    store_test_run(engine, run("Unit", now - H, ["passed"] * 10, 11.0), {"component": "core"})
    store_test_run(engine, run("E2E", now - H, ["passed"] * 18 + ["error", "error"], 300.0), {"component": "web"})
    data = qa.load_quality(engine, now - 24 * H, now + 1, {}, settings=settings)
    table = qa.suite_table(data.runs)
    assert table.select("suite", "pass_pct", "failed", "tests", "time_s", "trend", "status", "runs").rows() == [
        ("E2E", 90.0, 2, 20, 300.0, [90.0], "warning", 1),
        ("Unit", 100.0, 0, 10, 11.0, [88.9, 100.0], "passing", 2),  # 8 of 9 executed passed, then 10 of 10
    ]
    only_web = qa.load_quality(engine, now - 24 * H, now + 1, {"component": "web"}, settings=settings)
    assert only_web.runs["suite"].to_list() == ["E2E"]
    assert qa.suite_history(data.runs, "Unit")["pass_pct"].to_list() == [88.9, 100.0]


def test_load_quality_reads_and_filters_the_store(engine, settings):
    now = now_ms()
    events = [
        gate(1, "passed", "WF-1", "g", 10, repository="org/a", ts=now - H),
        gate(2, "failed", "WF-2", "g", 20, repository="org/b", ts=now - H),
        Event("d", "qa.defect_found", now - H, "t", {"defect_id": "D", "severity": "high", "repository": "org/b"}),
    ]
    ingest(engine, Batch(events=tuple(events)), origin="test", settings=settings)
    everything = qa.load_quality(engine, now - 24 * H, now + 1, {}, settings=settings)
    assert qa.gate_totals(everything.gates).executed == 2
    assert everything.defects.height == 1
    only_a = qa.load_quality(engine, now - 24 * H, now + 1, {"repository": "org/a"}, settings=settings)
    assert (qa.gate_totals(only_a.gates).executed, only_a.defects.height) == (1, 0)
    assert qa.gate_time_percentiles(
        engine, "g", now - 24 * H, now + 1, {}, settings
    ).is_empty()  # only outcome events sent
    assert qa.filter_options(engine, now - 24 * H, now + 1, settings)["repository"] == ["org/a", "org/b"]


def test_coverage_latest_and_mean_per_repository():
    events = [
        gate(1, "passed", "WF-1", "code-coverage-gate", 5, ts=NOW - 2 * H, metrics={"coverage_percentage": 70.0}),
        gate(2, "passed", "WF-2", "code-coverage-gate", 5, ts=NOW - H, metrics={"coverage_percentage": 80.0}),
        gate(3, "passed", "WF-3", "static-analysis-gate", 5, ts=NOW - H),
    ]
    assert qa.coverage(qa.gate_frame(frame(events))).rows() == [("org/a", 80.0, 75.0, 2)]


def test_risk_matrix_by_hand():
    runs = [gate(n, "failed" if n < 2 else "passed", f"WF-{n}", "g", 1, repository="A") for n in range(10)]
    runs += [gate(10 + n, "passed", f"WF-B{n}", "g", 1, repository="B") for n in range(10)]
    defects = qa.defect_frame(
        frame(
            [
                Event(
                    "x1",
                    "qa.defect_found",
                    NOW - H,
                    "t",
                    {"defect_id": "X1", "severity": "critical", "repository": "A"},
                ),
                Event(
                    "x2", "qa.defect_found", NOW - H, "t", {"defect_id": "X2", "severity": "high", "repository": "A"}
                ),
            ]
        )
    )
    matrix = qa.risk_matrix(qa.gate_frame(frame(runs)), defects)
    # A: 2 of 10 gate runs failed (20 % ≥ 15 %: high likelihood), mean severity (4 + 3) / 2 = 3.5 (≥ 2.5: high impact)
    assert matrix.select(
        "component", "gate_fail_pct", "defects", "mean_severity", "likelihood", "impact", "risk"
    ).rows() == [("A", 20.0, 2, 3.5, 3, 3, 9), ("B", 0.0, 0, None, 1, 1, 1)]
    cells = qa.risk_cells(matrix)
    assert cells.height == 9
    assert cells.filter(pl.col("components") > 0).select("likelihood_level", "impact_level", "names").rows() == [
        ("low", "low", "B"),
        ("high", "high", "A"),
    ]
