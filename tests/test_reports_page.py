"""The Reports page (issue 19): generate a report off the page thread, see it finish, download and preview it, and
find it in the history with who asked; a broken schedule file is named on the page; placeholder gone."""

from __future__ import annotations

import threading
import time

import pytest
from streamlit.testing.v1 import AppTest

from core.auth.catalogue import PAGES
from core.config import ROOT, get_settings
from core.reports import history
from core.reports.schedule import load


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


def schedule_file(monkeypatch, tmp_path, text: str | None = None):
    """A schedule file of the test's own, named by the report_schedules_file setting the page reads."""
    path = tmp_path / "schedules.yaml"
    if text is not None:
        path.write_text(text)
    monkeypatch.setenv("PULSEBOARD_REPORT_SCHEDULES_FILE", str(path))
    get_settings.cache_clear()
    return path


def test_a_broken_schedule_file_is_named_on_the_page(app_store, monkeypatch, tmp_path):
    schedule_file(
        monkeypatch, tmp_path, "schedules:\n- {name: a, report: sla, every: hourly, deliver: [{folder: x}]}\n"
    )
    at = run("admin")
    assert any("schedule 'a'" in e.value and "every" in e.value for e in at.error), [e.value for e in at.error]


GOOD = (
    "schedules:\n"
    "- {name: weekly-sla, report: sla, every: weekly, weekday: monday, at: '07:00', deliver: [{folder: out}]}\n"
)


def test_editing_schedules_saves_a_valid_file_and_refuses_an_invalid_one_whole(app_store, monkeypatch, tmp_path):
    path = schedule_file(monkeypatch, tmp_path)
    assert get_settings().report_schedules_file == path
    at = run("admin")
    assert any("No schedule" in i.value and "schedules.yaml" in i.value for i in at.info)
    at.text_area(key="schedule_text").set_value(GOOD)
    at.button(key="schedule_save").click().run()
    assert not at.exception and not at.error, [e.value for e in at.error]
    assert any("Saved" in s.value for s in at.success)
    assert path.read_text() == GOOD and [s.name for s in load(path)] == ["weekly-sla"]
    at.run()  # the next run lists what was saved
    assert any("weekly-sla" in m.value for m in at.markdown)

    bad = GOOD.replace("every: weekly", "every: fortnightly").replace("weekly-sla", "bad-one")
    at.text_area(key="schedule_text").set_value(bad)
    at.button(key="schedule_save").click().run()
    assert not at.exception
    (error,) = [e.value for e in at.error]
    assert "Not saved" in error and "schedule 'bad-one'" in error and "every" in error
    assert not at.success
    assert path.read_text() == GOOD  # the saved file is untouched, nothing half-written beside it
    assert sorted(p.name for p in tmp_path.iterdir() if p.name.startswith("schedules")) == ["schedules.yaml"]


def test_only_admins_may_edit_schedules(app_store, monkeypatch, tmp_path):
    schedule_file(monkeypatch, tmp_path, GOOD)
    at = run("operations")
    assert not [t for t in at.text_area if t.key == "schedule_text"]
    assert any("weekly-sla" in m.value for m in at.markdown)
