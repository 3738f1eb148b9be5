"""Generated reports and scheduled deliveries.

Revision ID: 0013
Revises: 0012
Create Date: 2026-12-07

``reports`` keeps every generated report (who, what, period, scope, progress, the file) for the Reports
page's history and downloads; ``report_deliveries`` one row per scheduled run and target with its status,
attempts and last error, so failed deliveries are retried and visible (docs/reports.md).
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0013"
down_revision = "0012"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "reports",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("kind", sa.String(16), nullable=False),
        sa.Column("format", sa.String(8), nullable=False),
        sa.Column("start_ms", sa.BigInteger, nullable=False),
        sa.Column("end_ms", sa.BigInteger, nullable=False),
        sa.Column("scope", sa.JSON, nullable=False),
        sa.Column("requested_by", sa.String(128), nullable=False),
        sa.Column("requested_ms", sa.BigInteger, nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("progress", sa.Float, nullable=False),
        sa.Column("message", sa.Text, nullable=True),
        sa.Column("finished_ms", sa.BigInteger, nullable=True),
        sa.Column("size", sa.BigInteger, nullable=True),
        sa.Column("content", sa.LargeBinary, nullable=True),
    )
    op.create_index("ix_reports_requested_ms", "reports", ["requested_ms"])
    op.create_table(
        "report_deliveries",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("schedule", sa.String(128), nullable=False),
        sa.Column("due_ms", sa.BigInteger, nullable=False),
        sa.Column("report_id", sa.Integer, nullable=True),
        sa.Column("target", sa.Text, nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("attempts", sa.Integer, nullable=False),
        sa.Column("last_error", sa.Text, nullable=True),
        sa.Column("next_attempt_ms", sa.BigInteger, nullable=True),
        sa.Column("created_ms", sa.BigInteger, nullable=False),
        sa.Column("delivered_ms", sa.BigInteger, nullable=True),
        sa.UniqueConstraint("schedule", "due_ms", "target", name="uq_report_deliveries_run"),
    )
    op.create_index("ix_report_deliveries_status", "report_deliveries", ["status"])


def downgrade() -> None:
    op.drop_index("ix_report_deliveries_status", table_name="report_deliveries")
    op.drop_table("report_deliveries")
    op.drop_index("ix_reports_requested_ms", table_name="reports")
    op.drop_table("reports")
