"""Overview, Executive and Operations in Debian's Chromium: charts draw, the range picker redraws them, live values arrive."""

from __future__ import annotations

import re
import time

import httpx
import pytest

from tests.live import live_server

pytestmark = pytest.mark.browser

# The page streams in element by element: wait until at least `least` charts exist and every one has drawn.
CHARTS_DRAWN = """(least) => {
  const charts = [...document.querySelectorAll("[data-testid='stVegaLiteChart']")];
  return charts.length >= least && charts.every(c => c.querySelector('canvas, svg'));
}"""
MIN_CHARTS = 3


def two_days_of_demo(engine) -> None:
    from collectors.demo import BACKFILL_STEP, DemoCollector, DemoWorkload
    from core.model import now_ms
    from core.rollup import run_rollup

    collector = DemoCollector(engine)
    now = now_ms()
    collector.workload = DemoWorkload(7, now)
    collector.generate(now - 2 * 86_400_000, now, BACKFILL_STEP)
    run_rollup(engine, now)


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    env = {"PULSEBOARD_COLLECTORS": "false", "PULSEBOARD_AUTH": "off"}
    with live_server(tmp_path_factory.mktemp("roles"), env=env, prepare=two_days_of_demo) as running:
        yield running


@pytest.fixture
def page(browser):
    context = browser.new_context(viewport={"width": 1400, "height": 1000})
    yield context.new_page()
    context.close()


def open_page(page, server, slug: str, query: str = "refresh=Off") -> None:
    page.goto(f"{server.url}/{slug}?{query}")
    page.get_by_role("heading", name={"": "Overview"}.get(slug, slug.capitalize())).wait_for(timeout=60_000)
    page.wait_for_function(CHARTS_DRAWN, arg=MIN_CHARTS, timeout=60_000)
    page.wait_for_function("() => document.querySelectorAll(\"[data-testid='stMetric']\").length >= 5", timeout=60_000)
    assert page.locator("[data-testid='stException']").count() == 0


@pytest.mark.parametrize("slug", ["", "executive", "operations"])
def test_page_loads_and_its_charts_draw(server, page, slug):
    open_page(page, server, slug)
    assert page.locator("[data-testid='stVegaLiteChart']").count() >= MIN_CHARTS
    assert page.locator("[data-testid='stMetric']").count() >= 5


def test_changing_the_time_range_redraws_the_charts_and_the_url(server, page):
    open_page(page, server, "operations")
    heatmap = page.locator("[data-testid='stVegaLiteChart']").filter(has=page.locator("canvas, svg")).nth(4)
    before = heatmap.screenshot()
    page.get_by_role("radio", name="1 h", exact=True).click()
    page.wait_for_url(re.compile(r"range=1(\+|%20)h"), timeout=30_000)
    page.wait_for_function(CHARTS_DRAWN, arg=MIN_CHARTS, timeout=60_000)
    deadline = time.monotonic() + 30
    while heatmap.screenshot() == before and time.monotonic() < deadline:
        time.sleep(0.5)
    assert heatmap.screenshot() != before
    assert page.locator("[data-testid='stException']").count() == 0


def test_a_shared_link_opens_the_same_view(server, page):
    open_page(page, server, "executive", "range=30+d&refresh=Off")
    assert page.get_by_role("radio", name="30 d", exact=True).get_attribute("aria-checked") == "true"


def test_posted_value_reaches_operations_within_two_refresh_intervals(server, page):
    interval = 5
    open_page(page, server, "operations", f"refresh={interval}+s")
    started = time.monotonic()
    reply = httpx.post(f"{server.url}/api/v1/metrics", json=[{"name": "qms_queue_depth", "labels": {"queue": "browser_probe"}, "value": 17}],
                       headers=server.headers)
    assert reply.status_code == 200
    page.wait_for_function("() => document.body.innerText.includes('browser_probe 17')", timeout=(2 * interval + 3) * 1000)
    assert time.monotonic() - started <= 2 * interval + 3
