"""In-app notifications: the delivery log itself is the inbox that the badge and toasts read."""

from __future__ import annotations

from typing import Any, ClassVar

from core.alerts.notify.base import Message
from core.config import Settings


class InApp:
    """Always delivered: the Alerts page shows the row as a toast and counts it in the badge."""

    kind = "inapp"
    description = "Badge and toasts in the dashboard."
    fields: ClassVar[dict[str, str]] = {}

    def check(self, config: dict[str, Any]) -> None:
        return None

    def send(self, config: dict[str, Any], message: Message, settings: Settings) -> None:
        return None
