"""The SLA page under AppTest on a real store: renders, shows the crafted answers, refuses a bad edit, audits a good one."""

from __future__ import annotations

from dataclasses import replace

import pytest
from streamlit.testing.v1 import AppTest

from core import audit
from core.config import ROOT
from core.ingest import ingest
from core.model import Batch, now_ms
from core.sla import store
from tests.sla_history import NOW, step


@pytest.fixture
def app_store(app_store):
    """The test's store (conftest) holding the default SLA definitions."""
    store.seed_defaults(app_store)
    return app_store


def shifted(events, now):
    return [replace(e, ts=e.ts - NOW + now) for e in events]


def run() -> AppTest:
    at = AppTest.from_file(str(ROOT / "pages" / "sla.py"), default_timeout=120)
    at.run()
    assert not at.exception, [e.value for e in at.exception]
    return at


def test_page_on_empty_store_says_what_to_send(app_store):
    at = run()
    assert at.title[0].value == "SLAs & error budgets"
    summary = at.dataframe[0].value
    assert len(summary) == 11 and set(summary["status"]) == {"no data"}


def test_page_shows_compliance_of_a_crafted_history(app_store):
    now = now_ms()
    events = step("A", "dor_validation", 50, 10) + step("B", "dor_validation", 40, 20) + step("C", "dor_validation", 30, 5)
    ingest(app_store, Batch(events=tuple(shifted(events, now))), origin="test")
    at = run()
    row = at.dataframe[0].value.iloc[0]
    assert (row["SLA"], row["items"], row["status"]) == ("DoR validation", 3, "missed")
    assert row["within target %"] == pytest.approx(66.67)


def test_bad_edit_is_refused_with_the_reason_and_a_good_one_is_audited(app_store):
    at = run()
    at.selectbox(key="edit").set_value("dor_validation").run()
    at.number_input(key="sla-escalation-dor_validation").set_value(10.0)  # escalate after 10 min, before the 15-min target
    at.button(key="sla-save").click().run()
    assert any("must be longer than the target" in e.value for e in at.error)
    assert store.get_definition(app_store, "dor_validation").escalation_s == 1200
    at.number_input(key="sla-escalation-dor_validation").set_value(25.0)
    at.button(key="sla-save").click().run()
    assert store.get_definition(app_store, "dor_validation").escalation_s == 1500
    logged = audit.entries(app_store, actions=(audit.SLA_CHANGED,))
    assert logged["target"].to_list() == ["dor_validation"]


def test_switching_the_sla_to_edit_shows_that_slas_own_escalation(app_store):
    at = run()
    shown = {}
    for sla_id in ("dor_validation", "dod_validation", "progress_reviews", "dor_validation"):
        at.selectbox(key="edit").set_value(sla_id).run()
        shown[sla_id] = at.number_input(key=f"sla-escalation-{sla_id}").value
    assert shown == {"dor_validation": 20.0, "dod_validation": 15.0, "progress_reviews": 240.0}  # minutes, as stored
