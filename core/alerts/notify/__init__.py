"""Notification channels: one small module per kind, registered in :data:`NOTIFIERS`.

A notifier turns one grouped message (:class:`Message`) into a delivery and raises on
failure; retries, backoff and the delivery log belong to :mod:`core.alerts.deliver`.
The channel editor lists this tuple and validates a channel's config with the
notifier's :meth:`check`.
"""

from __future__ import annotations

from core.alerts.notify.base import Message, Notifier
from core.alerts.notify.email import Smtp
from core.alerts.notify.inapp import InApp
from core.alerts.notify.webhook import GenericWebhook, SlackWebhook

NOTIFIERS: tuple[Notifier, ...] = (InApp(), SlackWebhook(), GenericWebhook(), Smtp())


def notifier(kind: str) -> Notifier:
    """The registered notifier ``kind``; ValueError lists the known ones."""
    for found in NOTIFIERS:
        if found.kind == kind:
            return found
    raise ValueError(f"unknown channel kind {kind!r}; use one of {', '.join(n.kind for n in NOTIFIERS)}")


__all__ = ["NOTIFIERS", "Message", "Notifier", "notifier"]
