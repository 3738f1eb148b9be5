"""In-app toasts on every page: each new firing notification once per session,
none replayed on a session's first look."""

from __future__ import annotations

from sqlalchemy.engine import Engine
from streamlit.testing.v1 import AppTest

from core.alerts.deliver import queue
from core.alerts.notify import Message
from core.alerts.notify.inapp import new_toasts
from core.alerts.objects import Channel
from core.config import ROOT
from core.ui.text import md_escape

APP = Channel("app", "inapp", {}, ("warning", "critical"))
ALERT = {"fingerprint": "f1", "rule": "q", "state": "firing", "severity": "warning", "labels": {}, "summary": "s"}


def notify(engine: Engine, notice: str, title: str) -> None:
    queue(engine, APP, Message(notice, "g", title, (ALERT,)), 0)


def test_first_look_only_marks_then_each_new_firing_notice_toasts_once(engine: Engine) -> None:
    notify(engine, "firing", "old news")
    toasts, seen = new_toasts(engine, None)
    assert toasts == [] and seen > 0
    assert new_toasts(engine, seen) == ([], seen)
    notify(engine, "firing", "Queue dor holds 20 items")
    notify(engine, "resolved", "Queue dor holds 20 items")
    toasts, later = new_toasts(engine, seen)
    assert toasts == ["firing: Queue dor holds 20 items"] and later > seen
    assert new_toasts(engine, later) == ([], later)


def test_a_burst_shows_its_newest_few(engine: Engine) -> None:
    _, seen = new_toasts(engine, None)
    for n in range(5):
        notify(engine, "firing", f"alert {n}")
    assert new_toasts(engine, seen)[0] == ["firing: alert 2", "firing: alert 3", "firing: alert 4"]


def test_any_page_toasts_a_new_firing_alert_once(app_store: Engine) -> None:
    at = AppTest.from_file(str(ROOT / "pages/navigation.py"), default_timeout=60)
    at.run()  # the Overview page, the session's first look
    assert not at.exception and not at.toast
    notify(app_store, "firing", "Memory on h at 93 %")
    at.run()
    assert [t.value for t in at.toast] == [md_escape("firing: Memory on h at 93 %")]  # alert text is data
    at.run()
    assert not at.toast, "a toast is shown once per session"
