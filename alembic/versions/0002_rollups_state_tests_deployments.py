"""Rollup tiers, collector state, job leases, test runs and deployments.

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-23
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None

TIERS = ("1m", "5m", "1h")


def upgrade() -> None:
    for tier in TIERS:
        op.create_table(
            f"samples_{tier}",
            sa.Column("series_id", sa.Integer, sa.ForeignKey("series.id", ondelete="CASCADE"), primary_key=True),
            sa.Column("bucket", sa.BigInteger, primary_key=True),
            sa.Column("count", sa.Integer, nullable=False),
            sa.Column("sum", sa.Float, nullable=False),
            sa.Column("min", sa.Float, nullable=False),
            sa.Column("max", sa.Float, nullable=False),
            sa.Column("last", sa.Float, nullable=False),
            sa.Column("last_ts", sa.BigInteger, nullable=False),
            sqlite_with_rowid=False,
        )
    op.create_table(
        "collector_state",
        sa.Column("collector", sa.String(64), primary_key=True),
        sa.Column("key", sa.String(512), primary_key=True),
        sa.Column("value", sa.JSON, nullable=False),
        sa.Column("updated_ms", sa.BigInteger, nullable=False),
    )
    op.create_table(
        "job_leases",
        sa.Column("job", sa.String(64), primary_key=True),
        sa.Column("owner", sa.String(128), nullable=False),
        sa.Column("expires_ms", sa.BigInteger, nullable=False),
        sa.Column("last_run_ms", sa.BigInteger, nullable=True),
        sa.Column("last_error", sa.Text, nullable=True),
    )
    op.create_table(
        "test_runs",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("run_key", sa.String(128), nullable=False, unique=True),
        sa.Column("suite", sa.String(256), nullable=False),
        sa.Column("component", sa.String(128), nullable=True),
        sa.Column("phase", sa.String(128), nullable=True),
        sa.Column("source", sa.String(128), nullable=False),
        sa.Column("ts", sa.BigInteger, nullable=False),
        sa.Column("tests", sa.Integer, nullable=False),
        sa.Column("failures", sa.Integer, nullable=False),
        sa.Column("errors", sa.Integer, nullable=False),
        sa.Column("skipped", sa.Integer, nullable=False),
        sa.Column("duration_s", sa.Float, nullable=False),
    )
    op.create_index("ix_test_runs_ts", "test_runs", ["ts"])
    op.create_table(
        "test_cases",
        sa.Column("run_id", sa.Integer, sa.ForeignKey("test_runs.id", ondelete="CASCADE"), primary_key=True),
        sa.Column("seq", sa.Integer, primary_key=True),
        sa.Column("suite", sa.String(512), nullable=False),
        sa.Column("classname", sa.String(512), nullable=True),
        sa.Column("name", sa.String(512), nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("duration_s", sa.Float, nullable=False),
        sa.Column("message", sa.Text, nullable=True),
    )
    op.create_table(
        "deployments",
        sa.Column("id", sa.String(128), primary_key=True),
        sa.Column("component", sa.String(128), nullable=False),
        sa.Column("version", sa.String(128), nullable=False),
        sa.Column("commit", sa.String(64), nullable=True),
        sa.Column("ts", sa.BigInteger, nullable=False),
        sa.Column("source", sa.String(128), nullable=False),
    )
    op.create_index("ix_deployments_ts", "deployments", ["ts"])


def downgrade() -> None:
    for table in ("deployments", "test_cases", "test_runs", "job_leases", "collector_state"):
        op.drop_table(table)
    for tier in TIERS:
        op.drop_table(f"samples_{tier}")
