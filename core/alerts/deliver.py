"""The delivery log: notifications are queued as rows, then sent with retries and exponential backoff.

Queuing and sending are separate so a slow or broken webhook never holds up
evaluation, a failure is retried ``alert_delivery_attempts`` times (waiting
``alert_delivery_backoff_s``, then twice as long each time; a channel may set its own
``max_attempts`` and ``backoff_s``), and every attempt's outcome is visible on the Alerts page.
Only failures that may pass are retried (timeouts, HTTP 5xx, 408, 429); an HTTP 4xx or a
missing secret fails at once (core.alerts.notify.http). A channel with ``rate_limit_per_minute``
sends at most that many in any 60 s; the rest wait, pending, with the reason in ``last_error``
(core.alerts.notify.options).
"""

from __future__ import annotations

import logging

import polars as pl
import sqlalchemy as sa
from sqlalchemy.engine import Connection, Engine

from core.alerts.notify import Message, notifier, options
from core.alerts.notify.base import stamp
from core.alerts.notify.http import PermanentDeliveryError
from core.alerts.objects import Channel, channels
from core.alerts.permissions import Actor, require_edit
from core.config import Settings
from core.model import now_ms
from core.store import schema
from core.store.leases import fence

log = logging.getLogger(__name__)
PENDING, SENT, FAILED = "pending", "sent", "failed"
CLAIM_MS = 300_000  # a send claimed by a replica that died before recording the outcome is tried again after this


def queue(engine: Engine, channel: Channel, message: Message, now: int) -> int:
    """Add one notification for ``channel``; returns its id."""
    with engine.begin() as connection:
        return queue_on(connection, channel, message, now)


def queue_on(connection: Connection, channel: Channel, message: Message, now: int) -> int:
    """Add one notification for ``channel`` in the caller's transaction (committed with what it notifies about)."""
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


def claim(engine: Engine, row_id: int, attempts: int, now: int) -> bool:
    """Take one pending notification for sending; False when another replica (or run) took it first.

    The claim counts the attempt and moves the next try ``CLAIM_MS`` away, so two replicas
    that read the same pending row never both send it; it is fenced, so a replica whose
    alerts lease moved on sends nothing.
    """
    table = schema.notifications
    with engine.begin() as connection:
        fence(connection)
        return bool(
            connection.execute(
                table.update()
                .where(table.c.id == row_id, table.c.status == PENDING, table.c.attempts == attempts)
                .values(attempts=attempts + 1, next_attempt_ms=now + CLAIM_MS)
            ).rowcount
        )


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
        opts = options.of(channel.config if channel else {}, settings)
        held = None if channel is None else held_until(engine, channel.name, opts.rate_limit_per_minute, now)
        if held is not None:
            note = f"held by the rate limit ({opts.rate_limit_per_minute} per minute) until {stamp(held)}"
            with engine.begin() as connection:
                connection.execute(
                    table.update().where(table.c.id == row["id"]).values(next_attempt_ms=held, last_error=note)
                )
            counts[PENDING] += 1
            continue
        if not claim(engine, row["id"], row["attempts"], now):
            continue
        error, permanent = None, False
        try:
            if channel is None:
                raise PermanentDeliveryError(f"channel {row['channel']!r} no longer exists")
            notifier(channel.kind).send(channel.config, Message.from_payload(row["payload"]), settings)
        except Exception as failure:  # noqa: BLE001 - any delivery problem is retried, never raised into the job
            error = f"{type(failure).__name__}: {failure}"[:1000]
            permanent = isinstance(failure, PermanentDeliveryError)
        attempts = row["attempts"] + 1
        if error is None:
            values = {"status": SENT, "attempts": attempts, "sent_ms": now, "next_attempt_ms": None, "last_error": None}
        elif permanent or attempts >= opts.max_attempts:
            error = f"not retried: {error}" if permanent else error
            values = {"status": FAILED, "attempts": attempts, "next_attempt_ms": None, "last_error": error[:1000]}
            log.warning("notification %s to %s failed for good: %s", row["id"], row["channel"], error)
        else:
            wait_ms = int(opts.backoff_s * 1000 * 2 ** (attempts - 1))
            values = {"status": PENDING, "attempts": attempts, "next_attempt_ms": now + wait_ms, "last_error": error}
        with engine.begin() as connection:
            connection.execute(table.update().where(table.c.id == row["id"]).values(**values))
        counts[str(values["status"])] += 1
    return counts


def held_until(engine: Engine, channel: str, per_minute: int | None, now: int) -> int | None:
    """When ``channel`` may send again under its limit of ``per_minute`` in any 60 s; None when it may send now."""
    if per_minute is None:
        return None
    table = schema.notifications
    with engine.connect() as connection:
        sent = list(
            connection.scalars(
                sa.select(table.c.sent_ms)
                .where(table.c.channel == channel)
                .where(table.c.sent_ms > now - 60_000)
                .where(table.c.sent_ms <= now)
                .order_by(table.c.sent_ms)
            )
        )
    return None if len(sent) < per_minute else int(sent[len(sent) - per_minute]) + 60_000


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
