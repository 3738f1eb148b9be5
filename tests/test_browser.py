"""End to end in Debian's Chromium: the shell loads, data posted to the API shows up."""

from __future__ import annotations

import uuid

import httpx
import pytest

from tests.live import CHROMIUM, CHROMIUM_ARGS, live_server

pytestmark = pytest.mark.browser
playwright = pytest.importorskip("playwright.sync_api")


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    with live_server(tmp_path_factory.mktemp("browser"), env={"PULSEBOARD_COLLECTORS": "false"}) as running:
        yield running


@pytest.fixture(scope="module")
def browser():
    with playwright.sync_playwright() as driver:
        chromium = driver.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        yield chromium
        chromium.close()


@pytest.fixture
def page(browser):
    context = browser.new_context(viewport={"width": 1400, "height": 900})
    yield context.new_page()
    context.close()


def no_error_box(page):
    assert page.locator("[data-testid='stException']").count() == 0


def test_posted_sample_appears_on_overview(server, page):
    name = f"browser_{uuid.uuid4().hex[:8]}"
    reply = httpx.post(f"{server.url}/api/v1/metrics", json=[{"name": name, "labels": {"host": "web-1"}, "value": 42.5}])
    assert reply.status_code == 200
    page.goto(server.url + "/")
    page.get_by_role("heading", name="Overview").wait_for(timeout=30_000)
    # The data grid draws on a canvas; its cells are mirrored in an accessible table in the DOM.
    page.wait_for_function("name => document.body.innerHTML.includes(name)", arg=name, timeout=30_000)
    no_error_box(page)


def test_placeholder_pages_say_they_are_not_built(server, page):
    page.goto(server.url + "/dashboards")
    page.get_by_text("Not built yet.").wait_for(timeout=30_000)
    no_error_box(page)


def test_navigation_lists_every_section(server, page):
    page.goto(server.url + "/")
    nav = page.locator("[data-testid='stSidebarNav']")
    nav.wait_for(timeout=30_000)
    for section in ("Everyone", "Management", "Operations", "Engineering", "Quality", "Administration"):
        assert nav.get_by_text(section, exact=True).count() >= 1
    assert nav.get_by_role("link").count() == 15
