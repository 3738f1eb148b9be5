"""PagerDuty Events API v2: trigger when an alert fires, acknowledge when someone acknowledges it, resolve when it ends.

Each alert of a message is one event, keyed ``pulseboard-<rule>-<fingerprint>`` (:func:`dedup_key`), so
PagerDuty keeps one incident per alert, a repeated trigger (a retry, a repeat notice) only updates it,
and the acknowledge and resolve find it. The routing key comes from the environment setting the
channel names (core.alerts.notify.secrets); ``events_url`` defaults to PagerDuty's own endpoint and
may point anywhere else that speaks the same API (a proxy, a test receiver).
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any, ClassVar

from core.alerts.notify import secrets
from core.alerts.notify.base import Message
from core.alerts.notify.http import post
from core.config import Settings

EVENTS_URL = "https://events.pagerduty.com/v2/enqueue"
ACTIONS = {"firing": "trigger", "test": "trigger", "acknowledged": "acknowledge", "resolved": "resolve"}
SEVERITIES = ("critical", "error", "warning", "info")  # PagerDuty's, which are also Pulseboard's


def dedup_key(alert: dict[str, Any]) -> str:
    """The stable key of one alert's incident (PagerDuty allows 255 characters)."""
    return f"pulseboard-{alert.get('rule', '')}-{alert.get('fingerprint', '')}"[:255]


def _iso(ms: int | None) -> str | None:
    return None if ms is None else datetime.fromtimestamp(ms / 1000, UTC).isoformat(timespec="milliseconds")


def event(action: str, alert: dict[str, Any], routing_key: str, config: dict[str, Any]) -> dict[str, Any]:
    """The Events API v2 body for one alert: a full payload for ``trigger``, the key alone to acknowledge/resolve."""
    body: dict[str, Any] = {"routing_key": routing_key, "event_action": action, "dedup_key": dedup_key(alert)}
    if action != "trigger":
        return body
    labels = dict(alert.get("labels") or {})
    severity = alert.get("severity") if alert.get("severity") in SEVERITIES else "error"
    payload: dict[str, Any] = {
        "summary": str(alert.get("summary") or alert.get("rule") or "Pulseboard alert")[:1024],
        "source": str(labels.get("instance") or config.get("source") or "pulseboard"),
        "severity": severity,
        "timestamp": _iso(alert.get("fired_at")),
        "component": str(labels.get("component") or config.get("component") or ""),
        "group": str(alert.get("group") or ""),
        "class": str(alert.get("rule") or ""),
        "custom_details": {
            "labels": labels,
            "value": alert.get("value"),
            "state": alert.get("state"),
            "probable_root_cause": bool(alert.get("root_cause")),
        },
    }
    body["payload"] = {k: v for k, v in payload.items() if v not in ("", None)}
    body["client"] = "Pulseboard"
    if alert.get("runbook"):
        body["links"] = [{"href": str(alert["runbook"]), "text": "Runbook"}]
    return body


class PagerDuty:
    """Events API v2 (trigger, acknowledge, resolve) to a PagerDuty service integration."""

    kind = "pagerduty"
    description = "PagerDuty Events API v2 (trigger / acknowledge / resolve)."
    follows_acknowledgements = True  # core.alerts.dispatch sends it an "acknowledged" notice
    fields: ClassVar[dict[str, str]] = {
        "routing_key_setting": "Environment setting with the routing key, e.g. PULSEBOARD_PAGERDUTY_KEY",
        "events_url": f"Events API URL (empty: {EVENTS_URL})",
        "component": "Component when the alert has no component label (optional)",
    }

    def check(self, config: dict[str, Any]) -> None:
        secrets.refuse_plain(config)
        secrets.check_setting(config, "routing_key_setting")
        url = str(config.get("events_url") or EVENTS_URL)
        if not url.startswith(("http://", "https://")):
            raise ValueError("events_url: give the Events API's http:// or https:// address")

    def send(self, config: dict[str, Any], message: Message, settings: Settings) -> None:
        key = secrets.secret(config, "routing_key_setting")
        url = str(config.get("events_url") or EVENTS_URL)
        actions = [ACTIONS.get(message.notice, "trigger")]
        if message.notice == "test":
            actions.append("resolve")  # a test pages nobody for long: its incident is closed straight away
        for alert in message.alerts:
            for action in actions:
                post(url, settings, json=event(action, alert, key, config))
