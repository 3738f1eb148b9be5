"""Stored forecasts: one row per fitted series and horizon, written by the forecast job.

Revision ID: 0011
Revises: 0010
Create Date: 2026-12-07

Prophet fits take a fraction of a second each and the Capacity page shows dozens, so they
run in the background job (core/forecasting/job.py) and pages read the finished rows. A row
keeps the inputs' last bucket (``last_bucket_ms``), so the job refits only once a newer
bucket has closed, and ``fitted_ms``, which the page shows as "fitted 4 min ago".
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0011"
down_revision = "0010"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "forecasts",
        sa.Column("id", sa.String(64), primary_key=True),
        sa.Column("subject", sa.String(32), nullable=False),
        sa.Column("target", sa.Text, nullable=False),
        sa.Column("horizon_s", sa.BigInteger, nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("fitted_ms", sa.BigInteger, nullable=False),
        sa.Column("last_bucket_ms", sa.BigInteger, nullable=True),
        sa.Column("fit_s", sa.Float, nullable=False),
        sa.Column("result", sa.JSON, nullable=False),
    )
    op.create_index("ix_forecasts_subject", "forecasts", ["subject"])


def downgrade() -> None:
    op.drop_index("ix_forecasts_subject", table_name="forecasts")
    op.drop_table("forecasts")
