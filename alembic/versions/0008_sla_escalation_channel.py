"""Default notification channels: ``in-app`` for every warning and worse, and ``sla-escalation``.

Revision ID: 0008
Revises: 0007
Create Date: 2026-11-26

``sla_escalation_channels`` defaults to ``["sla-escalation"]``; without a channel of that
name escalations fell back to severity routing, i.e. to the same channels as every other
alert. The channel takes no severity of its own, so only what is routed to it by name
(SLA escalations) arrives there. Inserted once, here, and only when no channel of that
name exists: a channel an operator deleted or changed stays as they left it.

``in-app`` makes the menu's toasts work out of the box: without any channel, severity
routing had nowhere to deliver, so nobody was told about a firing alert.
"""

from __future__ import annotations

import time

import sqlalchemy as sa
from alembic import op

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None

CHANNELS = (
    {"name": "in-app", "kind": "inapp", "config": {}, "severities": ["warning", "error", "critical"], "enabled": True, "updated_by": "system"},
    {"name": "sla-escalation", "kind": "inapp", "config": {}, "severities": [], "enabled": True, "updated_by": "system"},
)

_channels = sa.table(
    "notification_channels",
    sa.column("name", sa.String), sa.column("kind", sa.String), sa.column("config", sa.JSON),
    sa.column("severities", sa.JSON), sa.column("enabled", sa.Boolean), sa.column("updated_by", sa.String),
    sa.column("updated_ms", sa.BigInteger),
)


def upgrade() -> None:
    bind = op.get_bind()
    for channel in CHANNELS:
        if bind.execute(sa.select(_channels.c.name).where(_channels.c.name == channel["name"])).first() is None:
            bind.execute(_channels.insert().values(channel | {"updated_ms": int(time.time() * 1000)}))


def downgrade() -> None:
    names = [channel["name"] for channel in CHANNELS]
    op.get_bind().execute(_channels.delete().where(_channels.c.name.in_(names), _channels.c.updated_by == "system"))
