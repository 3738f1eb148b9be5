"""Channels against real receivers: webhooks on an HTTP server, email on an aiosmtpd SMTP server, both on port 0."""

from __future__ import annotations

import socket
from collections.abc import Iterator
from email import message_from_bytes
from pathlib import Path

import pytest
from aiosmtpd.controller import Controller
from sqlalchemy.engine import Engine

from core.alerts.deliver import deliver_due, delivery_log, queue, send_test
from core.alerts.notify import NOTIFIERS, Message
from core.alerts.objects import Channel, save_channel
from core.config import Settings
from tests.alert_support import alert_settings, http_receiver

ALERT = {
    "fingerprint": "f1",
    "rule": "high_queue_depth",
    "state": "firing",
    "severity": "critical",
    "labels": {"alertname": "high_queue_depth", "queue": "dor"},
    "summary": "Queue dor holds 20 items",
    "runbook": "https://runbooks/queue",
    "value": 20.0,
    "fired_at": 1_700_000_000_000,
    "resolved_at": None,
    "root_cause": True,
    "group": "grp-1",
}


class Inbox:
    def __init__(self) -> None:
        self.messages: list[tuple[str, list[str], bytes]] = []

    async def handle_DATA(self, server: object, session: object, envelope: object) -> str:
        self.messages.append((envelope.mail_from, list(envelope.rcpt_tos), envelope.content))  # type: ignore[attr-defined]
        return "250 OK"


@pytest.fixture
def smtp() -> Iterator[tuple[int, Inbox]]:
    inbox = Inbox()
    with socket.socket() as probe:  # aiosmtpd's readiness check needs a concrete port: take a free one from the OS
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    controller = Controller(inbox, hostname="127.0.0.1", port=port)
    controller.start()
    try:
        yield port, inbox
    finally:
        controller.stop()


@pytest.fixture
def cfg(settings: Settings, tmp_path: Path) -> Settings:
    return alert_settings(settings, tmp_path)


def test_registry_lists_every_channel_kind() -> None:
    assert [n.kind for n in NOTIFIERS] == [
        "inapp",
        "webhook-slack",
        "webhook-generic",
        "smtp",
        "pagerduty",
        "sms",
        "webhook-teams",
        "webhook-mattermost",
    ]


def test_email_reaches_a_real_smtp_server(engine: Engine, cfg: Settings, smtp: tuple[int, Inbox]) -> None:
    port, inbox = smtp
    channel = Channel("mail", "smtp", {"to": "oncall@example.org", "host": "127.0.0.1", "port": port}, ("critical",))
    save_channel(engine, channel, "tester")
    queue(engine, channel, Message("firing", "grp-1", "Queue dor holds 20 items", (ALERT,)), 0)
    assert deliver_due(engine, cfg, 1) == {"sent": 1, "pending": 0, "failed": 0}
    ((sender, recipients, raw),) = inbox.messages
    mail = message_from_bytes(raw)
    assert recipients == ["oncall@example.org"] and sender == cfg.smtp_from
    assert mail["Subject"] == "[Pulseboard FIRING] Queue dor holds 20 items"
    body = mail.get_payload(decode=True).decode()  # type: ignore[union-attr]
    assert "[FIRING] critical: Queue dor holds 20 items" in body and "runbook: https://runbooks/queue" in body


def test_slack_and_generic_bodies(engine: Engine, cfg: Settings) -> None:
    with http_receiver() as hook:
        for kind in ("webhook-slack", "webhook-generic"):
            channel = Channel(kind, kind, {"url": hook.url}, ("critical",))
            save_channel(engine, channel, "tester")
            queue(engine, channel, Message("firing", "grp-1", "Queue dor holds 20 items", (ALERT,)), 0)
        deliver_due(engine, cfg, 1)
        slack, generic = hook.bodies
    assert slack["text"].endswith("Pulseboard firing: Queue dor holds 20 items")  # type: ignore[union-attr]
    attachment = slack["attachments"][0]  # type: ignore[index]
    assert attachment["color"] == "#D00000" and attachment["fields"][0] == {
        "title": "Severity",
        "value": "critical",
        "short": True,
    }
    assert (
        generic["version"] == "1" and generic["status"] == "firing" and generic["alerts"][0]["labels"]["queue"] == "dor"
    )  # type: ignore[index]


def test_failed_deliveries_are_retried_with_backoff_then_given_up(engine: Engine, cfg: Settings) -> None:
    settings = cfg.model_copy(update={"alert_delivery_backoff_s": 10.0, "alert_delivery_attempts": 3})
    with http_receiver() as hook:
        hook.statuses = [500, 503]
        channel = Channel("hook", "webhook-generic", {"url": hook.url}, ("critical",))
        save_channel(engine, channel, "tester")
        queue(engine, channel, Message("firing", "g", "t", (ALERT,)), 0)
        assert deliver_due(engine, settings, 0)["pending"] == 1  # HTTP 500: retry in 10 s
        assert deliver_due(engine, settings, 5_000) == {"sent": 0, "pending": 0, "failed": 0}  # not due yet
        assert deliver_due(engine, settings, 10_000)["pending"] == 1  # HTTP 503: retry in 20 s
        assert deliver_due(engine, settings, 30_000)["sent"] == 1
        assert len(hook.bodies) == 1
    log = delivery_log(engine)
    assert log["status"][0] == "sent" and log["attempts"][0] == 3
    queue(
        engine,
        Channel("gone", "webhook-generic", {"url": "http://127.0.0.1:9/x"}, ("critical",)),
        Message("firing", "g", "t", (ALERT,)),
        0,
    )
    for now in (0, 10_000, 30_000):
        deliver_due(engine, settings, now)
    assert delivery_log(engine)["status"][0] == "failed"


def test_send_test_reports_success_and_failure(engine: Engine, cfg: Settings) -> None:
    with http_receiver() as hook:
        assert send_test(engine, cfg, Channel("hook", "webhook-generic", {"url": hook.url}, ("info",)), "alice") is None
        assert hook.bodies[0]["status"] == "test"
        hook.statuses = [500]
        error = send_test(engine, cfg, Channel("hook", "webhook-generic", {"url": hook.url}, ("info",)), "alice")
    assert error is not None and "HTTP 500" in error


def test_bad_channel_config_is_refused(engine: Engine) -> None:
    with pytest.raises(ValueError, match="to: give at least one email address"):
        save_channel(engine, Channel("mail", "smtp", {"to": ""}, ("critical",)), "tester")
    with pytest.raises(ValueError, match="url"):
        save_channel(engine, Channel("hook", "webhook-slack", {"url": "ftp://x"}, ("critical",)), "tester")
