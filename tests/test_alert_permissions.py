"""Who may change alerting (issue 8): core refuses, the Alerts page offers only what the role may do,
all audited with the address."""

from __future__ import annotations

import json

import pytest
import sqlalchemy as sa
from sqlalchemy.engine import Engine
from streamlit.testing.v1 import AppTest

from core.alerts import deliver, objects, store
from core.alerts.evaluate import alert_labels, fingerprint
from core.alerts.permissions import AlertPermissionError
from core.alerts.rules import load_yaml, parse_rule
from core.alerts.silences import MuteTiming
from core.auth import audit, users
from core.auth.access import SYSTEM, Viewer, is_quality_alert, may_handle_alert
from core.config import ROOT, load_settings
from core.model import now_ms
from core.store import schema

DEFAULT_RULES = {rule.name: rule for rule in load_yaml((ROOT / "alert_rules.yaml").read_text())}
ADDRESS = "198.51.100.7"
PASSWORD = "correct horse battery"
RULE = parse_rule({"name": "perm_probe", "selector": "up", "op": "<", "threshold": 1, "severity": "warning"})
TIMING = MuteTiming.model_validate(
    {"name": "nightly", "matchers": '{component="host"}', "intervals": [{"times": [["02:00", "03:00"]]}]}
)


def who(role: str) -> Viewer:
    return Viewer.of(f"u-{role}", [role])


def fire(engine: Engine, rule_name: str, series_labels: dict[str, str]) -> str:
    """A firing alert of one of the default rules, labelled exactly as evaluation labels it."""
    rule = DEFAULT_RULES[rule_name]
    labels = alert_labels(rule, series_labels)
    key = fingerprint(rule.name, labels)
    now = now_ms()
    with engine.begin() as connection:
        connection.execute(
            schema.alerts.insert().values(
                fingerprint=key,
                rule=rule.name,
                labels=json.dumps(dict(labels)),
                severity=rule.severity,
                state="firing",
                active_since=now - 60_000,
                fired_at=now - 30_000,
                last_eval_ms=now,
                summary=f"{rule.name} fires",
            )
        )
    return key


def acked_by(engine: Engine, key: str) -> str | None:
    with engine.connect() as connection:
        return connection.scalar(sa.select(schema.alerts.c.acknowledged_by).where(schema.alerts.c.fingerprint == key))


def count(engine: Engine, table: sa.Table) -> int:
    with engine.connect() as connection:
        return int(connection.scalar(sa.select(sa.func.count()).select_from(table)) or 0)


def test_quality_alerts_are_the_rules_labelled_component_quality():
    quality = {name for name, rule in DEFAULT_RULES.items() if is_quality_alert(dict(alert_labels(rule, {})))}
    assert quality == {
        "quality_score_drop",
        "critical_defect_detected",
        "compliance_drop",
        "qse_compliance_degraded",
        "qse_phase_overrun",
        "qse_gate_failed",
    }
    assert not is_quality_alert({"category": "quality"})  # no rule carries that label


@pytest.mark.parametrize(
    ("role", "workflow", "quality"),
    [
        ("operations", True, True),
        ("admin", True, True),
        ("qa_lead", False, True),
        ("executive", False, False),
        ("developer", False, False),
    ],
)
def test_who_may_handle_which_alert(role, workflow, quality):
    assert may_handle_alert(who(role), {"component": "workflow"}) is workflow
    assert may_handle_alert(who(role), {"component": "quality"}) is quality


def test_qa_lead_acknowledges_and_resolves_quality_alerts_only(engine):
    qa = who("qa_lead")
    defect = fire(engine, "critical_defect_detected", {"repository": "org/repo"})
    queue = fire(engine, "high_queue_depth", {"queue": "dor"})
    assert store.acknowledge(engine, defect, qa, "on it", address=ADDRESS)
    with pytest.raises(AlertPermissionError, match="acknowledge_alerts"):
        store.acknowledge(engine, queue, qa, "not mine")
    with pytest.raises(PermissionError):
        store.resolve(engine, queue, qa)
    assert acked_by(engine, defect) == "u-qa_lead" and acked_by(engine, queue) is None
    assert store.resolve(engine, defect, qa, "fixed", address=ADDRESS)
    rows = audit.entries(engine, actor="u-qa_lead")
    assert set(rows["action"]) == {audit.ALERT_ACKNOWLEDGED, audit.ALERT_RESOLVED}
    assert set(rows["address"]) == {ADDRESS}


@pytest.mark.parametrize("role", ["executive", "developer"])
def test_roles_without_alert_rights_are_refused_every_alerting_write(engine, role):
    viewer = who(role)
    key = fire(engine, "quality_score_drop", {"gate": "coverage"})
    channel = objects.Channel("hook", "webhook-generic", {"url": "http://127.0.0.1:9/"}, ("critical",))
    writes = [
        lambda: store.acknowledge(engine, key, viewer),
        lambda: store.resolve(engine, key, viewer),
        lambda: store.acknowledge(engine, "no-such-alert", viewer),
        lambda: store.save_rule(engine, RULE, viewer),
        lambda: store.import_rules(engine, "rules: []", viewer),
        lambda: store.delete_rule(engine, "high_queue_depth", viewer),
        lambda: objects.add_silence(engine, '{component="api"}', 0, 10, "maintenance", viewer),
        lambda: objects.expire_silence(engine, 1, viewer),
        lambda: objects.save_mute_timing(engine, TIMING, viewer),
        lambda: objects.delete_mute_timing(engine, "nightly", viewer),
        lambda: objects.save_channel(engine, channel, viewer),
        lambda: objects.delete_channel(engine, "hook", viewer),
        lambda: deliver.send_test(engine, load_settings(), channel, viewer),
    ]
    tables = (
        schema.alert_rules,
        schema.silences,
        schema.mute_timings,
        schema.notification_channels,
        schema.notifications,
    )
    before = [count(engine, t) for t in tables]
    for write in writes:
        with pytest.raises(AlertPermissionError, match=f"u-{role}"):
            write()
    assert acked_by(engine, key) is None
    assert [count(engine, t) for t in tables] == before
    assert audit.entries(engine).is_empty()


@pytest.mark.parametrize("role", ["qa_lead", "executive", "developer"])
def test_only_operations_and_admin_edit_rules_silences_and_channels(engine, role):
    with pytest.raises(AlertPermissionError, match="edit_rules"):
        store.save_rule(engine, RULE, who(role))
    with pytest.raises(AlertPermissionError, match="edit_rules"):
        objects.add_silence(engine, '{component="api"}', 0, 10, "maintenance", who(role))
    with pytest.raises(AlertPermissionError, match="edit_rules"):
        objects.save_channel(engine, objects.Channel("app", "inapp", {}, ("warning",)), who(role))


@pytest.mark.parametrize("role", ["operations", "admin"])
def test_operations_and_admin_change_alerting_and_the_audit_keeps_the_address(engine, role):
    viewer = who(role)
    store.save_rule(engine, RULE, viewer, address=ADDRESS)
    store.import_rules(
        engine, "rules:\n- name: other_probe\n  selector: up\n  op: '<'\n  threshold: 1\n", viewer, ADDRESS
    )
    store.delete_rule(engine, "other_probe", viewer, ADDRESS)
    silence = objects.add_silence(engine, '{component="api"}', now_ms(), now_ms() + 60_000, "deploy", viewer, ADDRESS)
    objects.expire_silence(engine, silence, viewer, address=ADDRESS)
    objects.save_mute_timing(engine, TIMING, viewer, ADDRESS)
    objects.delete_mute_timing(engine, "nightly", viewer, ADDRESS)
    objects.save_channel(engine, objects.Channel("app", "inapp", {}, ("warning",)), viewer, ADDRESS)
    objects.delete_channel(engine, "app", viewer, ADDRESS)
    key = fire(engine, "high_queue_depth", {"queue": "dor"})
    assert store.acknowledge(engine, key, viewer, address=ADDRESS) and store.resolve(
        engine, key, viewer, address=ADDRESS
    )
    rows = audit.entries(engine, actor=viewer.username)
    assert rows.height == 11 and set(rows["address"]) == {ADDRESS}
    assert set(rows["action"]) == {
        audit.RULE_CHANGED,
        audit.SILENCE_CHANGED,
        audit.CHANNEL_CHANGED,
        audit.ALERT_ACKNOWLEDGED,
        audit.ALERT_RESOLVED,
    }


def test_a_username_is_held_to_that_users_stored_roles(engine):
    """core.kpis.alerting (the Operations page) passes only the name: the stored roles decide."""
    users.create_user(engine, "quinn", PASSWORD, ["qa_lead"], must_change_password=False)
    users.create_user(engine, "olga", PASSWORD, ["operations"], must_change_password=False)
    queue = fire(engine, "high_queue_depth", {"queue": "dor"})
    with pytest.raises(AlertPermissionError, match="quinn"):
        store.acknowledge(engine, queue, "quinn")
    with pytest.raises(AlertPermissionError):
        store.save_rule(engine, RULE, "quinn")
    assert store.acknowledge(engine, queue, "olga")
    users.update_user(engine, "olga", disabled=True, actor="admin")
    with pytest.raises(AlertPermissionError):
        store.save_rule(engine, RULE, "olga")


def test_pulseboard_itself_loads_the_default_rules(engine):
    assert store.seed_defaults(engine, ROOT / "alert_rules.yaml") == len(DEFAULT_RULES)
    assert set(audit.entries(engine)["actor"]) == {SYSTEM.username}


def test_audit_filter_lists_the_alerting_actions(engine):
    audit.record(engine, "someone", "custom_action", "x")
    names = audit.action_names(engine)
    for action in (
        "alert_acknowledged",
        "alert_resolved",
        "rule_changed",
        "silence_changed",
        "channel_changed",
        "export",
        "custom_action",
    ):
        assert action in names
    assert "COLUMNS" not in names and "id" not in names


# --- the Alerts page -------------------------------------------------------------------------------


def alerts_page(role: str, monkeypatch: pytest.MonkeyPatch) -> AppTest:
    monkeypatch.setattr("core.ui.login.client_address", lambda: ADDRESS)
    at = AppTest.from_file(str(ROOT / "pages" / "alerts.py"), default_timeout=60)
    at.session_state["role"] = role  # login off in page tests: the local viewer takes this role
    at.run()
    assert not at.exception, [e.value for e in at.exception]
    return at


def texts(at: AppTest) -> str:
    return " ".join(str(e.value) for e in [*at.info, *at.caption, *at.markdown])


@pytest.fixture
def alerting_store(app_store):
    store.seed_defaults(app_store, ROOT / "alert_rules.yaml")
    objects.add_silence(app_store, '{component="api"}', now_ms(), now_ms() + 3_600_000, "deploy", SYSTEM)
    objects.save_channel(app_store, objects.Channel("app", "inapp", {}, ("warning",)), SYSTEM)
    return app_store


def test_operations_page_offers_every_control(alerting_store, monkeypatch):
    fire(alerting_store, "high_queue_depth", {"queue": "dor"})
    at = alerts_page("operations", monkeypatch)
    labels = {b.label for b in at.button}
    assert {"Save rule", "Import", "Expire", "Save mute timing", "Send test"} <= labels
    assert {"Acknowledge", "Resolve manually", "Silence", "Save channel"} <= {
        b.label for b in at.get("form_submit_button")
    }
    assert [d.label for d in at.download_button if not (d.key or "").startswith("export-")] == ["Export all rules"]
    assert {d.label for d in at.download_button if (d.key or "").startswith("export-")} == {"CSV", "Parquet", "JSON"}
    at.get("form_submit_button")[0].click().run()  # Acknowledge the one alert listed
    assert not at.exception
    rows = audit.entries(alerting_store, actor="local", actions=(audit.ALERT_ACKNOWLEDGED,))
    assert rows.height == 1 and rows["address"][0] == ADDRESS


def test_qa_lead_page_is_read_only_but_acknowledges_quality_alerts(alerting_store, monkeypatch):
    fire(alerting_store, "high_queue_depth", {"queue": "dor"})
    defect = fire(alerting_store, "critical_defect_detected", {"repository": "org/repo"})
    at = alerts_page("qa_lead", monkeypatch)
    labels = {b.label for b in at.button}
    assert not labels & {"Save rule", "Delete rule", "Import", "Expire", "Save mute timing", "Send test"}
    submits = [b.label for b in at.get("form_submit_button")]
    assert submits == ["Acknowledge", "Resolve manually"]
    picker = next(s for s in at.selectbox if s.label == "Alert")
    assert (
        len(picker.options) == 1 and "critical_defect_detected fires" in picker.options[0]
    )  # the queue alert is not offered
    assert texts(at).count("edit_rules") == 3  # rules, silences, channels each say why they are read-only
    at.get("form_submit_button")[0].click().run()
    assert acked_by(alerting_store, defect) == "local"


@pytest.mark.parametrize("role", ["operations", "qa_lead", "admin"])
def test_rule_export_is_audited(alerting_store, monkeypatch, role):
    at = alerts_page(role, monkeypatch)
    next(d for d in at.download_button if d.label == "Export all rules").click().run()
    assert not at.exception
    rows = audit.entries(alerting_store, actions=(audit.EXPORT,))
    assert rows["target"].to_list() == ["alert_rules"] and rows["address"][0] == ADDRESS
