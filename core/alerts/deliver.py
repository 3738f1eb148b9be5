"""The delivery log: notifications are queued as rows, then sent with retries and exponential backoff.

Queuing and sending are separate so a slow or broken webhook never holds up
evaluation, a failure is retried ``alert_delivery_attempts`` times (waiting
``alert_delivery_backoff_s``, then twice as long each time), and every attempt's
outcome is visible on the Alerts page.
"""

from __future__ import annotations

import logging

import polars as pl
import sqlalchemy as sa
from sqlalchemy.engine import Engine

from core.alerts.notify import Message, notifier
from core.alerts.objects import Channel, channels
from core.alerts.permissions import Actor, require_edit
from core.config import Settings
from core.model import now_ms
from core.store import schema

log = logging.getLogger(__name__)
PENDING, SENT, FAILED = "pending", "sent", "failed"


def queue(engine: Engine, channel: Channel, message: Message, now: int) -> int:
    """Add one notification for ``channel``; returns its id."""
    with engine.begin() as connection:
        key = connection.execute(
            schema.notifications.insert().values(
                channel=channel.name,
                kind=channel.kind,
                notice=message.notice,
                group_key=message.group[:256],
                alert_count=len(message.alerts),
                title=message.title,
                payload=message.payload(),
                status=PENDING,
                attempts=0,
                next_attempt_ms=now,
                created_ms=now,
            )
        ).inserted_primary_key
    return int(key[0]) if key else 0


def deliver_due(engine: Engine, settings: Settings, now: int | None = None) -> dict[str, int]:
    """Try every pending notification whose time has come; returns counts by outcome."""
    now = now_ms() if now is None else now
    table = schema.notifications
    by_name = {c.name: c for c in channels(engine)}
    with engine.connect() as connection:
        due = (
            connection.execute(
                sa.select(table)
                .where(table.c.status == PENDING)
                .where(table.c.next_attempt_ms <= now)
                .order_by(table.c.id)
            )
            .mappings()
            .all()
        )
    counts = {SENT: 0, PENDING: 0, FAILED: 0}
    for row in due:
        channel = by_name.get(row["channel"])
        error = None
        try:
            if channel is None:
                raise RuntimeError(f"channel {row['channel']!r} no longer exists")
            notifier(channel.kind).send(channel.config, Message.from_payload(row["payload"]), settings)
        except Exception as failure:  # noqa: BLE001 - any delivery problem is retried, never raised into the job
            error = f"{type(failure).__name__}: {failure}"[:1000]
        attempts = row["attempts"] + 1
        if error is None:
            values = {"status": SENT, "attempts": attempts, "sent_ms": now, "next_attempt_ms": None, "last_error": None}
        elif attempts >= settings.alert_delivery_attempts:
            values = {"status": FAILED, "attempts": attempts, "next_attempt_ms": None, "last_error": error}
            log.warning("notification %s to %s failed for good: %s", row["id"], row["channel"], error)
        else:
            wait_ms = int(settings.alert_delivery_backoff_s * 1000 * 2 ** (attempts - 1))
            values = {"status": PENDING, "attempts": attempts, "next_attempt_ms": now + wait_ms, "last_error": error}
        with engine.begin() as connection:
            connection.execute(table.update().where(table.c.id == row["id"]).values(**values))
        counts[str(values["status"])] += 1
    return counts


def send_test(engine: Engine, settings: Settings, channel: Channel, actor: Actor) -> str | None:
    """Send a test message through ``channel`` now (saved or not) and log it; returns the error, or None when delivered.

    Needs ``edit_rules``, like changing the channel.
    """
    actor = require_edit(engine, actor, f"send a test through the channel {channel.name}")
    now = now_ms()
    message = Message(
        "test",
        "test",
        f"Test notification from Pulseboard, sent by {actor}",
        (
            {
                "fingerprint": "test",
                "rule": "test",
                "state": "firing",
                "severity": "info",
                "labels": {"alertname": "test"},
                "summary": f"This is a test of channel {channel.name}",
                "runbook": "",
                "fired_at": now,
                "resolved_at": None,
                "root_cause": True,
            },
        ),
    )
    key = queue(engine, channel, message, now)
    error = None
    try:
        notifier(channel.kind).send(channel.config, message, settings)
    except Exception as failure:  # noqa: BLE001 - reported to the person who pressed the button
        error = f"{type(failure).__name__}: {failure}"[:1000]
    with engine.begin() as connection:
        connection.execute(
            schema.notifications.update()
            .where(schema.notifications.c.id == key)
            .values(
                status=SENT if error is None else FAILED,
                attempts=1,
                next_attempt_ms=None,
                last_error=error,
                sent_ms=now if error is None else None,
            )
        )
    return error


def delivery_log(engine: Engine, limit: int = 200) -> pl.DataFrame:
    """The newest notifications with their status, attempts and last error."""
    table = schema.notifications
    columns = (
        "id",
        "created_ms",
        "channel",
        "kind",
        "notice",
        "title",
        "alert_count",
        "status",
        "attempts",
        "last_error",
        "sent_ms",
    )
    with engine.connect() as connection:
        rows = connection.execute(
            sa.select(*(table.c[c] for c in columns)).order_by(table.c.id.desc()).limit(limit)
        ).all()
    schema_ = {
        c: (pl.Int64 if c in ("id", "created_ms", "alert_count", "attempts", "sent_ms") else pl.String) for c in columns
    }
    return pl.DataFrame([tuple(r) for r in rows], schema=schema_, orient="row")
