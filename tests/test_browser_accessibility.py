"""Accessibility in Debian's Chromium: axe-core over every page each role may open, the display settings'
effect on computed styles, and the main controls reached with the Tab key.

axe-core comes bundled in the pinned ``axe-playwright-python`` wheel (axe.min.js, MPL-2.0). A serious or
critical violation fails the test unless it is on :data:`ALLOWED`: a rule found only inside a part of the page
that Streamlit draws and Pulseboard cannot change, each with the reason. Anything else — a new rule, or an allowed
rule met outside its container — fails with the rule, the element and axe's help text.
"""

from __future__ import annotations

import re

import pytest
from axe_playwright_python.base import AXE_SCRIPT

from core.auth import users
from core.auth.access import Viewer, pages_for_viewer
from core.auth.catalogue import ROLES
from tests.live import live_server
from tests.test_browser import log_in, wait_for_cookie

pytestmark = pytest.mark.browser

PASSWORD = "correct horse battery"
IMPACTS = ("serious", "critical")
# rule → (the container Streamlit draws it in, why it stays): violations of the rule outside it still fail
ALLOWED = {
    "list": (
        "[data-testid='stSidebarNav']",
        "st.navigation's menu puts its section headers and their <li> links in <div>s directly inside one <ul>; "
        "the markup is Streamlit's own and reads correctly as links in a navigation landmark",
    ),
    "listitem": ("[data-testid='stSidebarNav']", "the same menu: its <li> links sit in <div> section groups"),
    "svg-img-alt": (
        "[data-testid='stMetric']",
        "st.metric's sparkline (chart_data) is an SVG Streamlit draws with an img role and no name; the card's "
        "label, value and delta say the same in text",
    ),
    "color-contrast": (
        "label[data-testid='stWidgetLabel'][disabled]",
        "the label of a disabled widget (Capacity's resource picker while no forecast is stored), which Streamlit "
        "fades on purpose; WCAG 1.4.3 exempts inactive controls, and axe cannot see the label belongs to one",
    ),
}
SETTLED = """() => !!document.querySelector("h1") && !document.querySelector("[data-testid='stStatusWidget']")"""
ELEMENTS = "() => document.querySelectorAll(\"[data-testid='stElementContainer']\").length"
INSIDE = "([target, container]) => !!document.querySelector(target)?.closest(container)"


def account(role: str) -> str:
    return f"a11y-{role.replace('_', '-')}"


def prepare(engine) -> None:
    """One user per role and a day of demo data, so every page draws its charts, tables and cards."""
    from collectors.demo import BACKFILL_STEP, DemoCollector, DemoWorkload
    from core.model import now_ms
    from core.store.rollup import run_rollup

    for role in ROLES:
        users.create_user(engine, account(role), PASSWORD, [role], must_change_password=False)
    collector = DemoCollector(engine)
    now = now_ms()
    collector.workload = DemoWorkload(7, now)
    collector.generate(now - 86_400_000, now, BACKFILL_STEP)
    run_rollup(engine, now)


def pages_of(role: str) -> list[str]:
    return [spec.slug for spec in pages_for_viewer(Viewer(account(role), frozenset({role}))) if spec.script]


AUDITS = [(role, slug) for role in ROLES for slug in pages_of(role)]


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    with live_server(
        tmp_path_factory.mktemp("a11y"), env={"PULSEBOARD_COLLECTORS": "false"}, prepare=prepare
    ) as running:
        yield running


@pytest.fixture(scope="module")
def sessions(browser, server):
    """One logged-in tab per role, opened on first use and kept for the module (a login per page would double
    the time for nothing)."""
    opened: dict[str, object] = {}

    def tab(role: str):
        if role not in opened:
            context = browser.new_context(viewport={"width": 1400, "height": 1000})
            page = context.new_page()
            log_in(page, server.url, account(role), PASSWORD)
            wait_for_cookie(page, present=True)  # later page loads are new Streamlit sessions: the cookie logs them in
            opened[role] = (context, page)
        return opened[role][1]  # type: ignore[index]

    yield tab
    for context, _ in opened.values():  # type: ignore[misc]
        context.close()


def settle(page) -> None:
    """Until the page has streamed in: its title drawn, no run in progress, and no element added for 1.5 s."""
    last = -1
    for _ in range(40):
        page.wait_for_function(SETTLED, timeout=60_000)
        count = page.evaluate(ELEMENTS)
        if count == last:
            return
        last = count
        page.wait_for_timeout(1_500)
    pytest.fail(f"{page.url} kept changing")


def open_page(page, server, slug: str, query: str = "refresh=Off") -> None:
    page.goto(f"{server.url}/{'' if slug == 'overview' else slug}?{query}")  # the default page lives at /
    page.locator("h1").first.wait_for(timeout=60_000)
    settle(page)
    assert page.locator("[data-testid='stException']").count() == 0


def unexplained(page) -> list[str]:
    """Serious and critical axe violations on the page that :data:`ALLOWED` does not explain."""
    page.evaluate(AXE_SCRIPT)
    results = page.evaluate("axe.run(document, {resultTypes: ['violations']})")
    found = []
    for violation in results["violations"]:
        if violation["impact"] not in IMPACTS:
            continue
        allowed = ALLOWED.get(violation["id"])
        for node in violation["nodes"]:
            target = node["target"][0] if isinstance(node["target"][0], str) else node["target"][0][0]
            if allowed and page.evaluate(INSIDE, [target, allowed[0]]):
                continue
            found.append(f"{violation['id']} ({violation['impact']}): {violation['help']} — {node['html'][:200]}")
    return found


@pytest.mark.parametrize(("role", "slug"), AUDITS, ids=[f"{role}-{slug}" for role, slug in AUDITS])
def test_no_unexplained_serious_violation_on_any_page_of_any_role(server, sessions, role, slug):
    page = sessions(role)
    open_page(page, server, slug)
    assert unexplained(page) == []


@pytest.mark.parametrize("slug", ["overview", "operations", "capacity"])
def test_high_contrast_pages_have_no_unexplained_violation_either(server, sessions, slug):
    page = sessions("admin")
    open_page(page, server, slug)
    choose(page, high_contrast=True)
    settle(page)
    try:
        assert unexplained(page) == []
    finally:
        choose(page, high_contrast=False)


def styles(page) -> dict[str, str]:
    return page.evaluate(
        """() => {
          const app = getComputedStyle(document.querySelector('.stApp'));
          const text = getComputedStyle(document.querySelector('h1'));
          const metric = document.querySelector("[data-testid='stMetric']");
          return {
            root: getComputedStyle(document.documentElement).fontSize,
            background: app.backgroundColor,
            heading: text.color,
            metricBorder: metric ? getComputedStyle(metric).borderTopWidth : '',
            metricBorderColor: metric ? getComputedStyle(metric).borderTopColor : '',
          };
        }"""
    )


def choose(page, *, high_contrast: bool | None = None, text: int | None = None) -> None:
    """Set the sidebar's Accessibility settings as a person does: open the section, flip the switch, pick a size."""
    sidebar = page.locator("[data-testid='stSidebar']")
    switch = sidebar.get_by_role("switch", name="High contrast")
    if not switch.is_visible():
        sidebar.get_by_text("Accessibility", exact=True).click()
        switch.wait_for(timeout=30_000)
    if high_contrast is not None and switch.is_checked() != high_contrast:
        switch.click(force=True)  # the visible switch is drawn over the checkbox
        page.wait_for_function(
            "want => [...document.querySelectorAll('style')]"
            ".some(s => s.textContent.includes('pulseboard: high contrast')) === want",
            arg=high_contrast,
            timeout=30_000,
        )
    if text is not None:
        sidebar.get_by_role("radio", name=f"{text} %", exact=True).click()
        page.wait_for_function(
            "px => getComputedStyle(document.documentElement).fontSize === px",
            arg=f"{16 * text / 100:g}px",
            timeout=30_000,
        )


def test_high_contrast_and_text_size_change_the_computed_styles(server, browser):
    context = browser.new_context(viewport={"width": 1400, "height": 1000}, color_scheme="dark")
    page = context.new_page()
    try:
        log_in(page, server.url, account("operations"), PASSWORD)
        wait_for_cookie(page, present=True)
        open_page(page, server, "operations")
        before = styles(page)
        assert before["root"] == "16px" and before["background"] != "rgb(255, 255, 255)"  # the dark theme
        heading_px = page.evaluate("() => parseFloat(getComputedStyle(document.querySelector('h1')).fontSize)")
        choose(page, high_contrast=True, text=130)
        after = styles(page)
        assert after["root"] == "20.8px"
        assert after["background"] == "rgb(255, 255, 255)" and after["heading"] == "rgb(0, 0, 0)"
        assert after["metricBorder"] == "2px" and after["metricBorderColor"] == "rgb(0, 0, 0)"
        larger = page.evaluate("() => parseFloat(getComputedStyle(document.querySelector('h1')).fontSize)")
        assert larger == pytest.approx(heading_px * 1.3, rel=0.02)  # rem-sized text follows the root size
        page.locator("[data-testid='stSidebarNav']").get_by_role("link", name="Overview").click()
        page.get_by_role("heading", name="Overview").wait_for(timeout=30_000)
        settle(page)
        assert styles(page)["root"] == "20.8px" and styles(page)["background"] == "rgb(255, 255, 255)"  # every page
        page.reload()  # a new browser session: the settings come back from the link
        settle(page)
        assert styles(page)["root"] == "20.8px" and styles(page)["heading"] == "rgb(0, 0, 0)"
        choose(page, high_contrast=False, text=100)
        assert styles(page)["root"] == "16px" and styles(page)["background"] != "rgb(255, 255, 255)"
        assert "contrast=" not in page.url and "text=" not in page.url
    finally:
        context.close()


def test_a_link_can_open_a_session_in_high_contrast(server, browser):
    context = browser.new_context(viewport={"width": 1400, "height": 1000})
    page = context.new_page()
    try:
        log_in(page, server.url, account("executive"), PASSWORD, path="/?contrast=high&text=115")
        settle(page)
        page.wait_for_function(  # the page may still be rerunning after the login: wait for the look, then read it
            "() => getComputedStyle(document.documentElement).fontSize === '18.4px' && "
            "getComputedStyle(document.querySelector('h1')).color === 'rgb(0, 0, 0)'",
            timeout=30_000,
        )
        assert styles(page)["background"] == "rgb(255, 255, 255)"
    finally:
        context.close()


FOCUSED = """() => {
  const el = document.activeElement;
  if (!el || el === document.body) return null;
  const style = getComputedStyle(el);
  const label = el.getAttribute('aria-label') || el.innerText || el.value || el.getAttribute('placeholder') || '';
  const labelled = el.id && document.querySelector(`label[for="${el.id}"]`);
  return {
    name: (label || (labelled ? labelled.innerText : '') || el.closest('[data-testid]')?.innerText || '').trim()
      .replace(/\\s+/g, ' ').slice(0, 80),
    testid: el.closest('[data-testid]')?.getAttribute('data-testid') || '',
    outline: style.outlineStyle !== 'none' ? parseFloat(style.outlineWidth) : 0,
    inSidebar: !!el.closest("[data-testid='stSidebar']"),
  };
}"""


def test_tab_reaches_the_main_controls_with_a_visible_focus_ring(server, sessions):
    page = sessions("operations")
    open_page(page, server, "operations")
    page.locator("h1").first.click()  # start from the page's title, as a reader who arrived there
    stops = []
    for _ in range(60):
        page.keyboard.press("Tab")
        here = page.evaluate(FOCUSED)
        if here is None:
            continue
        stops.append(here)
    names = [stop["name"] for stop in stops]
    for control in ("1 h", "Filters", "Data", "Show data"):
        assert any(re.search(rf"\b{re.escape(control)}\b", name) for name in names), (control, names)
    assert any(stop["testid"] == "stSelectbox" for stop in stops), names  # the Refresh picker
    assert all(stop["outline"] >= 2 for stop in stops if not stop["inSidebar"]), [
        (s["name"], s["testid"], s["outline"]) for s in stops if s["outline"] < 2
    ]
    page.keyboard.press("Shift+Tab")
    backwards = page.evaluate(FOCUSED)
    assert backwards is not None  # focus moves back as well: no keyboard trap


def test_show_data_opens_the_table_a_chart_draws(server, sessions):
    page = sessions("operations")
    open_page(page, server, "operations")
    summary = re.compile(r"^Workflow pipeline \(open workflows per step\), \d+ bars?: highest ")
    assert page.locator("[data-testid='stCaptionContainer']", has_text=summary).count() == 1
    chart = page.locator("[data-testid='stVegaLiteChart'][aria-label^='Workflow pipeline (open workflows per step), ']")
    assert chart.count() == 1  # the summary is the chart's accessible name too
    expander = page.locator("[class*='st-key-show-workflow-pipeline'] [data-testid='stExpander']")
    assert expander.locator("[data-testid='stDataFrame']").count() == 0  # closed: not built
    expander.get_by_text("Show data").click()
    expander.locator("[data-testid='stDataFrame']").wait_for(timeout=30_000)


# Vega's expression functions the unit expressions use; ``format`` stands in for d3-format's '.3~r' (three
# significant digits, trailing zeros trimmed), ',~r' and '.0f', the only specifiers they use.
VEGA_STUB = """([expr, values]) => {
  const {abs, floor, round} = Math;
  const format = (v, spec) => spec === '.0f' ? v.toFixed(0)
    : spec === '.3~r' ? String(Number(v.toPrecision(3))) : v.toLocaleString('en-US');
  const run = new Function('datum', 'abs', 'floor', 'round', 'format', 'return ' + expr);
  return values.map(value => run({value}, abs, floor, round, format));
}"""


@pytest.mark.parametrize(
    ("unit", "values"),
    [
        ("s", [0, 0.25, 1.5, 12.3, 65, 600, 4200, 3725, 90_000, 200_000]),
        ("ms", [250, 1_500, 420_000]),
        ("B", [0, 512, 1_536, 3 * 2**20, 1.5 * 2**30]),
        ("B/s", [1_024, 5 * 2**20]),
        ("count", [5, 999, 12_400, 3.1e6]),
    ],
)
def test_chart_axis_labels_say_what_the_python_wording_says(browser, unit, values):
    """The Vega expression (axis labels, tooltips) and the Python function (cards, summaries) agree."""
    from core.ui import units

    page = browser.new_page()
    try:
        shown = page.evaluate(VEGA_STUB, [units.vega_expr(unit), values])
    finally:
        page.close()
    assert shown == [units.humanise(v, unit) for v in values]
