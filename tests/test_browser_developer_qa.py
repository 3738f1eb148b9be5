"""Developer and QA pages in Debian's Chromium against a real server holding demo data.

Each page loads, its main charts draw (a Vega canvas or svg, no error box), and
switching the time range redraws them with the new range's numbers. With
PULSEBOARD_SCREENSHOT_DIR set, the desktop and phone views are saved there
(docs/screenshots/ holds the committed ones).
"""

from __future__ import annotations

import math
import os
import re
import time
from pathlib import Path

import pytest

from collectors.demo import DemoCollector, DemoWorkload
from core.ingest import ingest
from core.model import Batch, Event, Sample, now_ms
from core.store.engine import make_engine
from core.store.migrate import upgrade
from core.store.rollup import run_rollup
from tests.live import live_server

pytestmark = pytest.mark.browser
DAY = 86_400_000
PAGES = {"developer": "Developer", "qa": "Quality (QA)"}
CHARTS = {
    "developer": (5, 6),
    "qa": (6, 6),
}  # charts drawn at the page's default range (24 h / 7 d), and after widening it
WIDER = {"developer": "7 d", "qa": "30 d"}
# a chart that covers the picked range (Developer's first, the step panel, always shows the last 4 h)
FOLLOWS_RANGE = {"developer": 1, "qa": 0}


def exporter_samples(now: int, days: int) -> list[Sample]:
    """What the database collector records on a busy Postgres, which the demo does not simulate: query time, pool
    use, sessions waiting on locks."""
    out = []
    for ts in range(now - days * DAY, now, 5 * 60_000):
        day = math.sin(2 * math.pi * (ts % DAY) / DAY)
        labels = {"database": "orders", "driver": "postgresql"}
        out += [
            Sample.of("db_query_duration_seconds", labels, 0.012 + 0.006 * day, ts),
            Sample.of("db_connection_pool_used_percent", labels, 55 + 25 * day, ts),
            Sample.of("db_lock_waiting_sessions", labels, round(3 * max(day, 0)), ts),
        ]
    return out


def host_samples(now: int, days: int) -> list[Sample]:
    """What the system collector records on one host (CPU, memory, disk, network): these stores are built with the
    collectors off, so without them Operations' resource panels would hold only the minutes the server ran."""
    out = []
    host = {"host": "app-1"}
    for ts in range(now - days * DAY, now, 5 * 60_000):
        day = math.sin(2 * math.pi * (ts % DAY) / DAY)
        out += [
            Sample.of("system_cpu_percent", host, 35 + 20 * day + 5 * math.sin(ts / 3_600_000), ts),
            Sample.of("system_memory_used_percent", host, 62 + 6 * day, ts),
            Sample.of(
                "system_filesystem_used_percent",
                {**host, "device": "/dev/sda1", "fstype": "ext4", "mount": "/"},
                70 + 5 * (ts - now + days * DAY) / (days * DAY),
                ts,
            ),
            Sample.of(
                "system_network_receive_bytes_per_second", {**host, "interface": "eth0"}, 2.5e5 + 1.5e5 * day, ts
            ),
        ]
    return out


def coverage_reports(now: int, days: int) -> list[Event]:
    """Coverage gate runs carrying metrics.coverage_percentage (the demo's gates report a score, not coverage)."""
    repos = ("org/payments-api", "org/web-portal", "org/data-pipeline", "org/mobile-app", "org/platform-infra")
    return [
        Event(
            f"cov-{n}-{r}",
            "workflow.quality_gate_executed",
            now - n * 6 * 3_600_000,
            "ci",
            {
                "workflow_id": f"WF-COV-{n}-{r}",
                "gate_name": "coverage-report",
                "repository": repo,
                "passed": True,
                "metrics": {"coverage_percentage": 68 + 4 * r + (n % 5), "execution_time": 40},
            },
        )
        for n in range(days * 4)
        for r, repo in enumerate(repos)
    ]


def recent_incidents(now: int) -> list[Event]:
    """Errors of several types and two deployments in the last day, so the error timeline and the deployment
    impact table have something whatever hour the demo's own (rarer, daily) incidents and deployments fell on."""
    kinds = [
        ("timeout", "review-api", "error"),
        ("validation", "dor-validator", "warning"),
        ("db_lock", "orders-db", "critical"),
        ("upstream_5xx", "payments-api", "error"),
    ]
    errors = [
        Event(
            f"err-{n}",
            "system.error_occurred",
            now - (n * 97 + 20) * 60_000,
            "ci",
            {
                "error_type": kind,
                "component": component,
                "severity": severity,
                "message": f"{kind} in {component} (#{n})",
            },
        )
        for n, (kind, component, severity) in enumerate(kinds * 3)
    ]
    deployments = [
        Event(
            f"dep-{n}",
            "system.deployment",
            now - hours * 3_600_000,
            "ci",
            {"component": component, "version": version, "commit": f"{n:07x}abc"},
        )
        for n, (hours, component, version) in enumerate([(5, "review-api", "2.14.1"), (17, "payments-api", "1.9.0")])
    ]
    return errors + deployments


def exporter_batch(now: int, days: int) -> Batch:
    """Everything this module adds to the demo: database exporter and host samples,
    coverage reports, recent errors and deployments."""
    return Batch(
        (*exporter_samples(now, days), *host_samples(now, days)), (*coverage_reports(now, days), *recent_incidents(now))
    )


def seed_demo(path: Path, days: int = 8) -> None:
    """The demo workload's last ``days`` days (events, samples, JUnit runs) and :func:`exporter_batch`,
    rolled up, in the server's store."""
    engine = make_engine(f"sqlite:///{path}")
    upgrade(engine)
    now = now_ms()
    collector = DemoCollector(engine, None, clock=lambda: now)
    collector.workload = DemoWorkload(7, now)
    collector.generate(now - days * DAY, now, 5 * 60_000)
    ingest(engine, exporter_batch(now, days), origin="test")
    run_rollup(engine, now)
    engine.dispose()


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("devqa")
    seed_demo(tmp / "pulseboard.db")
    env = {"PULSEBOARD_COLLECTORS": "false", "PULSEBOARD_AUTH": "off"}
    with live_server(tmp, env=env) as running:
        yield running


def open_page(browser, server, slug: str, width: int, height: int):
    """Open the app at its root and follow the menu to ``slug``, as a user does
    (the menu lives in pages/navigation.py)."""
    context = browser.new_context(viewport={"width": max(width, 1024), "height": height})
    page = context.new_page()
    page.goto(server.url + "/")
    page.get_by_role("heading", name="Overview").first.wait_for(
        timeout=60_000
    )  # the menu is st.navigation's from here on
    more = page.get_by_test_id("stSidebarNav").get_by_text(re.compile(r"^View \d+ more$"))
    if more.count():
        more.click()
    page.locator(f"[data-testid='stSidebarNav'] a[href$='/{slug}']").click()
    page.wait_for_url(f"**/{slug}*", timeout=30_000)
    page.set_viewport_size({"width": width, "height": height})
    return context, page


def wait_for_charts(page, title: str, minimum: int) -> None:
    page.get_by_role("heading", name=title).first.wait_for(timeout=60_000)
    drawn_charts = '[data-testid="stVegaLiteChart"] canvas, [data-testid="stVegaLiteChart"] svg'
    page.wait_for_function(
        f"n => document.querySelectorAll('{drawn_charts}').length >= n",
        arg=minimum,
        timeout=90_000,
    )
    page.wait_for_function(
        "() => document.querySelectorAll('[data-testid=\"stMetricValue\"]').length >= 3", timeout=60_000
    )
    page.wait_for_load_state("networkidle")
    assert page.locator("[data-testid='stException']").count() == 0
    assert page.locator("[data-testid='stAlertContentError']").count() == 0


def pick_range(page, label: str) -> None:
    """Click a button of the time-range picker (the main area's first segmented control: the sidebar has its own)."""
    main = page.get_by_test_id("stMain")
    main.get_by_test_id("stButtonGroup").first.locator("button", has_text=re.compile(f"^{label}$")).click(
        timeout=30_000
    )


def metric_values(page) -> list[str]:
    return page.locator("[data-testid='stMetricValue']").all_inner_texts()


@pytest.mark.parametrize("slug", list(PAGES))
def test_page_draws_its_charts_and_follows_the_time_range(server, browser, slug):
    context, page = open_page(browser, server, slug, 1400, 1000)
    try:
        wait_for_charts(page, PAGES[slug], CHARTS[slug][0])
        assert any(v not in ("—", "0") for v in metric_values(page))
        chart = page.get_by_test_id("stVegaLiteChart").nth(FOLLOWS_RANGE[slug])
        before = chart.screenshot()
        pick_range(page, WIDER[slug])
        page.wait_for_url(re.compile(r"range=" + WIDER[slug].replace(" ", r"(\+|%20)")), timeout=30_000)
        wait_for_charts(page, PAGES[slug], CHARTS[slug][1])
        deadline = time.monotonic() + 60
        while chart.screenshot() == before and time.monotonic() < deadline:
            time.sleep(0.5)
        assert chart.screenshot() != before, f"{slug}: the chart over the range did not redraw for {WIDER[slug]}"
    finally:
        context.close()


@pytest.mark.parametrize("slug", list(PAGES))
@pytest.mark.parametrize("width", [1920, 1024, 375])
def test_page_is_readable_at_every_width(server, browser, slug, width):
    context, page = open_page(browser, server, slug, width, 1080 if width > 400 else 812)
    try:
        pick_range(page, WIDER[slug])
        wait_for_charts(page, PAGES[slug], CHARTS[slug][1])
        main = "document.querySelector('[data-testid=\"stMain\"]')"
        overflow = page.evaluate(f"() => {main}.scrollWidth - {main}.clientWidth")
        assert overflow <= 1, f"{slug} scrolls sideways by {overflow} px at {width} px"
        target = os.environ.get("PULSEBOARD_SCREENSHOT_DIR")
        if target and width in (1920, 375):
            # the main pane scrolls inside the window, so grow the window to the content for a whole-page picture
            for _ in range(2):  # charts below the fold draw once visible and may grow the page
                page.set_viewport_size(
                    {"width": width, "height": min(page.evaluate(f"() => {main}.scrollHeight") + 40, 12_000)}
                )
                page.wait_for_timeout(2500)
            name = f"{slug}{'-mobile' if width == 375 else ''}.png"
            page.screenshot(path=str(Path(target) / name))
    finally:
        context.close()


def test_clicking_a_gate_opens_its_detail(server, browser):
    context, page = open_page(browser, server, "qa", 1400, 1000)
    try:
        wait_for_charts(page, PAGES["qa"], CHARTS["qa"][0])
        chart = page.get_by_test_id("stVegaLiteChart").first  # failure rate per gate, worst first
        box = chart.bounding_box()
        assert box is not None
        page.mouse.click(
            box["x"] + box["width"] * 0.45, box["y"] + 32
        )  # the top bar, under the threshold labels above the plot
        page.get_by_text("execution time percentiles").wait_for(timeout=30_000)
        assert page.locator("[data-testid='stException']").count() == 0
    finally:
        context.close()


def test_qa_test_results_show_a_suite_failures_trace_rerun_command_and_trend(server, browser):
    """The demo's CI suite picked through ?test_suite=: a newly failing test's trace opens, its re-run command is
    offered with a copy button, and the pass-rate tab draws its chart."""
    context = browser.new_context(viewport={"width": 1400, "height": 1000})
    page = context.new_page()
    try:
        page.goto(server.url + "/qa?test_suite=qms-api%20(pytest)")
        page.get_by_role("heading", name="Test results").wait_for(timeout=90_000)
        failure = page.get_by_text(re.compile(r"test_routes_to_senior_reviewer — AssertionError")).first
        failure.wait_for(timeout=60_000)
        failure.click()
        page.get_by_text('assert route(workflow).reviewer_level == "senior"').first.wait_for(timeout=30_000)
        command = page.locator("[data-testid='stCode']", has_text="pytest ").first
        assert "tests/engine/test_decisions.py::TestRouting::test_routes_to_senior_reviewer" in command.inner_text()
        command.hover()
        assert command.locator("button").count() >= 1  # Streamlit's copy button
        charts = '[data-testid="stVegaLiteChart"] canvas, [data-testid="stVegaLiteChart"] svg'
        before = page.locator(charts).count()
        page.get_by_role("tab", name="Pass-rate trend").click()
        page.wait_for_function(f"n => document.querySelectorAll('{charts}').length > n", arg=before, timeout=60_000)
        assert page.get_by_text("Pass % per run, each suite (newest runs)").first.is_visible()
        assert page.locator("[data-testid='stException']").count() == 0
    finally:
        context.close()
