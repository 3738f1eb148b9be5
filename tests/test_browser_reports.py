"""The Reports page in Debian's Chromium on two days of demo data: generate an HTML Technical report, watch it
finish off the page thread, see the preview (the report's own HTML, with its inline SVG) and the download, and the
history row; no error box."""

from __future__ import annotations

import pytest

from tests.live import live_server
from tests.test_browser_roles import assert_no_error, two_days_of_demo

pytestmark = pytest.mark.browser


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    env = {"PULSEBOARD_COLLECTORS": "false", "PULSEBOARD_AUTH": "off"}
    with live_server(tmp_path_factory.mktemp("reports"), env=env, prepare=two_days_of_demo) as running:
        yield running


def test_generate_an_html_report_and_preview_it(server, page):
    page.goto(f"{server.url}/reports?refresh=Off")
    page.get_by_role("heading", name="Reports & export").wait_for(timeout=90_000)
    page.get_by_text("No report generated yet").wait_for(timeout=60_000)
    picker = page.locator("[data-testid='stSelectbox']").filter(has=page.get_by_text("Report", exact=True))
    picker.locator("input, [role='combobox']").first.click()
    page.get_by_role("option", name="Technical report").click()
    page.get_by_test_id("stButtonGroup").get_by_text("HTML", exact=True).click()
    page.get_by_role("button", name="Generate report").click()
    page.get_by_text("Technical report ready").wait_for(timeout=120_000)
    download = page.get_by_role("button", name="Download technical-")
    assert download.count() == 1
    frame = page.frame_locator("iframe").first
    frame.get_by_role("heading", name="Technical report").wait_for(timeout=30_000)
    assert frame.get_by_text("Period:").count() >= 1
    page.reload()
    page.get_by_role("heading", name="History").wait_for(timeout=90_000)
    assert page.get_by_text("No report generated yet").count() == 0
    assert_no_error(page)
