"""The Migration page in Debian's Chromium on two days of demo data — every section draws, no error box — and the
``stats report`` HTML opened in the browser with every network request refused."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

from core.config import ROOT
from tests.live import live_server
from tests.test_browser_roles import CHARTS_DRAWN, assert_no_error, two_days_of_demo

pytestmark = pytest.mark.browser

MIN_CHARTS = 3  # the timeline, old vs new operation time, the median change per operation
SECTIONS = ["Timeline", "Components", "Live metrics", "Issues", "Test suites", "Performance: old vs new"]


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("migration")
    env = {"PULSEBOARD_COLLECTORS": "false", "PULSEBOARD_AUTH": "off"}
    with live_server(tmp, env=env, prepare=two_days_of_demo) as running:
        yield running, tmp


def test_the_migration_page_draws_every_section_on_demo_data(server, page):
    running, _ = server
    page.goto(f"{running.url}/migration?refresh=Off")
    page.get_by_role("heading", name="Migration health").wait_for(timeout=90_000)
    page.get_by_role("heading", name="Resource use").wait_for(timeout=90_000)
    page.wait_for_function(CHARTS_DRAWN, arg=MIN_CHARTS, timeout=90_000)
    page.wait_for_load_state("networkidle")
    headings = page.locator("h3").all_inner_texts()
    assert [h for h in headings if h in SECTIONS] == SECTIONS
    labels = [t.strip() for t in page.locator("[data-testid='stMetricLabel']").all_inner_texts()]
    assert {"Progress", "Success rate", "Throughput", "Failed records", "Operation time (new)"} <= set(labels)
    values = dict(zip(labels, page.locator("[data-testid='stMetricValue']").all_inner_texts(), strict=False))
    assert values["Throughput"].endswith("records/s") and values["Progress"].endswith("%")
    assert page.get_by_text("Estimated completion").count() == 1
    # no collectors run here: the resource section says what would fill it instead of drawing empty charts
    assert page.get_by_text("No process metrics").count() == 2
    assert_no_error(page)


def test_the_html_report_opens_with_every_network_request_refused(server, browser, tmp_path):
    _, tmp = server
    out = tmp_path / "report.html"
    env = {k: v for k, v in os.environ.items() if not k.startswith("PULSEBOARD_")}
    env |= {"PULSEBOARD_DATABASE_URL": f"sqlite:///{tmp / 'pulseboard.db'}", "PULSEBOARD_DATA_DIR": str(tmp_path)}
    done = subprocess.run(
        [sys.executable, "-m", "core.cli", "stats", "report", "--out", str(out)],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr
    context = browser.new_context(offline=True)
    asked: list[str] = []

    def refuse(route):  # anything but the file itself would be a resource the report needs from elsewhere
        if not route.request.url.startswith("file://"):
            asked.append(route.request.url)
            route.abort()
        else:
            route.continue_()

    context.route("**/*", refuse)
    tab = context.new_page()
    tab.goto(out.as_uri())
    tab.wait_for_load_state("load")
    assert asked == []
    assert "MDM refactoring" in tab.title() or tab.get_by_text("MDM refactoring").count() >= 1
    assert tab.locator("svg").count() >= 1 and tab.locator("svg").first.is_visible()
    assert tab.locator("table").count() >= 3
    context.close()
