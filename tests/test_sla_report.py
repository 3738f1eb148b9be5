"""The SLA report from a real store: bottleneck ranking, critical path and breach list, same on SQLite and Postgres."""

from __future__ import annotations

import pytest

from core.ingest import ingest
from core.model import Batch, Sample
from core.sla import bottlenecks as bn
from core.sla import compliance as comp
from core.sla import store
from core.sla.definitions import DEFAULTS
from core.sla.jobs import check_slas
from core.sla.report import build_report
from core.store.rollup import run_rollup
from tests.sla_history import DAY, MIN, NOW, UTILISATION, bottleneck_history, dor_history, frame


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
    assert "## Breaches\n\nNone logged." in text
