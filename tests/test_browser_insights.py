"""Insights and the Executive business view in Debian's Chromium on two days of demo data.

Insights: findings ranked by impact draw as cards, the baseline chart draws, a finding's chart link opens
its series, and a dismissal with a reason hides the finding and lists it under "Dismissed or snoozed".
Executive: the service trend, the business KPIs and the team table draw.
"""

from __future__ import annotations

import re

import pytest

from tests.live import live_server
from tests.test_browser_roles import CHARTS_DRAWN, assert_no_error, two_days_of_demo

pytestmark = pytest.mark.browser


def demo_with_insights(engine) -> None:
    from core.config import load_settings
    from core.insights.job import run_insights

    two_days_of_demo(engine)
    run_insights(engine, load_settings(database_url=engine.url.render_as_string(hide_password=False)))


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    env = {"PULSEBOARD_COLLECTORS": "false", "PULSEBOARD_AUTH": "off"}
    with live_server(tmp_path_factory.mktemp("insights"), env=env, prepare=demo_with_insights) as running:
        yield running


def open_insights(page, server, query: str = "refresh=Off") -> None:
    page.goto(f"{server.url}/insights?{query}")
    page.get_by_role("heading", name="Insights").first.wait_for(timeout=90_000)
    page.wait_for_function(CHARTS_DRAWN, arg=1, timeout=90_000)
    page.wait_for_load_state("networkidle")


def titles(page) -> list[str]:
    """The finding cards' titles, in page order (each card's heading reads "kind · impact N" under the title)."""
    heads = page.locator("[data-testid='stMarkdownContainer']").filter(has_text=re.compile(r"· impact \d+"))
    return [heads.nth(n).locator("strong").first.inner_text() for n in range(heads.count())]


def test_insights_lists_findings_by_impact_and_draws_the_baseline_chart(server, page):
    open_insights(page, server)
    assert_no_error(page)
    assert page.get_by_text("Findings by impact").count() == 1
    impacts = [float(m) for m in re.findall(r"impact (\d+)", page.locator("section.main, body").first.inner_text())]
    assert impacts and impacts == sorted(impacts, reverse=True)
    assert page.get_by_text("Baseline chart").count() >= 1
    assert page.locator("[data-testid='stVegaLiteChart']").count() >= 1
    labels = page.locator("[data-testid='stMetricLabel']").all_inner_texts()
    assert [label.strip() for label in labels[:5]] == [
        "Regressions",
        "Migration regressions",
        "Drifting series",
        "Opportunities",
        "Performance score",
    ]


def test_a_dismissal_with_a_reason_hides_the_finding(server, page):
    open_insights(page, server)
    first = titles(page)[0]
    page.get_by_role("button", name="Dismiss or snooze").first.click()
    dialog = page.locator("[data-testid='stPopoverBody']")
    dialog.get_by_text("Dismiss", exact=True).click()
    dialog.get_by_label("Reason").fill("seen in the browser test")
    dialog.get_by_role("button", name="Save").click()
    page.get_by_text(re.compile(r"Dismissed or snoozed \(1\)")).wait_for(timeout=60_000)
    page.wait_for_load_state("networkidle")
    assert first not in titles(page)
    assert_no_error(page)


def test_executive_business_view_draws(server, page):
    page.goto(f"{server.url}/executive?refresh=Off")
    page.get_by_role("heading", name="Executive").first.wait_for(timeout=90_000)
    page.get_by_role("heading", name="Business view").wait_for(timeout=90_000)
    page.wait_for_function(CHARTS_DRAWN, arg=4, timeout=90_000)
    page.wait_for_load_state("networkidle")
    body = page.locator("body").inner_text()
    for label in ("Defects caught before release", "Quality programme ROI", "Process adoption (QSE)"):
        assert label in body
    assert "Service trend" in body and "Team performance and cost" in body
    assert_no_error(page)
