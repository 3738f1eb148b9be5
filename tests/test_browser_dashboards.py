"""The Dashboards page in Debian's Chromium with login on: a developer builds a dashboard through the editor (a
variable and two widgets), saves it and finds it again after a reload; an operations user does not see it until it
is shared with their role; the kiosk URL shows it without the sidebar. One server for the module; each test
has its own dashboard (the sharing and kiosk ones are stored by ``prepare``), so none depends on another."""

from __future__ import annotations

import pytest
from playwright.sync_api import expect

from tests.live import live_server
from tests.test_browser import log_in

pytestmark = pytest.mark.browser
PASSWORD = "dashboards-Secret-42"
MIN = 60_000


def prepare(engine) -> None:
    from core.auth.users import create_user
    from core.ingest import ingest
    from core.model import Batch, Sample, now_ms
    from core.store.rollup import run_rollup

    create_user(engine, "ana", PASSWORD, ["developer"], must_change_password=False)
    create_user(engine, "olga", PASSWORD, ["operations"], must_change_password=False)
    now = now_ms()
    samples = [
        Sample.of("qms_queue_depth", {"queue": queue}, float(base + i % 7), now - (60 - i) * MIN)
        for queue, base in (("review", 3), ("triage", 12))
        for i in range(60)
    ]
    ingest(engine, Batch(tuple(samples)))
    run_rollup(engine, now)
    from core.auth.access import Viewer
    from core.dashboards import model, store

    ana = Viewer.of("ana", ["developer"])
    for slug, title, roles in (("ana-private", "Ana private", ()), ("ana-wall", "Ana wall", ("operations",))):
        widget = {"kind": "trend", "title": f"{title} queues", "source": "metric:qms_queue_depth"}
        store.save(
            engine,
            model.validate({"schema_version": 2, "slug": slug, "title": title, "widgets": [{"config": widget}]}),
            ana,
        )
        store.share(engine, slug, roles, ana)


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    env = {"PULSEBOARD_COLLECTORS": "false"}
    with live_server(tmp_path_factory.mktemp("dashboards"), env=env, prepare=prepare) as running:
        yield running


def no_error(page) -> None:
    assert page.locator("[data-testid='stException']").count() == 0
    assert page.locator("[data-testid='stAlertContentError']").count() == 0


def pick(page, label: str, option: str) -> None:
    """Choose ``option`` in the select box labelled ``label``."""
    box = page.locator("[data-testid='stSelectbox']").filter(has=page.get_by_text(label, exact=True)).last
    box.locator("input, [role='combobox']").first.click()
    page.keyboard.type(option)  # the list is virtualised: filter it so the option is drawn
    page.get_by_role("option", name=option, exact=True).click()


def options(page, label: str) -> list[str]:
    """The options of the select box labelled ``label`` (opened, read, closed)."""
    box = page.locator("[data-testid='stSelectbox']").filter(has=page.get_by_text(label, exact=True)).first
    box.locator("input, [role='combobox']").first.click()
    page.get_by_role("option").first.wait_for(timeout=10_000)
    names = page.get_by_role("option").all_inner_texts()
    page.keyboard.press("Escape")
    return [name.strip() for name in names]


def test_build_a_dashboard_with_a_variable_and_two_widgets_save_and_reload(server, page):
    log_in(page, server.url, "ana", PASSWORD, expect="Dashboards", path="/dashboards")
    page.get_by_role("button", name="New dashboard").click()
    page.get_by_role("button", name="Save dashboard").wait_for(timeout=30_000)
    title = page.get_by_role("textbox", name="Title", exact=True).first
    title.fill("Ana queues")
    title.press("Tab")
    slug = page.get_by_role("textbox", name="URL name (slug)")
    slug.fill("ana-queues")
    slug.press("Tab")
    page.wait_for_timeout(1_000)
    # the variable $queue: values of the label queue on qms_queue_depth
    page.get_by_role("textbox", name="Variable name").fill("queue")
    pick(page, "Metric", "qms_queue_depth")
    page.get_by_role("textbox", name="Label").fill("queue")
    page.get_by_role("button", name="Add variable").click()
    page.get_by_text("values of queue on", exact=False).wait_for(timeout=30_000)
    # widget 1: a KPI card (the first kind) on the variable
    page.get_by_role("textbox", name="Title", exact=True).last.fill("Waiting in $queue")
    page.get_by_role("textbox", name="Source", exact=True).last.fill("metric:qms_queue_depth{queue=$queue}")
    page.get_by_role("button", name="Add widget").click()
    page.get_by_text("1. Waiting in $queue").wait_for(timeout=30_000)
    # widget 2: a trend line over every queue
    pick(page, "Kind", "Trend line")
    page.get_by_role("textbox", name="Y title").wait_for(timeout=30_000)  # the form of the trend kind
    page.wait_for_load_state("networkidle")
    page.wait_for_timeout(1_500)
    page.get_by_role("textbox", name="Title", exact=True).last.fill("Every queue")
    page.get_by_role("textbox", name="Source", exact=True).last.fill("metric:qms_queue_depth")
    expect(page.get_by_role("textbox", name="Title", exact=True).last).to_have_value("Every queue")
    page.get_by_role("button", name="Add widget").click()
    page.get_by_text("2. Every queue").wait_for(timeout=30_000)
    page.get_by_role("button", name="Save dashboard").click()
    page.get_by_text("Saved Ana queues (version 1)").wait_for(timeout=30_000)
    no_error(page)
    page.goto(f"{server.url}/dashboards?d=ana-queues")  # the login cookie keeps ana logged in
    page.get_by_text("Waiting in review").wait_for(timeout=60_000)  # $queue took its first value
    page.get_by_text("Every queue", exact=True).wait_for(timeout=30_000)
    page.wait_for_function(
        "() => document.querySelectorAll(\"[data-testid='stVegaLiteChart'] canvas, "
        "[data-testid='stVegaLiteChart'] svg\").length >= 1",
        timeout=60_000,
    )
    assert page.locator("[data-testid='stMetric']").count() == 1
    no_error(page)


def shared_roles(server, slug: str) -> list[str]:
    from core.dashboards import store
    from core.store.engine import make_engine

    saved = store.get(make_engine(f"sqlite:///{server.log_path.parent / 'pulseboard.db'}"), slug)
    assert saved is not None
    return list(saved.shared_roles)


def test_operations_sees_it_only_once_shared_with_their_role(server, page, browser):
    log_in(page, server.url, "olga", PASSWORD, expect="Dashboards", path="/dashboards?d=ana-private")
    chooser = page.locator("[data-testid='stSelectbox']").filter(has=page.get_by_text("Dashboard", exact=True))
    chooser.first.wait_for(timeout=60_000)  # the page fell back to a dashboard olga may see
    assert page.get_by_text("Ana private queues", exact=True).count() == 0
    assert "Ana private (ana-private)" not in options(page, "Dashboard")
    # ana shares it with operations on the Share tab
    context = browser.new_context(viewport={"width": 1400, "height": 1000})
    ana = context.new_page()
    try:
        log_in(ana, server.url, "ana", PASSWORD, expect="Ana private queues", path="/dashboards?d=ana-private")
        ana.get_by_role("radio", name="Share").or_(ana.get_by_role("button", name="Share", exact=True)).first.click()
        box = ana.locator("[data-testid='stMultiSelect']").filter(has=ana.get_by_text("Shared with roles"))
        box.locator("input").first.click()
        ana.get_by_role("option", name="operations", exact=True).click()
        ana.keyboard.press("Escape")
        ana.get_by_role("button", name="Apply sharing").click()
        expect(box.get_by_text("operations")).to_be_visible(timeout=30_000)
        no_error(ana)
    finally:
        context.close()
    assert shared_roles(server, "ana-private") == ["operations"]
    page.goto(f"{server.url}/dashboards?d=ana-private")
    page.get_by_text("Ana private queues", exact=True).wait_for(timeout=60_000)
    assert "Ana private (ana-private)" in options(page, "Dashboard")
    no_error(page)


def test_the_kiosk_url_shows_it_without_the_sidebar(server, page):
    log_in(page, server.url, "olga", PASSWORD, expect="Ana wall queues", path="/dashboards?kiosk=1&d=ana-wall")
    page.get_by_role("heading", name="Ana wall").wait_for(timeout=60_000)
    expect(page.locator("[data-testid='stSidebar']")).to_be_hidden(timeout=30_000)
    assert not page.locator("[data-testid='stHeader']").is_visible()
    assert page.get_by_role("button", name="New dashboard").count() == 0
    no_error(page)
