"""The SLA page under AppTest on a real store: renders, shows the crafted answers,
refuses a bad edit, audits a good one."""

from __future__ import annotations

import json
from dataclasses import replace

import pytest
from streamlit.testing.v1 import AppTest

from core.auth import audit
from core.config import ROOT
from core.ingest import ingest
from core.model import Batch, now_ms
from core.sla import store
from core.ui.text import md_escape
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
    events = (
        step("A", "dor_validation", 50, 10) + step("B", "dor_validation", 40, 20) + step("C", "dor_validation", 30, 5)
    )
    ingest(app_store, Batch(events=tuple(shifted(events, now))), origin="test")
    at = run()
    row = at.dataframe[0].value.iloc[0]
    assert (row["SLA"], row["items"], row["status"]) == ("DoR validation", 3, "missed")
    assert row["within target %"] == pytest.approx(66.67)


def test_bad_edit_is_refused_with_the_reason_and_a_good_one_is_audited(app_store):
    at = run()
    at.selectbox(key="edit").set_value("dor_validation").run()
    at.number_input(key="sla-escalation-dor_validation").set_value(
        10.0
    )  # escalate after 10 min, before the 15-min target
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


def fill_new(at: AppTest, kind: str = "step", **fields: object) -> AppTest:
    at.selectbox(key="sla-new-kind").set_value(kind).run()
    for key, value in fields.items():
        widget = (
            at.text_input(key=f"sla-new-{key}") if isinstance(value, str) else at.number_input(key=f"sla-new-{key}")
        )
        widget.set_value(value) if not isinstance(value, str) else widget.input(value)
    at.button(key="sla-create").click().run()
    assert not at.exception, [e.value for e in at.exception]
    return at


def test_new_sla_is_created_then_deleted_with_an_audit_row_each(app_store):
    at = fill_new(
        run(),
        "step",
        id="security_review",
        name="Security review",
        source="security_review",
        target=60.0,
        objective=99.0,
        escalation=120.0,
        period=14,
    )
    assert not at.error, [e.value for e in at.error]
    created = store.get_definition(app_store, "security_review")
    assert (
        created.kind,
        created.step,
        created.target_s,
        created.escalation_s,
        created.objective,
        created.period_days,
    ) == ("step", "security_review", 3600.0, 7200.0, 0.99, 14)  # minutes on the form, seconds in the store
    assert "Security review" in at.dataframe[0].value["SLA"].tolist()  # the page redraws with it
    assert any(s.value == "Created Security review." for s in at.success)

    at.selectbox(key="sla-delete-id").set_value("security_review").run()
    assert at.button(key="sla-delete").disabled  # not before the box is ticked
    at.checkbox(key="sla-delete-confirm").check().run()
    at.button(key="sla-delete").click().run()
    assert not at.exception, [e.value for e in at.exception]
    assert store.get_definition(app_store, "security_review") is None
    assert "Security review" not in at.dataframe[0].value["SLA"].tolist()
    assert len(store.load_definitions(app_store)) == 11

    logged = audit.entries(app_store, actions=(audit.SLA_CHANGED,))
    assert logged["target"].to_list() == ["security_review", "security_review"]  # newest first: deleted, created
    detail = [json.loads(d) if isinstance(d, str) else d for d in logged["detail"].to_list()]
    assert list(detail[0]) == ["deleted"] and list(detail[1]) == ["created"]
    assert detail[1]["created"]["target_s"] == 3600.0
    assert logged["actor"].to_list() == ["local", "local"]


@pytest.mark.parametrize(
    ("kind", "fields", "named"),
    [
        ("step", {"id": "Bad Id", "name": "x", "source": "s", "target": 5.0}, "id: String should match pattern"),
        ("step", {"id": "no_step", "name": "No step", "target": 5.0}, "a step SLA needs the workflow step name"),
        ("latency", {"id": "lat", "name": "Latency", "source": "api{", "target": 0.5}, "selector: bad selector"),
        ("workflow", {"id": "wf", "name": "Workflow", "target": 60.0, "escalation": 30.0}, "escalation threshold"),
        (
            "workflow",
            {"id": "wf", "name": "Workflow", "target": 60.0, "objective": 100.0},
            "objective: Input should be less than 1",
        ),
        (
            "workflow",
            {"id": "dor_validation", "name": "Again", "target": 60.0},
            "id: an SLA with the id 'dor_validation' already exists",
        ),
    ],
)
def test_a_bad_new_sla_is_refused_naming_the_field_and_nothing_is_written(app_store, kind, fields, named):
    before = store.load_definitions(app_store)
    at = fill_new(run(), kind, **fields)
    errors = [e.value for e in at.error]  # the message quotes what was typed: Markdown-escaped
    assert any(md_escape(named) in e and e.startswith("Not created") for e in errors), errors
    assert store.load_definitions(app_store) == before
    assert audit.entries(app_store, actions=(audit.SLA_CHANGED,)).is_empty()


@pytest.mark.parametrize("role", ["executive"])
def test_roles_without_edit_slas_get_no_new_or_delete_controls(app_store, role):
    at = AppTest.from_file(str(ROOT / "pages" / "sla.py"), default_timeout=120)
    at.session_state["role"] = role
    at.run()
    assert not at.exception
    keys = {w.key for w in [*at.button, *at.text_input, *at.checkbox, *at.selectbox]}
    assert not keys & {"sla-create", "sla-delete", "sla-new-id", "sla-delete-confirm", "sla-delete-id", "edit"}


def test_breaches_of_the_whole_range_are_paged_and_match_the_compliance(app_store):
    now = now_ms()
    events = []
    for n in range(60):  # 60 DoR validations of 20 min (target 15 min) over the last 20 hours, 5 of 10 min
        events += step(f"LATE-{n}", "dor_validation", 40 + n * 20, 20)
    for n in range(5):
        events += step(f"FINE-{n}", "dor_validation", 30 + n * 20, 10)
    ingest(app_store, Batch(events=tuple(shifted(events, now))), origin="test")
    at = run()
    dor = at.dataframe[0].value.iloc[0]
    assert (dor["SLA"], dor["items"], dor["within target %"]) == ("DoR validation", 65, pytest.approx(7.69))
    assert next(m for m in at.metric if m.label == "Breaches").value == "60"  # = 65 items - 5 within target

    def breaches():
        return next(d.value for d in at.dataframe if "crossed" in d.value.columns)

    assert len(breaches()) == 50 and set(breaches()["SLA"]) == {"DoR validation"}
    assert any(c.value.startswith("Rows 1–50 of 60, page 1 of 2.") for c in at.caption)
    at.number_input(key="sla-breach-page").set_value(2).run()
    assert len(breaches()) == 10
    assert any(c.value.startswith("Rows 51–60 of 60, page 2 of 2.") for c in at.caption)
    assert breaches()["workflow / series"].to_list()[-1] == "LATE-59"  # newest first: the oldest is last

    compared = next(d.value for d in at.dataframe if "items before" in d.value.columns).iloc[0]
    assert (compared["SLA"], compared["items"], compared["breaches"], compared["items before"]) == (
        "DoR validation",
        65,
        60,
        0,
    )
