"""Per-feed freshness: one row per feed (collector, pushing token, watched file, recording, demo).

Revision ID: 0009
Revises: 0008
Create Date: 2026-11-27

Ingest upserts the row of the batch's feed in the same transaction as the batch
(core/ingest/feeds.py), so the freshness of every source is one indexed read instead of
a scan over every series. Feeds are known from this revision on: data stored before it
has no feed.

The Data freshness SLA read every ``pulseboard_data_freshness_seconds`` series; the
self-metrics collector now also writes one per feed (label ``feed``), which would hold
each feed's lag to the whole store's 5 s target. Its selector is narrowed to the
store-wide series (``feed=""``, the series without the label) unless an operator has
already changed it.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0009"
down_revision = "0008"
branch_labels = None
depends_on = None

OLD_SELECTOR = "pulseboard_data_freshness_seconds"
NEW_SELECTOR = 'pulseboard_data_freshness_seconds{feed=""}'
_definitions = sa.table("sla_definitions", sa.column("id", sa.String), sa.column("selector", sa.Text))


def upgrade() -> None:
    op.create_table(
        "feeds",
        sa.Column("feed", sa.String(256), primary_key=True),
        sa.Column("first_ms", sa.BigInteger, nullable=False),
        sa.Column("last_write_ms", sa.BigInteger, nullable=False),
        sa.Column("last_data_ms", sa.BigInteger, nullable=False),
        sa.Column("batches", sa.BigInteger, nullable=False),
        sa.Column("items", sa.BigInteger, nullable=False),
        sa.Column("gaps", sa.Integer, nullable=False, server_default="0"),
        sa.Column("gap_ms", sa.BigInteger, nullable=True),
        sa.Column("interval_ms", sa.BigInteger, nullable=True),
    )
    op.get_bind().execute(
        _definitions.update()
        .where(_definitions.c.id == "data_freshness", _definitions.c.selector == OLD_SELECTOR)
        .values(selector=NEW_SELECTOR)
    )


def downgrade() -> None:
    op.get_bind().execute(
        _definitions.update()
        .where(_definitions.c.id == "data_freshness", _definitions.c.selector == NEW_SELECTOR)
        .values(selector=OLD_SELECTOR)
    )
    op.drop_table("feeds")
