"""Developer figures against answers worked out by hand: review queue, steps, API, errors, deployment impact."""

from __future__ import annotations

import json

import polars as pl
import pytest

from core.auth.access import Viewer
from core.ingest import ingest
from core.kpis import developer as dev
from core.kpis.records import EVENT_SCHEMA, load_deployments
from core.model import Batch, Event, Sample, now_ms
from core.query import clear_cache, event_percentiles
from core.store.rollup import run_rollup

H = 3_600_000
NOW = 1_790_000_000_000  # a fixed instant for the pure tests
ADMIN = Viewer.of("root", ["admin"])
QA_LEAD = Viewer.of("quinn", ["qa_lead"])
DEVELOPER = Viewer.of("dana", ["developer"])


@pytest.fixture(autouse=True)
def _fresh_cache():
    clear_cache()
    yield
    clear_cache()


def frame(events: list[Event]) -> pl.DataFrame:
    """Events as core.kpis.records.load_events returns them."""
    rows = [(e.id, e.type, e.ts, e.source, json.dumps(e.data)) for e in events]
    return pl.DataFrame(rows, schema=EVENT_SCHEMA, orient="row")


def step(kind: str, n: int, ts: int, wf: str, who: str, **data: object) -> Event:
    return Event(
        f"s{n}",
        f"workflow.step_{kind}",
        ts,
        "t",
        {"workflow_id": wf, "step": "progress_review", "attempt": 1, "agent_id": who, "repository": "org/a", **data},
    )


QUEUE_EVENTS = [
    step("started", 1, NOW - 5 * H, "WF-1", "r1"),
    step("completed", 2, NOW - 4 * H, "WF-1", "r1", queue_wait_s=600, duration_s=3600, status="passed"),
    step("started", 3, NOW - 1 * H, "WF-2", "r1"),  # still open
    step("started", 4, NOW - 2 * H, "WF-3", "r2"),
    step("completed", 5, NOW - H // 2, "WF-3", "r2", queue_wait_s=300, duration_s=5400, status="failed"),
    step("started", 6, NOW - 4 * 24 * H, "WF-4", "r1"),  # open for four days: abandoned, not pending
]


def queue(reviewer: str | None, viewer: Viewer = ADMIN) -> dev.ReviewQueue | None:
    steps = dev.step_frame(frame(QUEUE_EVENTS))
    return dev.review_queue(steps, reviewer, viewer, now_ms=NOW, day_start_ms=NOW - 3 * H, since_ms=NOW - 24 * H)


def test_team_queue_counts_open_reviews_today_and_feedback_time():
    team = queue(None)
    assert team is not None
    assert (team.pending, team.completed_today) == (1, 1)
    assert team.avg_feedback_s == pytest.approx(((600 + 3600) + (300 + 5400)) / 2)
    assert team.items["workflow_id"].to_list() == ["WF-2"]
    assert team.items["waiting_h"].to_list() == [1.0]


def test_one_reviewers_queue():
    mine = queue("r1")
    assert mine is not None
    assert (mine.pending, mine.completed_today, mine.avg_feedback_s) == (1, 0, 4200.0)
    theirs = queue("r2")
    assert theirs is not None
    assert (theirs.pending, theirs.completed_today, theirs.avg_feedback_s) == (0, 1, 5700.0)


def test_per_person_figures_follow_the_viewers_permission():
    steps = dev.step_frame(frame(QUEUE_EVENTS))
    assert dev.reviewers(steps, QA_LEAD) == ["r1", "r2"]
    assert dev.reviewers(steps, DEVELOPER) == []
    assert queue("r1", DEVELOPER) is None
    assert queue(None, DEVELOPER) is not None  # team totals are for everyone
    assert queue("r1", Viewer.of("r1", ["developer"])) is not None  # one's own queue
    assert dev.feedback_by_reviewer(steps, DEVELOPER, since_ms=NOW - 24 * H, now_ms=NOW) is None
    table = dev.feedback_by_reviewer(steps, ADMIN, since_ms=NOW - 24 * H, now_ms=NOW)
    assert table is not None
    assert table.rows() == [("r1", 1, round(4200 / 3600, 2), 1), ("r2", 1, round(5700 / 3600, 2), 0)]


def completed(n: int, ts: int, name: str, seconds: float, wait: float, status: str, repository: str = "org/a") -> Event:
    return Event(
        f"c{n}",
        "workflow.step_completed",
        ts,
        "t",
        {
            "workflow_id": f"WF-{n}",
            "step": name,
            "attempt": 1,
            "agent_id": "r",
            "repository": repository,
            "duration_s": seconds,
            "queue_wait_s": wait,
            "status": status,
        },
    )


def test_step_performance_reads_percentiles_from_the_query_layer(engine, settings):
    now = now_ms()
    events = [
        completed(n, now - (n + 1) * 60_000, "dor_validation", s, w, st)
        for n, (s, w, st) in enumerate([(10, 1, "passed"), (20, 2, "failed"), (30, 3, "passed"), (40, 4, "passed")])
    ]
    events += [
        completed(10, now - 20 * 60_000, "progress_review", 100, 50, "passed"),
        completed(11, now - 21 * 60_000, "dor_validation", 1000, 9, "failed", repository="org/b"),
    ]
    ingest(engine, Batch(events=tuple(events)), origin="test", settings=settings)
    table = dev.step_performance(engine, now - H, now + 1, {"repository": "org/a"}, settings)
    assert table["step"].to_list() == ["dor_validation", "progress_review"]  # pipeline order
    dor = table.row(0, named=True)
    # linear quantiles of 10, 20, 30, 40: p50 = 25, p95 at position 2.85 = 38.5, p99 at 2.97 = 39.7
    assert (dor["completed"], dor["failed"], dor["failure_pct"]) == (4, 1, 25.0)
    assert (dor["p50_s"], dor["p95_s"], dor["p99_s"], dor["avg_wait_s"]) == (25.0, 38.5, 39.7, 2.5)
    unfiltered = dev.step_performance(engine, now - H, now + 1, {}, settings)
    assert unfiltered.row(0, named=True)["completed"] == 5


def test_event_percentiles_where_keeps_events_without_the_field(engine, settings):
    now = now_ms()
    events = [
        Event("a", "x.done", now - 60_000, "t", {"repository": "a", "v": 1}),
        Event("b", "x.done", now - 60_000, "t", {"repository": "b", "v": 100}),
        Event("c", "x.done", now - 60_000, "t", {"v": 3}),
    ]
    ingest(engine, Batch(events=tuple(events)), origin="test", settings=settings)
    found = event_percentiles(engine, "x.done", "v", now - H, now + 1, settings=settings, where={"repository": "a"})
    assert found.row(0, named=True)["count"] == 2
    assert found.row(0, named=True)["p50"] == 2.0


def test_api_performance_per_endpoint(engine, settings):
    now = now_ms()
    t1, t2 = now - 20 * 60_000, now - 10 * 60_000
    samples = [
        Sample.of(dev.API_LATENCY, {"endpoint": "/a", "quantile": "0.5"}, 0.1, t1),
        Sample.of(dev.API_LATENCY, {"endpoint": "/a", "quantile": "0.5"}, 0.3, t2),
        Sample.of(dev.API_LATENCY, {"endpoint": "/a", "quantile": "0.95"}, 0.5, t1),
        Sample.of(dev.API_LATENCY, {"endpoint": "/a", "quantile": "0.99"}, 0.9, t2),
        Sample.of(dev.API_RATE, {"endpoint": "/a"}, 2, t1),
        Sample.of(dev.API_RATE, {"endpoint": "/a"}, 4, t2),
        Sample.of(dev.API_ERRORS, {"endpoint": "/a"}, 1, t1),
        Sample.of(dev.API_ERRORS, {"endpoint": "/a"}, 3, t2),
        Sample.of(dev.API_RATE, {"endpoint": "/b"}, 7, t1),
    ]
    ingest(engine, Batch(tuple(samples)), origin="test", settings=settings)
    api = dev.api_performance(engine, now - H, now + 1, settings)
    assert api.table.rows() == [("/a", 200.0, 500.0, 900.0, 3.0, 2.0), ("/b", None, None, None, 7.0, None)]
    assert api.p95["ms"].to_list() == [500.0]


def test_errors_grouped_by_type_per_bucket():
    events = [
        Event("e1", dev.ERROR_EVENT, NOW - 50 * 60_000, "t", {"error_type": "timeout"}),
        Event("e2", dev.ERROR_EVENT, NOW - 40 * 60_000, "t", {"kind": "queue_backlog"}),
        Event("e3", dev.ERROR_EVENT, NOW - 30 * 60_000, "t", {"error_type": "timeout", "kind": "ignored"}),
        Event("e4", dev.ERROR_EVENT, NOW - 5 * 60_000, "t", {}),
    ]
    errors = dev.error_frame(frame(events))
    assert errors["error_type"].to_list() == ["timeout", "queue_backlog", "timeout", "unknown"]
    timeline = dev.error_timeline(errors, H)
    hour = NOW - NOW % H  # NOW is 13 min 20 s past the hour: e1-e3 fall in the hour before, e4 in this one
    assert [(ts.timestamp() * 1000, kind, n) for ts, kind, n in timeline.rows()] == [
        (hour - H, "queue_backlog", 1),
        (hour - H, "timeout", 2),
        (hour, "unknown", 1),
    ]
    assert dev.error_points(errors)["label"].to_list()[0] == "?: "


def test_deployment_impact_compares_the_hour_either_side(engine, settings):
    now = now_ms()
    at = now - 3 * H
    values = [
        (at - 2 * H, 100.0),
        (at - 30 * 60_000, 1.0),
        (at - 10 * 60_000, 3.0),
        (at + 10 * 60_000, 5.0),
        (at + 50 * 60_000, 7.0),
        (at + 2 * H, 100.0),
    ]
    samples = [Sample.of(dev.API_ERRORS, {"endpoint": "/a"}, v, ts) for ts, v in values]
    deploy = Event("d1", "system.deployment", at, "ci", {"component": "api", "version": "1.2.3", "commit": "abc"})
    ingest(engine, Batch(tuple(samples), (deploy,)), origin="test", settings=settings)
    run_rollup(engine, now)
    deployments = load_deployments(engine, now - 24 * H, now, settings=settings)
    assert deployments.select("id", "component", "version").rows() == [("d1", "api", "1.2.3")]
    impact = dev.deployment_impact(engine, deployments, settings=settings, now_ms=now)
    errors = impact.filter(pl.col("metric") == "API error rate (%)").row(0, named=True)
    assert (errors["before"], errors["after"], errors["delta"], errors["delta_pct"]) == (2.0, 6.0, 4.0, 200.0)
    latency = impact.filter(pl.col("metric") == "API p95 latency (ms)").row(0, named=True)
    assert latency["before"] is None and latency["delta"] is None  # no such samples: no made-up number
    summary = dev.impact_summary(impact)
    assert summary.select("component", "version", "API error rate (%)", "API p95 latency (ms)").rows() == [
        ("api", "1.2.3", "2 → 6 (+200.0%)", "no data")
    ]


def test_window_means_and_impact_rows_by_hand():
    ts = [NOW - 30 * 60_000, NOW + 30 * 60_000, NOW + 90 * 60_000]
    metric = pl.DataFrame({"ts": ts, "value": [10.0, 15.0, 99.0]}).with_columns(
        pl.col("ts").cast(pl.Datetime("ms", "UTC"))
    )
    assert dev.window_means(metric, NOW) == (10.0, 15.0)
    row = dev.impact_rows({"id": "d", "component": "c", "version": "v", "ts": NOW}, "m", metric, scale=2.0)
    assert (row["before"], row["after"], row["delta"], row["delta_pct"]) == (20.0, 30.0, 10.0, 50.0)


def test_filter_options_list_what_the_events_carry(engine, settings):
    now = now_ms()
    events = [
        completed(1, now - 60_000, "dor_validation", 1, 1, "passed", repository="org/z"),
        Event("e", dev.ERROR_EVENT, now - 60_000, "t", {"component": "api", "team": "payments"}),
    ]
    ingest(engine, Batch(events=tuple(events)), origin="test", settings=settings)
    assert dev.filter_options(engine, now - H, now + 1, settings) == {
        "component": ["api"],
        "team": ["payments"],
        "repository": ["org/z"],
    }


def test_api_performance_from_request_events_where_no_metrics_exist(engine, settings):
    now = now_ms()
    durations = [(10, 200), (20, 200), (30, 500), (40, 404)]
    events = [
        Event(
            f"r{n}",
            dev.API_REQUEST_EVENT,
            now - (n + 1) * 60_000,
            "gw",
            {"endpoint": "/c", "duration_ms": ms, "status": code},
        )
        for n, (ms, code) in enumerate(durations)
    ]
    events.append(
        Event("m", dev.API_REQUEST_EVENT, now - 60_000, "gw", {"endpoint": "/a", "duration_ms": 999, "status": 200})
    )
    samples = [Sample.of(dev.API_RATE, {"endpoint": "/a"}, 2, now - 60_000)]
    ingest(engine, Batch(tuple(samples), tuple(events)), origin="test", settings=settings)
    api = dev.api_performance(engine, now - H, now, settings)
    by_endpoint = {row["endpoint"]: row for row in api.table.iter_rows(named=True)}
    assert by_endpoint["/a"]["requests_per_s"] == 2.0  # metrics win for an endpoint that has them
    c = by_endpoint["/c"]
    # linear quantiles of 10, 20, 30, 40 ms; 4 requests in an hour; 2 of 4 answered 4xx/5xx
    assert (c["p50_ms"], c["p95_ms"], c["p99_ms"], c["requests_per_s"], c["error_pct"]) == (
        25.0,
        38.5,
        39.7,
        round(4 / 3600, 2),
        50.0,
    )
    assert set(api.p95["endpoint"]) == {"/c"}
