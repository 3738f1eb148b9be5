"""The demo workload: deterministic, realistic enough to exercise every page, labelled, purgeable."""

from __future__ import annotations

import json
import operator
from collections import Counter
from collections.abc import Callable

import numpy as np
import polars as pl
import pytest
import sqlalchemy as sa
from sqlalchemy.engine import Engine

from collectors.demo import DemoCollector, DemoWorkload
from collectors.demo_workflow import DAY, HOUR, LIFETIME, MIN, REPOSITORIES, STEPS, incidents_on
from collectors.deployments import DeploymentCollector
from collectors.selfstats import SelfStatsCollector
from collectors.system import SystemCollector
from core.alerts.engine import event_counts
from core.alerts.rules import Rule, load_yaml
from core.config import ROOT
from core.ingest import ingest
from core.ingest.demo_data import has_demo_data, purge_demo
from core.kpis.executive import load_executive
from core.kpis.quality import defect_kpis, load_quality
from core.kpis.records import EVENT_SCHEMA
from core.model import Batch, Event, Sample
from core.programmes.qse import COF_DIMENSIONS, UCL_LAWS
from core.query.feeds import feed_status
from core.query.selectors import parse_selector
from core.query.series import find_series
from core.recording.job import evaluate_recording_rules, samples_of
from core.recording.rules import RULES as RECORDING_RULES
from core.store import schema

NOW = (20_300 * DAY) + 15 * HOUR + 7 * MIN  # a fixed Tuesday afternoon


def window(seed: int, days: int = 7) -> list[Event]:
    workload = DemoWorkload(seed, NOW)
    start = NOW - days * DAY
    return workload.events(start, NOW, workload.prs(start, NOW))


def test_same_seed_same_events_other_seed_other_events() -> None:
    first, again, other = window(7, 2), window(7, 2), window(8, 2)
    assert [(e.id, e.ts, e.data) for e in first] == [(e.id, e.ts, e.data) for e in again]
    assert {e.id for e in first} != {e.id for e in other}


def test_a_week_of_pipeline_looks_like_the_real_thing() -> None:
    events = window(7)
    types = Counter(e.type for e in events)
    for kind in (
        "workflow.pr_created",
        "workflow.step_started",
        "workflow.step_completed",
        "workflow.agent_assigned",
        "workflow.quality_gate_executed",
        "workflow.quality_gate_passed",
        "workflow.quality_gate_failed",
        "workflow.workflow_completed",
        "qa.defect_found",
        "qa.defect_resolved",
        "qa.compliance_check",
        "system.queue_depth_updated",
        "system.deployment",
        "qse.phase_completed",
        "qse.compliance_scored",
        "migration.component_status",
        "migration.phase_progress",
    ):
        assert types[kind] > 0, kind
    assert {e.data["step"] for e in events if e.type == "workflow.step_completed"} == set(STEPS)
    assert any(e.data["attempt"] > 1 for e in events if e.type == "workflow.step_started")  # retries after failed gates
    assert all(e.source == "demo" for e in events)
    scored = next(e for e in events if e.type == "qse.compliance_scored")
    assert set(scored.data["cof_scores"]) == set(COF_DIMENSIONS) and set(scored.data["ucl_scores"]) == set(UCL_LAWS)
    created = [e.ts for e in events if e.type == "workflow.pr_created"]
    by_weekday = Counter((ts // DAY + 3) % 7 for ts in created)
    assert min(by_weekday[d] for d in range(5)) > 2 * max(by_weekday[5], by_weekday[6])


def test_incidents_of_every_kind_within_a_month_and_backlogs_show_in_queues() -> None:
    incidents = [i for day in range(NOW // DAY - 30, NOW // DAY) for i in incidents_on(7, day)]
    assert {i.kind for i in incidents} == {"queue_backlog", "agent_outage", "slow_step"}
    backlog = next(i for i in incidents if i.kind == "queue_backlog")
    workload = DemoWorkload(7, NOW)
    prs = workload.prs(backlog.start - DAY, backlog.end + HOUR)
    samples = workload.samples([backlog.end - 1, backlog.start - DAY], prs)
    depth = {s.ts: s.value for s in samples if s.name == "qms_queue_depth" and ("queue", "progress_review") in s.labels}
    assert depth[backlog.end - 1] > depth[backlog.start - DAY] + 5


def count(engine: Engine, table: sa.Table, *where: sa.ColumnElement[bool]) -> int:
    with engine.connect() as connection:
        return int(connection.scalar(sa.select(sa.func.count()).select_from(table).where(*where)) or 0)


def test_backfill_live_and_purge(engine: Engine) -> None:
    clock = [NOW]
    demo = DemoCollector(engine, seed=7, clock=lambda: clock[0], backfill_days=2)
    demo.collect()
    events = count(engine, schema.events)
    assert events > 1000 and has_demo_data(engine)
    assert count(engine, schema.events, schema.events.c.source != "demo") == 0
    with engine.connect() as connection:
        labels = connection.scalars(sa.select(schema.series.c.labels)).all()
    assert labels and all('"source":"demo"' in x for x in labels)
    runs = schema.test_runs
    assert count(engine, runs, runs.c.source == "demo", runs.c.component == "migration") == 10  # 5 suites x 2 nights
    assert count(engine, runs, runs.c.source == "demo", runs.c.component == "qms-api") == 12  # CI every 4 h, 2 days
    clock[0] += 10 * MIN
    DemoCollector(engine, seed=7, clock=lambda: clock[0]).collect()  # a restarted process continues from the watermark
    assert count(engine, schema.events) > events
    DeploymentCollector(engine, None, "x").collect()
    assert count(engine, schema.deployments, schema.deployments.c.source == "demo") > 0
    ingest(engine, Batch(events=(Event("real-1", "workflow.pr_created", NOW - HOUR, "github", {}),)))
    demo_runs = count(engine, runs, runs.c.source == "demo")
    counts = purge_demo(engine)
    assert counts["events"] > 1000 and counts["samples"] > 0 and counts["test_runs"] == demo_runs >= 22
    assert counts["deployments"] > 0
    assert not has_demo_data(engine)
    assert count(engine, schema.events) == 1  # real data survives
    assert count(engine, schema.samples) == 0 and count(engine, schema.test_cases) == 0
    clock[0] += 10 * MIN
    demo.collect()  # purged means off until re-enabled
    assert count(engine, schema.events) == 1


def test_no_backfill_into_a_store_with_real_data(sqlite_engine: Engine) -> None:
    ingest(sqlite_engine, Batch(events=(Event("real-1", "workflow.pr_created", NOW - HOUR, "github", {}),)))
    clock = [NOW]
    DemoCollector(sqlite_engine, clock=lambda: clock[0]).collect()
    assert count(sqlite_engine, schema.events) == 1
    clock[0] += 5 * MIN
    DemoCollector(sqlite_engine, clock=lambda: clock[0]).collect()
    assert 1 < count(sqlite_engine, schema.events) < 500


@pytest.mark.parametrize("days", [30])
def test_thirty_day_backfill_on_sqlite(sqlite_engine: Engine, days: int) -> None:
    DemoCollector(sqlite_engine, clock=lambda: NOW, backfill_days=days).collect()
    with sqlite_engine.connect() as connection:
        first = connection.scalar(sa.select(sa.func.min(schema.events.c.ts)))
    assert first is not None and NOW - first >= (days - 1) * DAY
    assert count(sqlite_engine, schema.events, schema.events.c.type == "system.error_occurred") >= 4


DEFAULT_RULES = load_yaml((ROOT / "alert_rules.yaml").read_text())
HOST_SERIES = {"system_memory_used_percent", "system_filesystem_used_percent"}  # the system collector's, not the demo's
# the self-metrics collector's: about every feed (the demo's among them), and whether the store takes writes
SELF_SERIES = {"pulseboard_feed_lag_ratio", "pulseboard_store_up"}


RECORDED = {rule.name for rule in RECORDING_RULES}  # derived from the demo's events by the recording job


def test_every_default_rule_selector_matches_a_series_after_a_short_backfill(engine: Engine, settings) -> None:
    DemoCollector(engine, seed=7, clock=lambda: NOW, backfill_days=2).collect()
    # host memory and disk come from the local collector that starts with the demo
    ingest(engine, SystemCollector().collect())
    evaluate_recording_rules(engine, settings, now=NOW)
    # and the feeds' lag ratio from the self-metrics collector, which starts with it too
    stats = SelfStatsCollector(15, clock=lambda: NOW / 1000, feeds=lambda now: feed_status(engine, settings, now))
    ingest(engine, stats.collect(), origin="collector:selfstats")
    for rule in DEFAULT_RULES:
        if rule.source == "events":
            assert not event_counts(engine, rule, NOW - 2 * DAY, NOW + 1).is_empty(), (
                f"{rule.name}: no {rule.selector} events"
            )
            continue
        found = find_series(engine, rule.selector)
        assert not found.is_empty(), f"{rule.name}: nothing writes {rule.selector}"
        if parse_selector(rule.selector).name not in HOST_SERIES | RECORDED | SELF_SERIES:
            assert all('"source":"demo"' in labels for labels in found["labels"]), rule.name


OPS: dict[str, Callable[[float, float], bool]] = {
    ">": operator.gt,
    "<": operator.lt,
    ">=": operator.ge,
    "<=": operator.le,
}


def _breaches(rule: Rule, samples: list[Sample]) -> int:
    assert rule.threshold is not None
    selector = parse_selector(rule.selector)
    return sum(1 for s in samples if selector.matches(s.name, dict(s.labels)) and OPS[rule.op](s.value, rule.threshold))


def test_every_default_threshold_rule_on_demo_series_is_breached_within_a_month() -> None:
    """The demo's incidents and programmes give every default rule something to fire on (host rules: the real host)."""
    workload, samples, events = DemoWorkload(7, NOW), [], []
    for day in range(30):
        start = NOW - (day + 1) * DAY
        prs = workload.prs(start, start + DAY)
        samples += workload.samples(range(start, start + DAY, 5 * MIN), prs)
        events += workload.events(start, start + DAY, prs)
    # the derived series, as the recording job computes them from those events
    frame = pl.DataFrame(
        [(e.id, e.type, e.ts, e.source, json.dumps(e.data)) for e in events], schema=EVENT_SCHEMA, orient="row"
    ).sort("ts")
    at = np.arange(NOW - 29 * DAY, NOW, 5 * MIN, dtype=np.int64)
    for recording in RECORDING_RULES:
        samples += samples_of(recording, recording.evaluate(frame.filter(pl.col("type").is_in(recording.reads)), at))
    for rule in DEFAULT_RULES:
        if (
            rule.kind == "threshold"
            and rule.source == "series"
            and parse_selector(rule.selector).name not in HOST_SERIES | SELF_SERIES
        ):
            assert _breaches(rule, samples) >= 3, (
                f"{rule.name} ({rule.selector} {rule.op} {rule.threshold}) never breached in 30 demo days"
            )


def test_defects_are_resolved_with_a_resolution_and_some_escape_to_production() -> None:
    events = window(7)
    found = [e for e in events if e.type == "qa.defect_found"]
    resolved = Counter(e.data["resolution"] for e in events if e.type == "qa.defect_resolved")
    assert set(resolved) == {"fixed", "false_positive", "wont_fix"}
    assert resolved["fixed"] > 0.8 * sum(resolved.values()) and 0 < resolved["false_positive"] < 0.1 * sum(
        resolved.values()
    )
    escaped = [e for e in found if e.data.get("escaped")]
    assert escaped and all(e.data["step"] == "production" for e in escaped)
    assert len(escaped) < 0.15 * len(found)
    merged = {e.data["workflow_id"]: e.ts for e in events if e.type == "workflow.workflow_completed"}
    created = {e.data["workflow_id"]: e.ts for e in events if e.type == "workflow.pr_created"}
    for defect in escaped:  # found after its PR was merged, within the PR's life the generator looks back over
        wid = defect.data["workflow_id"]
        if wid in merged and wid in created:
            assert merged[wid] < defect.ts < created[wid] + LIFETIME


def test_more_defects_escape_from_prs_that_went_through_an_incident() -> None:
    workload = DemoWorkload(7, NOW)
    incidents = workload.incidents(NOW - 30 * DAY - LIFETIME, NOW)
    counts: Counter[tuple[bool, bool]] = Counter()
    for pr in workload.prs(NOW - 30 * DAY, NOW):
        if not pr.failed and pr.finished:
            hit = any(i.start < pr.finished and i.end > pr.created for i in incidents)
            counts[hit, any(kind == "qa.defect_found" and data.get("escaped") for _, kind, data in pr.events)] += 1
    normal = counts[False, True] / (counts[False, True] + counts[False, False])
    during = counts[True, True] / (counts[True, True] + counts[True, False])
    assert 0 < normal < 0.05 and during > 2 * normal


def test_executive_defect_kpis_on_a_backfill_are_realistic(engine: Engine) -> None:
    DemoCollector(engine, seed=7, clock=lambda: NOW, backfill_days=3).collect()
    kpis = load_executive(engine, NOW - 3 * DAY, NOW, NOW, HOUR, {}, None).current
    assert kpis.false_positive_pct is not None and 0 < kpis.false_positive_pct < 50
    assert kpis.defect_detection_pct is not None and 50 < kpis.defect_detection_pct < 100
    defects = load_quality(engine, NOW - 3 * DAY, NOW, {}).defects  # what the QA page reads its prevention rate from
    prevention = defect_kpis(defects, start_ms=NOW - 3 * DAY, end_ms=NOW, day_start_ms=NOW - NOW % DAY).prevention_pct
    assert prevention is not None and prevention < 100


def test_the_coverage_gate_reports_line_coverage_for_every_repository() -> None:
    """The QA coverage panel has data on a fresh demo: the coverage gate sends metrics.coverage_percentage."""
    gates = [e for e in window(7, 2) if e.type == "workflow.quality_gate_executed"]
    coverage = [e for e in gates if "coverage_percentage" in e.data["metrics"]]
    assert coverage and {e.data["gate_name"] for e in coverage} == {"code-coverage-gate"}
    assert {e.data["repository"] for e in coverage} == set(REPOSITORIES)
    assert all(0 <= e.data["metrics"]["coverage_percentage"] <= 100 for e in coverage)
    failed = [e.data["metrics"]["coverage_percentage"] for e in coverage if not e.data["passed"]]
    passed = [e.data["metrics"]["coverage_percentage"] for e in coverage if e.data["passed"]]
    assert failed and sum(failed) / len(failed) < sum(passed) / len(passed)
