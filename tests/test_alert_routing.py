"""Routing: a rule's channels, the configured channels of SLA alerts raised from code, else by severity."""

from __future__ import annotations

from core.alerts.dispatch import _routes, code_rule_channels
from core.alerts.objects import Channel
from core.config import load_settings

PAGER = Channel("pager", "webhook_generic", {"url": "http://127.0.0.1:9/"}, ("critical",))
CHAT = Channel("chat", "webhook_slack", {"url": "http://127.0.0.1:9/"}, ("warning", "error", "critical"))
ESCALATION = Channel("sla-escalation", "email", {"to": "boss@example.com"}, ("critical",))


def names(channels):
    return sorted(c.name for c in channels)


def test_sla_escalations_go_to_their_configured_channel(tmp_path):
    settings = load_settings(data_dir=tmp_path, sla_escalation_channels=["sla-escalation"], sla_alert_channels=["chat"])
    assert names(
        _routes(None, code_rule_channels("sla_escalation", settings), "critical", [PAGER, CHAT, ESCALATION])
    ) == ["sla-escalation"]
    assert names(_routes(None, code_rule_channels("sla_breach", settings), "error", [PAGER, CHAT, ESCALATION])) == [
        "chat"
    ]


def test_missing_configured_channel_falls_back_to_severity_routing(tmp_path):
    settings = load_settings(data_dir=tmp_path, sla_escalation_channels=["not-created"])
    assert names(_routes(None, code_rule_channels("sla_escalation", settings), "critical", [PAGER, CHAT])) == [
        "chat",
        "pager",
    ]


def test_ordinary_alerts_without_rule_channels_route_by_severity(tmp_path):
    settings = load_settings(data_dir=tmp_path)
    assert code_rule_channels("high_queue_depth", settings) == []
    assert names(_routes(None, [], "warning", [PAGER, CHAT])) == ["chat"]
