"""The QA page's Test results section under AppTest on a real store seeded with crafted JUnit runs."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator

import pytest
from streamlit.testing.v1 import AppTest

from core.alerts import tickets
from core.auth import audit
from core.auth.access import ROLE_PERMISSIONS
from core.config import ROOT, get_settings
from core.model import now_ms
from tests import junit_history
from tests.junit_history import CLASSNAME, HISTORY
from tests.ticket_receiver import SECRET, Receiver, ticket_receiver

FAILING_NOW = sorted(name for name, outcomes in HISTORY.items() if outcomes[-1] in "FE")


@pytest.fixture
def seeded(app_store):
    """The page's store holding eight hourly runs of the crafted history, the newest an hour ago."""
    junit_history.store_history(app_store, now_ms() - 9 * junit_history.HOUR)
    return app_store


@pytest.fixture
def receiver(monkeypatch) -> Iterator[Receiver]:
    """A ticket tracker the page's settings point at."""
    with ticket_receiver() as found:
        monkeypatch.setenv("PULSEBOARD_TICKET_WEBHOOK_URL", found.url)
        get_settings.cache_clear()
        yield found
    get_settings.cache_clear()


def run_qa(role: str = "qa_lead") -> AppTest:
    at = AppTest.from_file(str(ROOT / "pages" / "qa.py"), default_timeout=120)
    at.session_state["role"] = role  # login is off in tests: the local session's role
    at.run()
    assert not at.exception, [e.value for e in at.exception]
    return at


def plain(markdown: str) -> str:
    """Markdown text with its backslash escapes removed: what the reader sees."""
    return re.sub(r"\\(.)", r"\1", markdown)


def failing_table(at: AppTest):
    return next(frame.value for frame in at.dataframe if "streak_runs" in frame.value.columns)


def ticket_buttons(at: AppTest) -> list:
    return [button for button in at.button if button.label == "Open an issue"]


def test_failing_list_with_trace_and_rerun_command(seeded):
    at = run_qa()
    table = failing_table(at)
    assert sorted(table["name"]) == FAILING_NOW
    assert set(table["suite"]) == {"shop"}
    labels = [expander.label for expander in at.expander]
    assert f"shop · {CLASSNAME}.test_erroring — ConnectionError: db down" in labels
    codes = [code.value for code in at.code]
    assert "Traceback: db down" in codes and "trace line 1\ntrace line 2" in codes
    command = next(code for code in codes if code.startswith("pytest "))
    assert sorted(command.removeprefix("pytest ").split(" ")) == sorted(
        f"'tests/test_shop.py::TestCart::{name}'" for name in FAILING_NOW
    )
    tabs = [tab.label for tab in at.tabs]
    assert "Failing (5)" in tabs and "Flaky (3)" in tabs and "Slow (1 regressed)" in tabs
    assert not at.error


def test_empty_store_says_how_to_send_test_results(app_store):
    at = run_qa()
    assert any("No test cases stored in this range" in info.value for info in at.info)


def test_open_an_issue_posts_and_reports_success(seeded, receiver):
    at = run_qa()
    buttons = ticket_buttons(at)
    assert len(buttons) == len(FAILING_NOW)
    buttons[0].click().run()
    assert not at.exception
    assert [plain(s.value) for s in at.success if "Issue opened" in s.value] == [
        "Issue opened (HTTP 201): https://tracker.example/issues/42"
    ]
    [(_, _, body)] = receiver.received
    assert json.loads(body)["title"].startswith(f"Failing test: {CLASSNAME}.")
    assert audit.entries(seeded, actions=(tickets.TICKET_OPENED,)).height == 1


def test_a_failing_tracker_is_shown_as_an_error_not_a_traceback(seeded, receiver):
    receiver.status, receiver.answer = 500, b"boom"
    at = run_qa()
    ticket_buttons(at)[0].click().run()
    assert not at.exception
    [error] = [plain(e.value) for e in at.error]
    assert error == "Could not open an issue: the ticket webhook answered HTTP 500: boom; no issue was opened"
    assert SECRET not in error
    assert audit.entries(seeded, actions=(tickets.TICKET_FAILED,)).height == 1


def test_no_open_an_issue_without_the_permission(seeded, receiver, monkeypatch):
    assert ticket_buttons(run_qa("admin"))  # admin holds open_tickets
    monkeypatch.setitem(ROLE_PERMISSIONS, "qa_lead", ROLE_PERMISSIONS["qa_lead"] - {"open_tickets"})
    at = run_qa("qa_lead")
    assert sorted(failing_table(at)["name"]) == FAILING_NOW  # the list is still there
    assert ticket_buttons(at) == []


def test_no_open_an_issue_without_a_webhook(seeded):
    at = run_qa("admin")
    assert sorted(failing_table(at)["name"]) == FAILING_NOW
    assert ticket_buttons(at) == []


def test_the_page_never_shows_the_webhook_url(seeded, receiver):
    at = run_qa("admin")
    shown = " ".join(
        str(element.value) for kind in ("markdown", "caption", "code", "info", "error") for element in at.get(kind)
    )
    assert SECRET not in shown and "127.0.0.1" not in shown
