"""Insights: stored baselines and dismissed or snoozed findings.

Revision ID: 0012
Revises: 0011
Create Date: 2026-12-07

Baselines (mean and spread per hour of the week, and a rolling one) take a scan of weeks of
hourly rollups per series, so the insights job computes them in the background and pages read
the rows. A dismissal or snooze of a finding must survive a restart, so it is a row, not state
in a browser session.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0012"
down_revision = "0011"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "baselines",
        sa.Column("series", sa.Text, nullable=False),
        sa.Column("slot", sa.Integer, nullable=False),
        sa.Column("mean", sa.Float, nullable=False),
        sa.Column("std", sa.Float, nullable=False),
        sa.Column("n", sa.Integer, nullable=False),
        sa.Column("computed_ms", sa.BigInteger, nullable=False),
        sa.Column("id", sa.String(64), primary_key=True),
    )
    op.create_table(
        "insight_dismissals",
        sa.Column("finding", sa.String(256), primary_key=True),
        sa.Column("state", sa.String(16), nullable=False),
        sa.Column("until_ms", sa.BigInteger, nullable=True),
        sa.Column("reason", sa.Text, nullable=False),
        sa.Column("actor", sa.String(64), nullable=False),
        sa.Column("ts", sa.BigInteger, nullable=False),
    )


def downgrade() -> None:
    op.drop_table("insight_dismissals")
    op.drop_table("baselines")
