"""Notification channels: one small module per kind, registered in :data:`NOTIFIERS`.

A notifier turns one grouped message (:class:`Message`) into a delivery and raises on
failure (core.alerts.notify.http tells a retryable failure from a permanent one); retries, backoff,
rate limits (core.alerts.notify.options) and the delivery log belong to :mod:`core.alerts.deliver`.
Secrets are never in a channel's config, only the name of the setting holding them
(core.alerts.notify.secrets).
The channel editor lists this tuple and validates a channel's config with the
notifier's :meth:`check`.
"""

from __future__ import annotations

from core.alerts.notify.base import Message, Notifier
from core.alerts.notify.email import Smtp
from core.alerts.notify.inapp import InApp
from core.alerts.notify.pagerduty import PagerDuty
from core.alerts.notify.sms import Sms
from core.alerts.notify.webhook import GenericWebhook, MattermostWebhook, SlackWebhook, TeamsWebhook

NOTIFIERS: tuple[Notifier, ...] = (
    InApp(),
    SlackWebhook(),
    GenericWebhook(),
    Smtp(),
    PagerDuty(),
    Sms(),
    TeamsWebhook(),
    MattermostWebhook(),
)


def notifier(kind: str) -> Notifier:
    """The registered notifier ``kind``; ValueError lists the known ones."""
    for found in NOTIFIERS:
        if found.kind == kind:
            return found
    raise ValueError(f"unknown channel kind {kind!r}; use one of {', '.join(n.kind for n in NOTIFIERS)}")


__all__ = ["NOTIFIERS", "Message", "Notifier", "notifier"]
