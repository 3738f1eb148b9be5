"""On-call channels against real HTTP receivers on ephemeral ports: PagerDuty v2, SMS gateway, Teams, Mattermost.

Also per-channel retries (5xx retried with backoff, 4xx not), rate limits (held, then sent) and secrets
(read from the environment by setting name, refused in the config, masked for display).
"""

from __future__ import annotations

import base64
import json
import socket
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import parse_qs

import pytest
from hypothesis import example, given
from hypothesis import strategies as st
from sqlalchemy.engine import Engine

from core.alerts import store
from core.alerts.deliver import deliver_due, delivery_log, queue, send_test
from core.alerts.engine import evaluate_all
from core.alerts.notify import Message, notifier, secrets
from core.alerts.notify.pagerduty import dedup_key
from core.alerts.notify.sms import GSM_LIMIT, UCS2_LIMIT, fit, is_gsm, segment_size, sms_text
from core.alerts.objects import Channel, channels, delete_channel, save_channel
from core.alerts.rules import parse_rule
from core.config import Settings
from tests.alert_support import T0, alert_settings, feed

KEY_SETTING, TOKEN_SETTING = "PULSEBOARD_TEST_PAGERDUTY_KEY", "PULSEBOARD_TEST_SMS_TOKEN"
ALERT = {
    "fingerprint": "f1",
    "rule": "high_queue_depth",
    "state": "firing",
    "severity": "critical",
    "labels": {"alertname": "high_queue_depth", "queue": "dor", "component": "workflow"},
    "summary": "Queue dor holds 20 items",
    "runbook": "https://runbooks.example.org/queue",
    "value": 20.0,
    "fired_at": 1_700_000_000_000,
    "resolved_at": None,
    "root_cause": True,
    "group": "grp-1",
}


@dataclass
class Request:
    path: str
    headers: dict[str, str]
    body: bytes

    def json(self) -> object:
        return json.loads(self.body)


@dataclass
class Receiver:
    """A real HTTP server on port 0 that records every request and answers the queued statuses (then 202)."""

    url: str = ""
    requests: list[Request] = field(default_factory=list)
    statuses: list[int] = field(default_factory=list)


@contextmanager
def receiver() -> Iterator[Receiver]:
    got = Receiver()

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
            got.requests.append(Request(self.path, {k.lower(): v for k, v in self.headers.items()}, body))
            status = got.statuses.pop(0) if got.statuses else 202
            self.send_response(status)
            self.end_headers()
            self.wfile.write(b'{"status": "success"}' if status < 300 else b'{"status": "invalid event"}')

        def log_message(self, *args: object) -> None:
            return None

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    got.url = f"http://127.0.0.1:{server.server_address[1]}"
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield got
    finally:
        server.shutdown()
        server.server_close()


@pytest.fixture
def cfg(engine: Engine, settings: Settings, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Settings:
    """Alert settings over a store with no channels, and the two test secrets in the environment."""
    for channel in channels(engine):
        delete_channel(engine, channel.name, "tester")
    monkeypatch.setenv(KEY_SETTING, "R0UT1NGKEY")
    monkeypatch.setenv(TOKEN_SETTING, "s3cr3t-t0ken")
    return alert_settings(settings, tmp_path)


def pager(url: str, **extra: object) -> Channel:
    return Channel("pager", "pagerduty", {"routing_key_setting": KEY_SETTING, "events_url": url} | extra, ("critical",))


# --- PagerDuty Events API v2 -----------------------------------------------------------------------------------------


def test_pagerduty_trigger_payload_is_exactly_events_api_v2(cfg: Settings) -> None:
    with receiver() as hook:
        channel = pager(f"{hook.url}/v2/enqueue")
        notifier("pagerduty").send(channel.config, Message("firing", "grp-1", "t", (ALERT,)), cfg)
    assert [r.path for r in hook.requests] == ["/v2/enqueue"]
    assert hook.requests[0].headers["content-type"] == "application/json"
    assert hook.requests[0].json() == {
        "routing_key": "R0UT1NGKEY",
        "event_action": "trigger",
        "dedup_key": "pulseboard-high_queue_depth-f1",
        "payload": {
            "summary": "Queue dor holds 20 items",
            "source": "pulseboard",
            "severity": "critical",
            "timestamp": "2023-11-14T22:13:20.000+00:00",
            "component": "workflow",
            "group": "grp-1",
            "class": "high_queue_depth",
            "custom_details": {
                "labels": {"alertname": "high_queue_depth", "queue": "dor", "component": "workflow"},
                "value": 20.0,
                "state": "firing",
                "probable_root_cause": True,
            },
        },
        "client": "Pulseboard",
        "links": [{"href": "https://runbooks.example.org/queue", "text": "Runbook"}],
    }


@pytest.mark.parametrize(("notice", "action"), [("resolved", "resolve"), ("acknowledged", "acknowledge")])
def test_pagerduty_resolve_and_acknowledge_carry_only_the_key(cfg: Settings, notice: str, action: str) -> None:
    with receiver() as hook:
        notifier("pagerduty").send(pager(hook.url).config, Message(notice, "grp-1", "t", (ALERT,)), cfg)
    assert [r.json() for r in hook.requests] == [
        {"routing_key": "R0UT1NGKEY", "event_action": action, "dedup_key": "pulseboard-high_queue_depth-f1"}
    ]


def test_pagerduty_follows_an_alert_from_firing_through_acknowledged_to_resolved(engine: Engine, cfg: Settings) -> None:
    """The engine itself: fire → trigger, acknowledge in Pulseboard → acknowledge, condition ends → resolve."""
    feed(engine, "qms_queue_depth", {"queue": "dor"}, [20.0, 20.0, 20.0, 5.0], step_ms=15_000)
    rule = {
        "name": "q",
        "selector": "qms_queue_depth",
        "agg": "last",
        "window": "10s",
        "threshold": 15,
        "for": "0s",
        "severity": "critical",
        "summary": "queue {{ labels.queue }} at {{ value }}",
    }
    store.save_rule(engine, parse_rule(rule), "tester")
    with receiver() as hook:
        save_channel(engine, pager(hook.url), "tester")
        save_channel(engine, Channel("chat", "webhook-teams", {"url": hook.url + "/teams"}, ("critical",)), "tester")
        evaluate_all(engine, cfg, T0 + 1)
        key = store.alerts_frame(engine)["fingerprint"][0]
        assert store.acknowledge(engine, key, "alice", "on it", when=T0 + 2)
        evaluate_all(engine, cfg, T0 + 15_001)
        evaluate_all(engine, cfg, T0 + 30_001)  # still firing, acknowledged: nothing new
        evaluate_all(engine, cfg, T0 + 45_001)  # 5.0: resolved
    pd = [r.json() for r in hook.requests if r.path == "/"]
    assert [b["event_action"] for b in pd] == ["trigger", "acknowledge", "resolve"]  # type: ignore[index]
    assert {b["dedup_key"] for b in pd} == {f"pulseboard-q-{key}"}  # type: ignore[index]
    teams = [r.json()["title"] for r in hook.requests if r.path == "/teams"]  # type: ignore[index]
    assert [t.split(":")[0] for t in teams] == ["🔴 Pulseboard firing", "✅ Pulseboard resolved"]  # no ack to Teams


def test_pagerduty_test_notification_triggers_then_resolves(engine: Engine, cfg: Settings) -> None:
    with receiver() as hook:
        assert send_test(engine, cfg, pager(hook.url), "alice") is None
    actions = [r.json()["event_action"] for r in hook.requests]  # type: ignore[index]
    assert actions == ["trigger", "resolve"]
    assert {r.json()["dedup_key"] for r in hook.requests} == {"pulseboard-test-test"}  # type: ignore[index]


def test_dedup_key_is_stable_and_bounded() -> None:
    assert dedup_key(ALERT) == dedup_key(dict(ALERT, summary="other text")) == "pulseboard-high_queue_depth-f1"
    assert len(dedup_key({"rule": "r" * 400, "fingerprint": "f"})) == 255


# --- SMS -------------------------------------------------------------------------------------------------------------


def sms_channel(url: str) -> Channel:
    config = {
        "url": url + "/2010-04-01/Accounts/{sid}/Messages.json",
        "account_sid": "AC123",
        "auth_token_setting": TOKEN_SETTING,
        "from": "+15550001111",
        "to": "+15550002222, +4930123456",
    }
    return Channel("sms", "sms", config, ("critical",))


def test_sms_posts_one_form_per_recipient_with_basic_auth(cfg: Settings) -> None:
    two = (ALERT, dict(ALERT, fingerprint="f2", root_cause=False))
    with receiver() as hook:
        notifier("sms").send(sms_channel(hook.url).config, Message("firing", "g", "t", two), cfg)
    assert [r.path for r in hook.requests] == ["/2010-04-01/Accounts/AC123/Messages.json"] * 2
    first = hook.requests[0]
    assert first.headers["content-type"] == "application/x-www-form-urlencoded"
    assert first.headers["authorization"] == "Basic " + base64.b64encode(b"AC123:s3cr3t-t0ken").decode()
    forms = [parse_qs(r.body.decode()) for r in hook.requests]
    assert forms == [
        {"To": [to], "From": ["+15550001111"], "Body": ["[FIRING] critical: Queue dor holds 20 items (+1 more)"]}
        for to in ("+15550002222", "+4930123456")
    ]


def test_sms_text_fits_one_segment() -> None:
    long = dict(ALERT, summary="x" * 300)
    text = sms_text(Message("firing", "g", "t", (long,)))
    assert segment_size(text) == GSM_LIMIT and text.endswith("...")  # "[" and "]" take two septets each
    emoji = sms_text(Message("firing", "g", "t", (dict(ALERT, summary="disk full 💾 " * 20),)))
    assert len(emoji) <= UCS2_LIMIT and emoji.endswith("...")
    braces = fit("{" * 100)  # extended GSM characters take two septets each
    assert segment_size(braces) <= GSM_LIMIT and braces.endswith("...")


@given(st.text(max_size=400))
def test_fit_always_makes_one_segment(text: str) -> None:
    out = fit(text)
    assert (segment_size(out) <= GSM_LIMIT) if is_gsm(out) else (len(out) <= UCS2_LIMIT)
    if out != text:
        assert out.endswith("...")


# --- Teams and Mattermost ------------------------------------------------------------------------------------------


def test_teams_message_card_and_mattermost_body(cfg: Settings) -> None:
    message = Message("firing", "grp-1", "Queue dor holds 20 items", (ALERT,))
    with receiver() as hook:
        notifier("webhook-teams").send({"url": hook.url + "/teams"}, message, cfg)
        mm = {"url": hook.url + "/mm", "username": "pulseboard-bot", "channel": "oncall"}
        notifier("webhook-mattermost").send(mm, message, cfg)
    teams, mattermost = (r.json() for r in hook.requests)
    assert teams == {
        "@type": "MessageCard",
        "@context": "https://schema.org/extensions",
        "summary": "Pulseboard firing: Queue dor holds 20 items",
        "themeColor": "D00000",
        "title": "🔴 Pulseboard firing: Queue dor holds 20 items",
        "sections": [
            {
                "facts": [
                    {"name": "Severity", "value": "critical"},
                    {"name": "Alerts", "value": "1"},
                    {"name": "Group", "value": "grp-1"},
                ],
                "text": message.lines()[0],
                "markdown": True,
            }
        ],
        "potentialAction": [
            {
                "@type": "OpenUri",
                "name": "Runbook",
                "targets": [{"os": "default", "uri": "https://runbooks.example.org/queue"}],
            }
        ],
    }
    assert mattermost["text"] == "🔴 Pulseboard firing: Queue dor holds 20 items"  # type: ignore[index]
    assert mattermost["attachments"][0]["fallback"] == mattermost["text"]  # type: ignore[index]
    assert (mattermost["username"], mattermost["channel"]) == ("pulseboard-bot", "oncall")  # type: ignore[index]


# --- retries and rate limits ---------------------------------------------------------------------------------------


def test_5xx_is_retried_with_the_channels_backoff_then_sent(engine: Engine, cfg: Settings) -> None:
    with receiver() as hook:
        hook.statuses = [500, 503]
        channel = pager(hook.url, max_attempts=4, backoff_s=2)
        save_channel(engine, channel, "tester")
        queue(engine, channel, Message("firing", "g", "t", (ALERT,)), 0)
        assert deliver_due(engine, cfg, 0)["pending"] == 1  # 500: again in 2 s
        assert deliver_due(engine, cfg, 1_999) == {"sent": 0, "pending": 0, "failed": 0}
        assert deliver_due(engine, cfg, 2_000)["pending"] == 1  # 503: again in 4 s
        assert deliver_due(engine, cfg, 6_000)["sent"] == 1
    assert len(hook.requests) == 3
    bodies = [r.json() for r in hook.requests]
    assert bodies[0] == bodies[2]  # the same event each time
    row = delivery_log(engine).row(0, named=True)
    assert (row["status"], row["attempts"]) == ("sent", 3)


def test_4xx_is_not_retried(engine: Engine, cfg: Settings) -> None:
    with receiver() as hook:
        hook.statuses = [400]
        channel = pager(hook.url, max_attempts=5)
        save_channel(engine, channel, "tester")
        queue(engine, channel, Message("firing", "g", "t", (ALERT,)), 0)
        assert deliver_due(engine, cfg, 0)["failed"] == 1
        assert deliver_due(engine, cfg, 3_600_000) == {"sent": 0, "pending": 0, "failed": 0}
    assert len(hook.requests) == 1
    row = delivery_log(engine).row(0, named=True)
    assert (row["status"], row["attempts"]) == ("failed", 1)
    assert row["last_error"].startswith("not retried: PermanentDeliveryError: HTTP 400 from http://127.0.0.1:")


def test_429_and_timeouts_are_retried(engine: Engine, cfg: Settings) -> None:
    with receiver() as hook:
        hook.statuses = [429]
        channel = pager(hook.url, backoff_s=0)
        save_channel(engine, channel, "tester")
        queue(engine, channel, Message("firing", "g", "t", (ALERT,)), 0)
        assert deliver_due(engine, cfg, 0)["pending"] == 1
        assert deliver_due(engine, cfg, 0)["sent"] == 1
    with socket.socket() as silent:  # accepts the connection (kernel backlog) and never answers
        silent.bind(("127.0.0.1", 0))
        silent.listen()
        quiet = pager(f"http://127.0.0.1:{silent.getsockname()[1]}/", backoff_s=0)
        save_channel(engine, quiet, "tester")
        queue(engine, quiet, Message("firing", "g", "t", (ALERT,)), 0)
        assert deliver_due(engine, cfg.model_copy(update={"alert_webhook_timeout_s": 0.2}), 0)["pending"] == 1
    row = delivery_log(engine).row(0, named=True)
    assert (row["status"], row["attempts"]) == ("pending", 1)
    assert row["last_error"].startswith("RuntimeError: timed out after 0.2 s posting to http://127.0.0.1:")


def test_rate_limit_holds_the_excess_and_sends_it_when_the_minute_has_room(engine: Engine, cfg: Settings) -> None:
    with receiver() as hook:
        channel = Channel("chat", "webhook-teams", {"url": hook.url, "rate_limit_per_minute": 2}, ("critical",))
        save_channel(engine, channel, "tester")
        for n in range(3):
            queue(engine, channel, Message("firing", f"g{n}", f"alert {n}", (ALERT,)), 1_000)
        assert deliver_due(engine, cfg, 1_000) == {"sent": 2, "pending": 1, "failed": 0}
        held = delivery_log(engine).row(0, named=True)
        assert held["status"] == "pending" and held["attempts"] == 0
        assert held["last_error"] == "held by the rate limit (2 per minute) until 1970-01-01 00:01:01 UTC"
        assert deliver_due(engine, cfg, 60_999) == {"sent": 0, "pending": 0, "failed": 0}  # not due before then
        assert deliver_due(engine, cfg, 61_000) == {"sent": 1, "pending": 0, "failed": 0}
    assert [r.json()["title"].split(": ")[1] for r in hook.requests] == ["alert 0", "alert 1", "alert 2"]  # type: ignore[index]


# --- secrets ---------------------------------------------------------------------------------------------------------


def test_secrets_are_never_stored_in_the_channel(engine: Engine, cfg: Settings) -> None:
    with pytest.raises(ValueError, match="routing_key: secrets are not stored in a channel"):
        save_channel(engine, pager("http://x", routing_key="R0UT1NGKEY"), "tester")
    bad = Channel("p", "pagerduty", {"routing_key_setting": "R0UT1NGKEY"}, ("critical",))
    with pytest.raises(ValueError, match="routing_key_setting: give the name of an environment setting"):
        save_channel(engine, bad, "tester")
    own = Channel("p", "pagerduty", {"routing_key_setting": "PULSEBOARD_DATABASE_URL"}, ("critical",))
    with pytest.raises(ValueError, match="PULSEBOARD_DATABASE_URL is one of Pulseboard's own settings"):
        save_channel(engine, own, "tester")
    with pytest.raises(ValueError, match="rate_limit_per_minute: must be a whole number from 1 to 600"):
        save_channel(engine, pager("http://x", rate_limit_per_minute=0.5), "tester")
    save_channel(engine, pager("http://x"), "tester")
    stored = channels(engine)[0].config
    assert "R0UT1NGKEY" not in json.dumps(stored)
    assert secrets.masked(stored)["routing_key_setting"] == f"{KEY_SETTING} (•••• set)"


def test_a_missing_secret_fails_at_once_naming_the_setting(engine: Engine, cfg: Settings, monkeypatch) -> None:
    monkeypatch.delenv(KEY_SETTING)
    with receiver() as hook:
        error = send_test(engine, cfg, pager(hook.url), "alice")
    assert (
        error == f"PermanentDeliveryError: routing_key_setting: the setting {KEY_SETTING} is not set in Pulseboard's "
        "environment"
    )
    assert hook.requests == []
    assert secrets.masked(pager(hook.url).config)["routing_key_setting"] == f"{KEY_SETTING} (•••• NOT SET)"


@example({"max_attempts": "5.0", "rate_limit_per_minute": " 7 "})
@given(
    st.dictionaries(
        st.sampled_from(["max_attempts", "backoff_s", "rate_limit_per_minute"]),
        st.one_of(st.none(), st.booleans(), st.integers(-5, 1000), st.floats(allow_nan=True), st.text(max_size=5)),
    )
)
def test_delivery_options_are_in_range_or_refused_naming_the_option(config: dict[str, object]) -> None:
    from core.alerts.notify import options

    try:
        options.check(config)
    except ValueError as error:
        assert str(error).split(":")[0] in config
        return
    chosen = options.of(config, Settings())
    assert 1 <= chosen.max_attempts <= 50 and 0 <= chosen.backoff_s <= 3600
    assert chosen.rate_limit_per_minute is None or 1 <= chosen.rate_limit_per_minute <= 600


def test_a_stored_channel_with_a_bad_option_still_delivers_with_the_settings(engine: Engine, cfg: Settings) -> None:
    import sqlalchemy as sa

    from core.store import schema

    with receiver() as hook:
        channel = Channel("old", "webhook-teams", {"url": hook.url}, ("critical",))
        save_channel(engine, channel, "tester")
        with engine.begin() as connection:  # as a row written before the options were checked could hold
            connection.execute(
                sa.update(schema.notification_channels).values(config={"url": hook.url, "max_attempts": "many"})
            )
        queue(engine, channel, Message("firing", "g", "t", (ALERT,)), 0)
        assert deliver_due(engine, cfg, 0) == {"sent": 1, "pending": 0, "failed": 0}
