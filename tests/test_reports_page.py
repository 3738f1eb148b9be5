"""The Reports page (issue 19): generate a report off the page thread, see it finish, download and preview it, and
find it in the history with who asked; a broken schedule file is named on the page; placeholder gone."""

from __future__ import annotations

import threading
import time

import pytest
from streamlit.testing.v1 import AppTest

from core.auth.catalogue import PAGES
from core.config import ROOT
from core.reports import history
from core.reports.schedule import DEFAULT_FILE


def run(role: str) -> AppTest:
    at = AppTest.from_file(str(ROOT / "pages" / "reports.py"), default_timeout=120)
    at.session_state["role"] = role  # login off in page tests: the local viewer takes this role
    at.run()
    assert not at.exception, [e.value for e in at.exception]
    return at


def wait_for_reports() -> None:
    deadline = time.monotonic() + 120
    while any(t.name.startswith("report-") for t in threading.enumerate()) and time.monotonic() < deadline:
        time.sleep(0.1)


def test_the_reports_page_is_built():
    (spec,) = [p for p in PAGES if p.slug == "reports"]
    assert spec.script == "pages/reports.py" and (ROOT / spec.script).is_file()


@pytest.mark.parametrize("role", ["executive", "operations"])
def test_generate_preview_download_and_history(app_store, role):
    at = run(role)
    assert any("No report generated yet" in i.value for i in at.info)
    at.selectbox(key="report_kind").set_value("technical")
    at.segmented_control(key="report_format").set_value("html")
    at.button[0].click().run()  # "Generate report": starts the background thread and returns at once
    assert not at.exception, [e.value for e in at.exception]
    wait_for_reports()
    at.run()
    assert any("Technical report ready" in s.value for s in at.success)
    labels = [d.label for d in at.get("download_button")]
    assert any(label.startswith("Download technical-") and label.endswith(".html") for label in labels)
    frame = history.history(app_store)
    assert frame.height == 1 and frame["by"][0] == "local" and frame["status"][0] == "done"
    assert frame["kind"][0] == "technical"


def test_a_broken_schedule_file_is_named_on_the_page(app_store, monkeypatch, tmp_path):
    broken = tmp_path / "report_schedules.yaml"
    broken.write_text("schedules:\n- {name: a, report: sla, every: hourly, deliver: [{folder: x}]}\n")
    monkeypatch.setattr("core.reports.schedule.DEFAULT_FILE", broken)
    at = AppTest.from_file(str(ROOT / "pages" / "reports.py"), default_timeout=120)
    at.session_state["role"] = "admin"
    at.run()
    assert not at.exception
    assert any("schedule 'a'" in e.value and "every" in e.value for e in at.error), [e.value for e in at.error]
    assert DEFAULT_FILE.name == "report_schedules.yaml"
