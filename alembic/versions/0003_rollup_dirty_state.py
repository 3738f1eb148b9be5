"""Rollup bookkeeping: which (series, minute) buckets changed, and how far raw retention has gone.

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-24
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "rollup_dirty",
        sa.Column("series_id", sa.Integer, sa.ForeignKey("series.id", ondelete="CASCADE"), primary_key=True),
        sa.Column("bucket", sa.BigInteger, primary_key=True),
        sa.Column("mark", sa.BigInteger, nullable=False),
        sqlite_with_rowid=False,
    )
    op.create_table(
        "rollup_state",
        sa.Column("name", sa.String(64), primary_key=True),
        sa.Column("value", sa.BigInteger, nullable=False),
    )
    # Samples stored before this revision were never rolled up: queue every minute they touch.
    op.execute(
        "INSERT INTO rollup_dirty (series_id, bucket, mark) "
        "SELECT DISTINCT series_id, (ts / 60000) * 60000, 1 FROM samples"
    )


def downgrade() -> None:
    op.drop_table("rollup_state")
    op.drop_table("rollup_dirty")
