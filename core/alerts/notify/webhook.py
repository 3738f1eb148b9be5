"""Webhooks: Slack-compatible (text + coloured attachment) and a generic JSON body (docs/alerting.md)."""

from __future__ import annotations

from typing import Any, ClassVar

import httpx

from core.alerts.notify.base import SEVERITY_COLOURS, SEVERITY_ICONS, Message
from core.config import Settings


def _check_url(config: dict[str, Any]) -> None:
    url = str(config.get("url", ""))
    if not url.startswith(("http://", "https://")):
        raise ValueError("url: give the webhook's http:// or https:// address")


def _post(url: str, body: dict[str, Any], settings: Settings) -> None:
    response = httpx.post(url, json=body, timeout=settings.alert_webhook_timeout_s)
    if response.status_code >= 300:
        raise RuntimeError(f"HTTP {response.status_code} from {url}: {response.text[:200]}")


def slack_body(message: Message) -> dict[str, Any]:
    """Slack incoming-webhook JSON: a headline plus one attachment coloured by the top severity."""
    icon = "✅" if message.notice == "resolved" else SEVERITY_ICONS.get(message.severity, "")
    return {
        "text": f"{icon} Pulseboard {message.notice}: {message.title}",
        "attachments": [
            {
                "color": "#2EB67D"
                if message.notice == "resolved"
                else SEVERITY_COLOURS.get(message.severity, "#888888"),
                "fields": [
                    {"title": "Severity", "value": message.severity, "short": True},
                    {"title": "Alerts", "value": str(len(message.alerts)), "short": True},
                    {"title": "Details", "value": "\n".join(message.lines()), "short": False},
                ],
            }
        ],
    }


def generic_body(message: Message) -> dict[str, Any]:
    """Versioned JSON with every alert's labels and times, for scripts and other tools."""
    return {
        "version": "1",
        "source": "pulseboard",
        "status": message.notice,
        "group": message.group,
        "title": message.title,
        "severity": message.severity,
        "alerts": list(message.alerts),
    }


class SlackWebhook:
    """POST Slack-compatible JSON to an incoming-webhook URL (Slack, Mattermost, Rocket.Chat, Teams via bridge)."""

    kind = "webhook-slack"
    description = "Slack-compatible incoming webhook."
    fields: ClassVar[dict[str, str]] = {"url": "Incoming webhook URL"}

    def check(self, config: dict[str, Any]) -> None:
        _check_url(config)

    def send(self, config: dict[str, Any], message: Message, settings: Settings) -> None:
        _post(str(config["url"]), slack_body(message), settings)


class GenericWebhook:
    """POST the generic JSON body to any URL."""

    kind = "webhook-generic"
    description = "Generic JSON webhook."
    fields: ClassVar[dict[str, str]] = {"url": "URL that receives the JSON POST"}

    def check(self, config: dict[str, Any]) -> None:
        _check_url(config)

    def send(self, config: dict[str, Any], message: Message, settings: Settings) -> None:
        _post(str(config["url"]), generic_body(message), settings)
