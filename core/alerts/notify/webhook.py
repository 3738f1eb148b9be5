"""Webhooks: Slack-compatible, Mattermost, Microsoft Teams (MessageCard) and a generic JSON body (docs/alerting.md)."""

from __future__ import annotations

from typing import Any, ClassVar

from core.alerts.notify.base import SEVERITY_COLOURS, SEVERITY_ICONS, Message
from core.alerts.notify.http import post
from core.config import Settings

RESOLVED_COLOUR = "#2EB67D"


def _check_url(config: dict[str, Any]) -> None:
    url = str(config.get("url", ""))
    if not url.startswith(("http://", "https://")):
        raise ValueError("url: give the webhook's http:// or https:// address")


def _post(url: str, body: dict[str, Any], settings: Settings) -> None:
    post(url, settings, json=body)


def _colour(message: Message) -> str:
    return RESOLVED_COLOUR if message.notice == "resolved" else SEVERITY_COLOURS.get(message.severity, "#888888")


def slack_body(message: Message) -> dict[str, Any]:
    """Slack incoming-webhook JSON: a headline plus one attachment coloured by the top severity."""
    icon = "✅" if message.notice == "resolved" else SEVERITY_ICONS.get(message.severity, "")
    return {
        "text": f"{icon} Pulseboard {message.notice}: {message.title}",
        "attachments": [
            {
                "color": _colour(message),
                "fields": [
                    {"title": "Severity", "value": message.severity, "short": True},
                    {"title": "Alerts", "value": str(len(message.alerts)), "short": True},
                    {"title": "Details", "value": "\n".join(message.lines()), "short": False},
                ],
            }
        ],
    }


def mattermost_body(message: Message, config: dict[str, Any]) -> dict[str, Any]:
    """Mattermost incoming-webhook JSON: the Slack-compatible ``text`` and ``attachments``, with a fallback text and
    the optional ``username``, ``channel`` and ``icon_url`` overrides the channel sets."""
    body = slack_body(message)
    body["attachments"][0]["fallback"] = body["text"]
    return body | {k: str(config[k]) for k in ("username", "channel", "icon_url") if config.get(k)}


def teams_body(message: Message) -> dict[str, Any]:
    """Microsoft Teams incoming-webhook MessageCard: title, colour bar, facts, one line per alert, runbook buttons."""
    icon = "✅" if message.notice == "resolved" else SEVERITY_ICONS.get(message.severity, "")
    runbooks = sorted({str(a["runbook"]) for a in message.alerts if a.get("runbook")})
    card: dict[str, Any] = {
        "@type": "MessageCard",
        "@context": "https://schema.org/extensions",
        "summary": f"Pulseboard {message.notice}: {message.title}"[:200],
        "themeColor": _colour(message).lstrip("#"),
        "title": f"{icon} Pulseboard {message.notice}: {message.title}",
        "sections": [
            {
                "facts": [
                    {"name": "Severity", "value": message.severity},
                    {"name": "Alerts", "value": str(len(message.alerts))},
                    {"name": "Group", "value": message.group},
                ],
                "text": "\n\n".join(message.lines()),
                "markdown": True,
            }
        ],
    }
    if runbooks:
        card["potentialAction"] = [
            {"@type": "OpenUri", "name": "Runbook", "targets": [{"os": "default", "uri": uri}]} for uri in runbooks[:4]
        ]
    return card


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


class MattermostWebhook:
    """POST Mattermost's Slack-compatible JSON (text + attachments) to an incoming-webhook URL."""

    kind = "webhook-mattermost"
    description = "Mattermost incoming webhook."
    fields: ClassVar[dict[str, str]] = {
        "url": "Incoming webhook URL",
        "username": "Post as this name (optional)",
        "channel": "Override the webhook's channel (optional)",
        "icon_url": "Avatar URL (optional)",
    }

    def check(self, config: dict[str, Any]) -> None:
        _check_url(config)

    def send(self, config: dict[str, Any], message: Message, settings: Settings) -> None:
        _post(str(config["url"]), mattermost_body(message, config), settings)


class TeamsWebhook:
    """POST a MessageCard to a Microsoft Teams incoming webhook (or a Workflows URL that accepts one)."""

    kind = "webhook-teams"
    description = "Microsoft Teams incoming webhook (MessageCard)."
    fields: ClassVar[dict[str, str]] = {"url": "Incoming webhook URL"}

    def check(self, config: dict[str, Any]) -> None:
        _check_url(config)

    def send(self, config: dict[str, Any], message: Message, settings: Settings) -> None:
        _post(str(config["url"]), teams_body(message), settings)
