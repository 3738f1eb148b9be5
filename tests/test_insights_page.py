"""The Insights page and the Executive business view through AppTest on a crafted store (both backends)."""

from __future__ import annotations

import numpy as np
import polars as pl
import pytest
from streamlit.testing.v1 import AppTest

from core.config import ROOT, get_settings
from core.ingest.writer import write_batch
from core.insights import dismissals
from core.insights.job import run_insights
from core.kpis.overview import load_overview
from core.model import Event, Sample, now_ms
from core.query import clear_cache
from core.store.collector_state import get_state
from core.store.rollup import run_rollup

MIN, H = 60_000, 3_600_000
REVIEWS = 'api_request_duration_seconds{endpoint="/reviews", quantile="0.95"}'


def run(page: str, **query: str) -> AppTest:
    at = AppTest.from_file(str(ROOT / "pages" / f"{page}.py"), default_timeout=120)
    for key, value in query.items():
        at.query_params[key] = value
    at.run()
    assert not at.exception, [e.value for e in at.exception]
    return at


def texts(at: AppTest) -> str:
    return "\n".join(m.value for m in at.markdown).replace("\\", "")  # markdown escapes dropped


@pytest.fixture
def store(app_store):
    """Eight hours of minute samples: /reviews p95 doubles after deployment dep-7 (gateway 4.2) three hours ago;
    a database at 250 ms a query; one agent at 95 %, one at 5 %; workflows of two teams and defects."""
    engine = app_store
    now = now_ms() // MIN * MIN
    rng = np.random.default_rng(3)
    ts = np.arange(now - 8 * H, now, MIN)
    deployed = now - 3 * H
    p95 = 0.2 * rng.lognormal(0, 0.2, ts.size) * np.where(ts >= deployed, 2.0, 1.0)
    samples = [
        Sample.of("api_request_duration_seconds", {"endpoint": "/reviews", "quantile": "0.95"}, float(v), int(t))
        for t, v in zip(ts, p95, strict=True)
    ]
    samples += [Sample.of("api_errors_percent", {"endpoint": "/reviews"}, 0.5, int(t)) for t in ts]
    samples += [Sample.of("db_query_duration_seconds", {"database": "qms"}, 0.25, int(t)) for t in ts[::5]]
    samples += [Sample.of("qms_agent_load_percent", {"agent": "a1"}, 95.0, int(t)) for t in ts[::5]]
    samples += [Sample.of("qms_agent_load_percent", {"agent": "a2"}, 5.0, int(t)) for t in ts[::5]]
    samples += [Sample.of("qms_agent_up", {"agent": a}, 1.0, int(t)) for t in ts[::5] for a in ("a1", "a2")]
    events = [Event("dep-7", "system.deployment", deployed, "test", {"component": "gateway", "version": "4.2"}, {})]
    for n in range(6):
        team = "payments" if n % 2 else "search"
        end = now - (n + 1) * H
        wid = f"WF-{n}"
        events += [
            Event(
                f"s{n}",
                "workflow.step_completed",
                end - 30 * MIN,
                "t",
                {"workflow_id": wid, "team": team, "step": "review", "duration_s": 1800},
            ),
            Event(
                f"c{n}", "workflow.workflow_completed", end, "t", {"workflow_id": wid, "team": team, "duration_s": 7200}
            ),
        ]
    events += [
        Event(
            f"d{n}",
            "qa.defect_found",
            now - (n + 1) * H,
            "t",
            {"defect_id": f"D{n}", "severity": "major", "step": "code_review"},
        )
        for n in range(4)
    ]
    write_batch(engine, samples, events)
    run_rollup(engine, now)
    clear_cache()
    report = run_insights(engine, get_settings(), now)
    assert report.refreshed and report.components >= 2
    clear_cache()
    return engine


def test_insights_ranks_the_deployment_regression_and_the_rules_and_links_each(store):
    at = run("insights")
    body = texts(at)
    assert "endpoint /reviews worse after gateway 4.2" in body
    assert "Slow queries on qms" in body and "Agent a1 overloaded" in body and "1 agent idle" in body
    assert "a2 5 %; let them take work from a1" in body
    assert "move work to a2" in body
    assert "[Show the chart](./insights?series=" in body and "[Open Explore](./explore)" in body
    titles = [m.value for m in at.markdown if m.value.startswith("**")]
    impacts = [float(t.rsplit("impact ", 1)[1].rstrip("]")) for t in titles if "impact " in t]
    assert impacts == sorted(impacts, reverse=True)
    assert len(at.get("vega_lite_chart")) >= 1  # the baseline chart
    labels = {m.label: m.value for m in at.metric}
    assert labels["Regressions"] == "1" and labels["Opportunities"] == "3"


def test_the_chart_link_opens_the_series_it_names(store):
    at = run("insights", series=REVIEWS)
    assert at.selectbox(key="series").value == REVIEWS


def test_a_dismissal_from_the_page_needs_a_reason_and_survives_a_new_session(store):
    at = run("insights")
    first = at.text_input[0]
    at.radio[0].set_value("Dismiss")
    at.button[0].click().run()  # Save without a reason
    assert any("reason is required" in e.value for e in at.error)
    assert dismissals.hidden(store) == {}
    at.text_input[0].input("known since the capacity review")
    at.radio[0].set_value("Dismiss")
    at.button[0].click().run()
    hidden = dismissals.hidden(store)
    assert len(hidden) == 1 and next(iter(hidden.values())).reason == "known since the capacity review"
    again = run("insights")  # a new session reads it back from the store
    assert "Dismissed or snoozed (1)" in [e.label for e in again.expander]
    assert first is not None


def test_the_overview_health_score_has_the_performance_component(store):
    stored = get_state(store, "insights", "scores")
    assert stored and stored["components"] and stored["overall"] is not None
    now = now_ms()
    drags = load_overview(store, now - H, now, {}, get_settings()).health.drags
    row = drags.filter(pl.col("component") == "Performance").row(0, named=True)
    assert row["score"] == pytest.approx(stored["overall"], abs=0.05) and row["weight"] == 2.0
    assert row["detail"].startswith(f"{len(stored['components'])} components against their baselines")
    run("overview")


def test_executive_shows_the_business_view(store):
    at = run("executive")
    labels = {m.label.split(" · ")[0]: m.value for m in at.metric}
    assert labels["Defects caught before release"] == "4"
    assert labels["Process adoption (QSE)"] == "—"
    table = next(d.value for d in at.dataframe if "team" in d.value.columns)
    assert sorted(table["team"]) == ["payments", "search"]
    assert list(table["reviews"]) == [3, 3]
    # 3 × 0.5 agent hours × 60 + 3 × 5 fixed = 105 per team, 35 per review
    assert list(table["cost"]) == [105.0, 105.0] and list(table["cost_per_review"]) == [35.0, 35.0]
    assert "Escape cost avoided" in labels and labels["Quality programme ROI"].startswith("2,757")


def test_the_executive_and_technical_reports_list_the_findings_and_leave_dismissed_ones_out(store):
    from core.reports.build import build

    now = now_ms()
    start = now - 7 * 24 * H
    technical = build(store, "technical", start, now, settings=get_settings(), now_ms=now)
    (section,) = [s for s in technical.sections if s.title == "Insights: findings by impact"]
    assert section.table is not None
    rows = {r["finding"]: r for r in section.table.iter_rows(named=True)}
    assert next(iter(rows)) == "Slow queries on qms"  # impact 100: 250 ms is past twice the limit
    assert (
        "Likely cause: deployment dep-7 of gateway 4.2" in rows["endpoint /reviews worse after gateway 4.2"]["detail"]
    )
    assert section.table["impact"].to_list() == sorted(section.table["impact"].to_list(), reverse=True)
    dismissals.dismiss(store, "regression:dep-7", "rolled back already", "alice")
    clear_cache()
    executive = build(store, "executive", start, now, settings=get_settings(), now_ms=now)
    (section,) = [s for s in executive.sections if s.title == "Insights: findings by impact"]
    assert section.table is not None and "endpoint /reviews worse after gateway 4.2" not in section.table["finding"]
    assert "Slow queries on qms" in section.table["finding"].to_list()
