"""In-app notifications: the delivery log itself is the inbox that the badge and toasts read."""

from __future__ import annotations

from typing import Any, ClassVar

import sqlalchemy as sa
from sqlalchemy.engine import Engine

from core.alerts.notify.base import Message
from core.config import Settings
from core.store import schema

SEEN_KEY = "alerts_inbox_seen"  # session-state key of the newest in-app notification id a session has looked at


class InApp:
    """Always delivered: every page shows the row as a toast (pages/navigation.py) and the menu counts firing alerts."""

    kind = "inapp"
    description = "Badge and toasts in the dashboard."
    fields: ClassVar[dict[str, str]] = {}

    def check(self, config: dict[str, Any]) -> None:
        return None

    def send(self, config: dict[str, Any], message: Message, settings: Settings) -> None:
        return None


def new_toasts(engine: Engine, seen: int | None, limit: int = 3) -> tuple[list[str], int]:
    """Toast texts for "firing" in-app notifications newer than ``seen``, and the new mark to remember.

    ``seen`` None is a session's first look: it only sets the mark, so opening the
    dashboard does not replay old notifications. Each notification is toasted once per
    session; of a burst, only the newest ``limit`` are shown.
    """
    table = schema.notifications
    with engine.connect() as connection:
        newest = int(connection.scalar(sa.select(sa.func.max(table.c.id)).where(table.c.kind == "inapp")) or 0)
        if seen is None or newest <= seen:
            return [], max(newest, seen or 0)
        rows = connection.execute(
            sa.select(table.c.title)
            .where(table.c.kind == "inapp")
            .where(table.c.id > seen)
            .where(table.c.notice == "firing")
            .order_by(table.c.id.desc())
            .limit(limit)
        ).all()
    return [f"firing: {title}" for (title,) in reversed(rows)], newest
