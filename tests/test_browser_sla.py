"""The SLA page in Debian's Chromium on two days of demo data: it loads, its charts draw, no error box, and the
compliance table lists every default SLA."""

from __future__ import annotations

import pytest

from core.sla.definitions import DEFAULTS
from tests.live import live_server
from tests.test_browser_roles import CHARTS_DRAWN, assert_no_error, two_days_of_demo

pytestmark = pytest.mark.browser

MIN_CHARTS = 3  # the chosen SLA's trend and budget burn-down, and the critical path
# The compliance table is a canvas grid; its accessible twin holds the cell text. Rows outside the view may be left out.
FIRST_COLUMN = """() => {
  const grid = document.querySelector("[data-testid='stDataFrame'] table[role='grid']");
  return grid ? [...grid.querySelectorAll("tbody tr")].map(r => (r.querySelector("td") || {}).innerText || "") : [];
}"""


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    env = {"PULSEBOARD_COLLECTORS": "false", "PULSEBOARD_AUTH": "off"}
    with live_server(tmp_path_factory.mktemp("sla"), env=env, prepare=two_days_of_demo) as running:
        yield running


def open_sla(page, server, query: str = "refresh=Off") -> None:
    page.goto(f"{server.url}/sla?{query}")
    page.get_by_role("heading", name="SLAs & error budgets").wait_for(timeout=90_000)
    page.wait_for_function(CHARTS_DRAWN, arg=MIN_CHARTS, timeout=90_000)
    page.wait_for_function("() => document.querySelectorAll(\"[data-testid='stMetric']\").length >= 4", timeout=60_000)
    page.wait_for_load_state("networkidle")


def test_sla_page_loads_and_its_charts_draw(server, page):
    open_sla(page, server)
    assert page.locator("[data-testid='stVegaLiteChart']").count() >= MIN_CHARTS
    assert [page.locator("[data-testid='stMetricLabel']").nth(n).inner_text().strip() for n in range(4)] == [
        "SLAs met",
        "Lowest budget left",
        "Burn-rate alerts",
        "Breaches",
    ]
    assert_no_error(page)


def test_compliance_table_lists_every_default_sla(server, page):
    open_sla(page, server)
    table = page.locator("[data-testid='stDataFrame']").first
    table.scroll_into_view_if_needed()
    wanted = [d.name for d in DEFAULTS]
    seen: list[str] = []
    page.wait_for_function(f"() => ({FIRST_COLUMN})().includes({wanted[0]!r})", timeout=60_000)
    for _ in range(10):  # the grid draws the rows in view: scroll it down until the last default shows
        seen += [name for name in page.evaluate(FIRST_COLUMN) if name not in seen]
        if set(wanted) <= set(seen):
            break
        table.hover()
        page.mouse.wheel(0, 300)
        page.wait_for_timeout(300)
    assert [name for name in seen if name in wanted] == wanted
    assert_no_error(page)


def test_a_shared_seven_day_link_opens_that_range_and_draws(server, page):
    open_sla(page, server, "refresh=Off&range=7+d")
    page.get_by_role("radio", name="7 d", exact=True).wait_for(timeout=30_000)
    assert page.get_by_role("radio", name="7 d", exact=True).get_attribute("aria-checked") == "true"
    page.wait_for_function(CHARTS_DRAWN, arg=MIN_CHARTS, timeout=90_000)
    assert_no_error(page)
