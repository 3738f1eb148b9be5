"""Quality gate thresholds in Debian's Chromium: a QA lead changes them on the QA page, a developer only reads them."""

from __future__ import annotations

import pytest

from core.auth import users
from core.ingest import ingest
from core.kpis import gate_thresholds as gt
from core.model import Batch, Event, now_ms
from core.store.engine import make_engine
from tests.live import live_server
from tests.test_browser import PASSWORD, log_in, no_error_box, submit_until

pytestmark = pytest.mark.browser


def prepare(engine):
    users.create_user(engine, "quinn", PASSWORD, ["qa_lead"], must_change_password=False)
    users.create_user(engine, "dev", PASSWORD, ["developer"], must_change_password=False)
    now = now_ms()
    events = [
        Event(
            f"g{n}",
            "workflow.quality_gate_passed",
            now - (n + 1) * 60_000,
            "t",
            {
                "workflow_id": f"WF-{n}",
                "gate_name": "code-coverage-gate",
                "repository": "org/a",
                "attempt": 1,
                "metrics": {"coverage_percentage": 75.0 + n},
            },
        )
        for n in range(3)
    ]
    ingest(engine, Batch(events=tuple(events)), origin="test")


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("gates")
    with live_server(tmp, env={"PULSEBOARD_COLLECTORS": "false"}, prepare=prepare) as running:
        running.store_path = tmp / "pulseboard.db"  # type: ignore[attr-defined]
        yield running


@pytest.fixture
def page(browser):
    context = browser.new_context(viewport={"width": 1400, "height": 1000})
    yield context.new_page()
    context.close()


def test_qa_lead_is_told_the_bad_field_then_saves_a_version(server, page):
    # straight to the page: a second goto right after logging in can beat the session cookie's write and land on
    # the login form again (seen in loaded runs)
    log_in(page, server.url, "quinn", PASSWORD, expect="Quality", path="/qa?refresh=Off")
    page.get_by_role("heading", name="Quality gate thresholds").wait_for(
        timeout=180_000
    )  # the last section: the whole page draws first
    coverage = page.get_by_role("textbox", name="coverage (min)")

    def bad() -> None:
        coverage.fill("120")

    submit_until(page, bad, "Save thresholds", page.get_by_text("coverage_min: coverage must be 0–100"))
    store = make_engine(f"sqlite:///{server.store_path}")
    assert gt.history(store).is_empty()

    def good() -> None:
        coverage.fill("70")
        page.get_by_role("textbox", name="Why (kept in the history)").fill("legacy repos")

    submit_until(page, good, "Save thresholds", page.get_by_text("Saved * as version 1."))
    no_error_box(page)
    saved = gt.current_thresholds(store)["*"]
    assert (saved.coverage_min, saved.changed_by, saved.note, saved.version) == (70.0, "quinn", "legacy repos", 1)
    store.dispose()


def test_developer_sees_the_thresholds_without_a_form(server, page):
    log_in(page, server.url, "dev", PASSWORD, expect="Developer", path="/developer?refresh=Off")
    page.get_by_role("heading", name="Quality gate thresholds").wait_for(
        timeout=180_000
    )  # the last section: the whole page draws first
    page.get_by_text("you can look but not change").wait_for()
    assert page.get_by_role("button", name="Save thresholds").count() == 0
    no_error_box(page)
