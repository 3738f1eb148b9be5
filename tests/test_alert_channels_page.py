"""The channel editor on the Alerts page under AppTest: test notifications to a real receiver, refusals, masking."""

from __future__ import annotations

import json

import pytest
from streamlit.testing.v1 import AppTest

from core.alerts import objects
from core.auth.access import SYSTEM
from core.config import ROOT
from tests.test_alert_oncall_channels import KEY_SETTING, receiver


@pytest.fixture
def page_store(app_store, monkeypatch):
    monkeypatch.setenv(KEY_SETTING, "R0UT1NGKEY")
    for channel in objects.channels(app_store):
        objects.delete_channel(app_store, channel.name, SYSTEM)
    return app_store


def alerts_page(role: str = "operations") -> AppTest:
    at = AppTest.from_file(str(ROOT / "pages" / "alerts.py"), default_timeout=60)
    at.session_state["role"] = role  # login off in page tests: the local viewer takes this role
    at.run()
    assert not at.exception, [e.value for e in at.exception]
    return at


def fill(at: AppTest, kind: str, config: dict[str, object], name: str = "pager") -> None:
    at.selectbox(key="channel-kind-(new channel)").set_value(kind).run()
    next(t for t in at.text_input if t.label == "Name").set_value(name)
    next(t for t in at.text_area if t.label == "Config (JSON)").set_value(json.dumps(config))


def submit(at: AppTest, label: str) -> AppTest:
    next(b for b in at.get("form_submit_button") if b.label == label).click().run()
    assert not at.exception, [e.value for e in at.exception]
    return at


def plain(elements) -> str:
    return " ".join(str(e.value).replace("\\", "") for e in elements)


def test_send_test_from_the_editor_reports_delivery_and_the_exact_error(page_store):
    with receiver() as hook:
        at = alerts_page()
        fill(at, "pagerduty", {"routing_key_setting": KEY_SETTING, "events_url": hook.url})
        submit(at, "Send test notification")
        assert "Test notification delivered." in plain(at.success)
        assert not at.get("help")  # the outcome is drawn once, not echoed by Streamlit's magic as st.help
        assert [r.json()["event_action"] for r in hook.requests] == ["trigger", "resolve"]
        hook.statuses = [400]
        submit(at, "Send test notification")
    assert f"Test failed: PermanentDeliveryError: HTTP 400 from {hook.url}" in plain(at.error)
    assert objects.channels(page_store) == []  # testing does not save


def test_the_editor_refuses_a_plain_secret_naming_the_field_and_masks_saved_ones(page_store):
    at = alerts_page()
    fill(at, "pagerduty", {"routing_key": "R0UT1NGKEY"})
    submit(at, "Save channel")
    assert "routing_key: secrets are not stored in a channel" in plain(at.error)
    assert objects.channels(page_store) == []
    fill(at, "pagerduty", {"routing_key_setting": KEY_SETTING})
    submit(at, "Save channel")
    assert [c.name for c in objects.channels(page_store)] == ["pager"]
    at = alerts_page()
    shown = plain([*at.caption, *at.markdown])
    assert f"{KEY_SETTING} (•••• set)" in shown
    assert "R0UT1NGKEY" not in shown + plain(at.text_area)


def test_roles_without_edit_rules_get_no_editor(page_store):
    at = alerts_page("qa_lead")
    assert "Send test notification" not in {b.label for b in at.get("form_submit_button")}
