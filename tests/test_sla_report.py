"""The SLA report from a real store: bottleneck ranking, critical path, every breach of the period, the trend per
SLA and the period before, the same on SQLite and Postgres; the breach list's paging without Streamlit."""

from __future__ import annotations

import polars as pl
import pytest

from core.ingest import ingest
from core.model import Batch, Sample
from core.sla import bottlenecks as bn
from core.sla import compliance as comp
from core.sla import store, view
from core.sla.definitions import DEFAULTS
from core.sla.jobs import check_slas
from core.sla.report import build_report, compliance_trend, trend_step_ms
from core.sla.status import statuses
from core.store.rollup import run_rollup
from tests.sla_history import (
    DAY,
    HOUR,
    MIN,
    NOW,
    UTILISATION,
    bottleneck_history,
    dor_history,
    frame,
    step,
    workflow,
)


def loads() -> list[Sample]:
    return [
        Sample.of("qms_agent_load_percent", {"agent": agent}, percent, NOW - 12 * 60 * MIN + n * 5 * MIN)
        for agent, percent in UTILISATION.items()
        for n in range(144)
    ]


def test_stored_history_gives_the_crafted_ranking_and_critical_path(slas, settings):
    ingest(slas, Batch(tuple(loads()), tuple(bottleneck_history())), origin="test", settings=settings)
    run_rollup(slas, NOW)
    report = build_report(slas, settings, NOW - DAY, NOW, now_ms=NOW)

    ranked = [(b.kind, b.name, b.severity, b.items_affected, round(b.impact_s, 6)) for b in report.bottlenecks]
    assert ranked == [
        ("resource", "agent-y", "critical", 2, 2 * 40 * 60.0),
        ("queue", "Progress reviews", "critical", 2, 2 * 16 * 60.0),
        ("step", "DoR validation", "high", 3, 3 * 200.0),
        ("resource", "agent-x", "high", 4, 4 * 60.0),
    ]
    path = [
        (row["order"], row["step"], row["workflows"], row["total_s"], row["dominant"]) for row in report.critical_path
    ]
    assert path == [
        (1, "dor_validation", 4, pytest.approx(60 + 14 * 60), False),
        (2, "progress_review", 2, pytest.approx(100 * 60), True),
        (3, "dod_validation", 1, pytest.approx(5 * 60), False),
    ]

    # The store adds nothing and loses nothing: the pure functions on the same events agree.
    data = frame(bottleneck_history())
    steps, workflows = comp.step_items(data, NOW), comp.workflow_items(data, NOW)
    usage = store.utilisation(
        slas, settings.sla_utilisation_selector, settings.sla_utilisation_label, NOW - DAY, NOW, settings, NOW
    )
    assert sorted(usage.rows()) == sorted(UTILISATION.items())
    assert list(report.bottlenecks) == bn.find_bottlenecks(steps, DEFAULTS, usage)
    assert list(report.critical_path) == bn.critical_path(steps, workflows).to_dicts()


def test_markdown_report_lists_the_critical_path_and_every_breach(slas, settings):
    ingest(slas, Batch(events=tuple(dor_history())), origin="test", settings=settings)
    check_slas(slas, settings, now_ms=NOW)
    report = build_report(slas, settings, NOW - DAY, NOW, now_ms=NOW)
    text = report.to_markdown()

    breaches = text[text.index("## Breaches") :]
    rows = [line for line in breaches.splitlines() if line.startswith("| DoR validation |")]
    assert sorted(rows) == sorted(
        [
            "| DoR validation | WF-10 | dor_validation | 30 min (still open) | 15 min (100%) | critical | yes |",
            "| DoR validation | WF-9 | dor_validation | 25 min | 10 min (67%) | critical | yes |",
            "| DoR validation | WF-8 | dor_validation | 18 min | 3 min (20%) | warning | no |",
            "| DoR validation | WF-11 | dor_validation | 16 min | 1 min (7%) | warning | no |",
        ]
    )
    assert len(report.to_dict()["breaches"]) == 4

    path = text[text.index("## Critical path") : text.index("## Breaches")]
    assert "| 1 | **dor_validation** (largest) | 11 |" in path
    assert "## Bottlenecks" in text and text.index("## Bottlenecks") < text.index("## Critical path")


def test_markdown_report_says_when_there_is_nothing_to_list(slas, settings):
    text = build_report(slas, settings, NOW - DAY, NOW, now_ms=NOW).to_markdown()
    assert "## Critical path\n\nNo finished steps in the period." in text
    assert "## Breaches (0)\n\nNone in the period." in text


# --- The whole period's breaches, the trend per SLA and the period before (issue "A real install, not the demo") ---

PERIOD = 4 * DAY  # the report period [NOW - 4 d, NOW); the period before is [NOW - 8 d, NOW - 4 d)
D = DAY // MIN  # minutes in a day


def ended(workflow_id: str, name: str, ago_min: float, minutes: float) -> list:
    """A step attempt that ended ``ago_min`` minutes before NOW after ``minutes``."""
    return step(workflow_id, name, ago_min + minutes, minutes)


def four_days() -> list:
    """DoR validations (target 15 min, escalation 20 min) and end-to-end workflows over eight days.

    Report period, by day (bucket 0 = 4 to 3 days ago):
      0: 6 fine, 2 of 18 min, and STUCK (60 min, started 30 min before the period) — 9 items, 3 late
      1: 5 fine, 1 of 25 min (escalated)                                              — 6 items, 1 late
      2: nothing
      3: 4 fine, 1 of 16 min, 1 still open for 30 min (escalated)                     — 6 items, 2 late
    Period before: 3 fine, 1 of 17 min, and STUCK, open at that period's end for 30 min — 5 items, 2 late.
    End-to-end: 3 workflows in the period, one of 5 h (target 4 h); one fine in the period before.
    """
    events = []
    for n in range(6):
        events += ended(f"A{n}", "dor_validation", 3.5 * D - 30 * n, 10)
    events += ended("A-late1", "dor_validation", 3.2 * D, 18) + ended("A-late2", "dor_validation", 3.3 * D, 18)
    events += step("STUCK", "dor_validation", 4 * D + 30, 60)
    for n in range(5):
        events += ended(f"B{n}", "dor_validation", 2.5 * D - 30 * n, 10)
    events += ended("B-late", "dor_validation", 2.2 * D, 25)
    for n in range(4):
        events += ended(f"C{n}", "dor_validation", 0.5 * D - 30 * n, 10)
    events += ended("C-late", "dor_validation", 300, 16) + step("C-open", "dor_validation", 30, None)
    for n in range(3):
        events += ended(f"P{n}", "dor_validation", 5 * D - 30 * n, 10)
    events += ended("P-late", "dor_validation", 6 * D, 17)
    events += workflow("W-ok1", 3.5 * D + 60, 60) + workflow("W-late", 2.5 * D + 300, 300)
    events += workflow("W-ok2", 60 + 60, 60) + workflow("W-old", 6 * D + 60, 60)
    return events


def p95_samples() -> list[Sample]:
    """24 API p95 values 5 minutes apart three hours ago, the first four over the 500 ms target."""
    return [
        Sample.of(
            "api_request_duration_seconds",
            {"endpoint": "/x", "quantile": "0.95"},
            0.9 if n < 4 else 0.2,
            NOW - 3 * 60 * MIN + n * 5 * MIN + 1000,
        )
        for n in range(24)
    ]


def test_report_lists_every_late_item_of_the_period_not_only_what_the_check_logged(slas, settings):
    ingest(slas, Batch(tuple(p95_samples()), tuple(four_days())), origin="test", settings=settings)
    run_rollup(slas, NOW)
    check_slas(slas, settings, now_ms=NOW)  # logs what ended over target in the last 24 h (and what is open)
    assert store.breaches(slas, NOW - PERIOD, NOW).height == 2  # C-late and C-open: the log alone undercounts

    report = build_report(slas, settings, NOW - PERIOD, NOW, now_ms=NOW)
    by_id = {line.sla_id: line for line in report.lines}
    assert [(by_id[k].items, by_id[k].breaches) for k in ("dor_validation", "end_to_end_workflow", "api_p95")] == [
        (21, 6),
        (3, 1),
        (24, 4),
    ]
    for line in report.lines:  # every line: breaches are exactly the items not within target
        if line.breaches is not None and line.items:
            assert line.breaches == line.items - round(line.within_target * line.items), line.sla_id
    assert by_id["uptime"].breaches is None  # availability is a time-weighted mean, no items to call late
    assert by_id["dor_validation"].escalations == 3  # STUCK (60 min), B-late (25 min), C-open (30 min so far)

    breaches = report.breaches
    assert breaches.height == 11 == sum(line.breaches or 0 for line in report.lines)
    assert breaches["ts"].to_list() == sorted(breaches["ts"].to_list(), reverse=True)  # newest first
    dor = breaches.filter(pl.col("sla_id") == "dor_validation")
    assert sorted(dor["workflow_id"].to_list()) == ["A-late1", "A-late2", "B-late", "C-late", "C-open", "STUCK"]
    stuck = dor.filter(pl.col("workflow_id") == "STUCK").row(0, named=True)
    assert (stuck["ts"], stuck["over_s"], stuck["severity"], stuck["open"]) == (
        NOW - (4 * D + 30) * MIN + 15 * MIN,  # crossed its target 15 minutes after it started
        45 * 60.0,
        "critical",
        False,
    )
    assert set(breaches.filter(pl.col("sla_id") == "api_p95")["workflow_id"]) == {
        'api_request_duration_seconds{endpoint="/x", quantile="0.95"}'
    }

    # Both downloads are complete: the Markdown lists every row, the JSON every breach.
    text = report.to_markdown()
    listed = text[text.index("## Breaches (11)") :].splitlines()
    assert (
        sum(row.startswith(("| DoR validation |", "| End-to-end", "| API response time p95 |")) for row in listed) == 11
    )
    assert len(report.to_dict()["breaches"]) == 11

    # The SLA page's compliance table (statuses over the range) counts the same items.
    shown = statuses(slas, settings, now_ms=NOW, windows_s={"range": PERIOD // 1000})
    for status in shown:
        line = by_id[status.definition.id]
        measured = status.compliance["range"]
        assert (measured.total, measured.within_target) == (line.items, line.within_target), line.sla_id


def test_trend_per_sla_is_compliance_per_day_over_the_period(slas, settings):
    ingest(slas, Batch(tuple(p95_samples()), tuple(four_days())), origin="test", settings=settings)
    run_rollup(slas, NOW)
    report = build_report(slas, settings, NOW - PERIOD, NOW, now_ms=NOW)
    assert report.trend_step_ms == DAY
    dor = next(line for line in report.lines if line.sla_id == "dor_validation")
    days = [(row["ts"], row["items"], row["compliance"]) for row in dor.trend]
    assert days == [
        (NOW - 4 * DAY, 9, pytest.approx(6 / 9)),
        (NOW - 3 * DAY, 6, pytest.approx(5 / 6)),
        (NOW - 2 * DAY, 0, None),
        (NOW - DAY, 6, pytest.approx(4 / 6)),  # C-open counts at the end of the period, as in the compliance
    ]
    assert sum(items for _, items, _ in days) == dor.items
    p95 = next(line for line in report.lines if line.sla_id == "api_p95")
    assert [(row["items"], row["compliance"]) for row in p95.trend][-1] == (24, pytest.approx(20 / 24))
    assert report.to_dict()["slas"][0]["trend"] == [dict(row) for row in dor.trend]


def test_previous_period_is_measured_as_its_own_report_measured_it(slas, settings):
    ingest(slas, Batch(tuple(p95_samples()), tuple(four_days())), origin="test", settings=settings)
    run_rollup(slas, NOW)
    report = build_report(slas, settings, NOW - PERIOD, NOW, now_ms=NOW)
    by_id = {line.sla_id: line for line in report.lines}
    dor, e2e, p95 = by_id["dor_validation"], by_id["end_to_end_workflow"], by_id["api_p95"]
    # STUCK was still running at the end of the period before, 30 min in: late there (open), late here (ended).
    assert (dor.previous.items, dor.previous.compliance, dor.previous.breaches) == (5, pytest.approx(3 / 5), 2)
    assert dor.delta() == {"items": 16, "compliance_pts": pytest.approx((15 / 21 - 3 / 5) * 100), "breaches": 4}
    assert (e2e.previous.items, e2e.previous.compliance, e2e.previous.breaches) == (1, 1.0, 0)
    assert e2e.delta() == {"items": 2, "compliance_pts": pytest.approx((2 / 3 - 1) * 100), "breaches": 1}
    assert (p95.previous.items, p95.previous.compliance, p95.delta()["compliance_pts"]) == (0, None, None)
    assert (report.previous_start_ms, dor.previous.start_ms, dor.previous.end_ms) == (
        NOW - 2 * PERIOD,
        NOW - 2 * PERIOD,
        NOW - PERIOD,
    )

    # The same figures as a report of that period, run at its end.
    before = build_report(slas, settings, NOW - 2 * PERIOD, NOW - PERIOD, now_ms=NOW)
    for line in before.lines:
        previous = by_id[line.sla_id].previous
        assert (previous.items, previous.compliance, previous.breaches) == (
            line.items,
            line.compliance,
            line.breaches,
        ), line.sla_id

    text = report.to_markdown()
    assert "| DoR validation | 21 | 5 | +16 | 71.43% | 60.00% | +11.43 pts | 6 | 2 | +4 |" in text
    slas_json = report.to_dict()["slas"][0]
    assert slas_json["previous"] == {
        "start_ms": NOW - 2 * PERIOD,
        "end_ms": NOW - PERIOD,
        "items": 5,
        "compliance": pytest.approx(0.6),
        "breaches": 2,
    }
    assert slas_json["delta"]["breaches"] == 4


def test_compliance_trend_lists_every_bucket_and_adds_up():
    outcomes = pl.DataFrame(
        {
            "ts": [NOW - 3 * HOUR + 1, NOW - 3 * HOUR + 2, NOW - 2 * HOUR, NOW - 1, NOW, NOW - 5 * HOUR],
            "bad": [1.0, 0.0, 0.25, 0.0, 1.0, 1.0],  # the last two lie outside [NOW - 3 h, NOW)
            "weight": [1.0] * 6,
        }
    )
    trend = compliance_trend(outcomes, NOW - 3 * HOUR, NOW, HOUR)
    assert trend.rows() == [
        (NOW - 3 * HOUR, 2, 0.5),
        (NOW - 2 * HOUR, 1, 0.75),  # an availability bucket down a quarter of the time
        (NOW - HOUR, 1, 1.0),
    ]
    assert compliance_trend(outcomes.clear(), NOW - 2 * HOUR, NOW, HOUR).rows() == [
        (NOW - 2 * HOUR, 0, None),
        (NOW - HOUR, 0, None),
    ]


@pytest.mark.parametrize(
    ("span", "step_ms"),
    [
        (HOUR, 5 * MIN),
        (6 * HOUR, 5 * MIN),
        (DAY, HOUR),
        (3 * DAY, HOUR),
        (7 * DAY, DAY),
        (90 * DAY, DAY),
        (365 * DAY, 7 * DAY),
    ],
)
def test_trend_bucket_suits_the_period(span, step_ms):
    assert trend_step_ms(span) == step_ms


def test_breaches_are_paged_without_streamlit():
    frame = pl.DataFrame({"n": list(range(1, 8))})
    first = view.page_of(frame, 1, size=3)
    assert (first.rows["n"].to_list(), first.number, first.pages, first.caption) == (
        [1, 2, 3],
        1,
        3,
        "Rows 1–3 of 7, page 1 of 3.",
    )
    assert view.page_of(frame, 2, size=3).rows["n"].to_list() == [4, 5, 6]
    last = view.page_of(frame, 9, size=3)  # past the end: the last page (a filter may have shortened the list)
    assert (last.rows["n"].to_list(), last.number, last.first, last.last) == ([7], 3, 7, 7)
    assert view.page_of(frame, 0, size=3).number == 1
    empty = view.page_of(frame.clear(), 1, size=3)
    assert (empty.rows.height, empty.pages, empty.first, empty.last, empty.caption) == (0, 1, 0, 0, "No rows.")
    assert [view.page_count(n, 50) for n in (0, 1, 50, 51, 430)] == [1, 1, 1, 2, 9]
