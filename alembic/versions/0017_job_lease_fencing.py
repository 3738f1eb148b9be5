"""Fencing tokens on job leases, and a history of singleton job runs.

Revision ID: 0017
Revises: 0016
Create Date: 2026-12-07

``job_leases.token`` grows by one each time a store-wide job's lease changes owner, so a
replica that lost its lease while still running (paused, cut off) cannot write after the next
owner started (core/store/leases.py, docs/deployment.md "Replicas"). ``job_runs`` logs each run
of such a job: which replica (``host:pid``), under which token, when it started and ended, and
its error; a week of it is kept per job.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0017"
down_revision = "0016"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column("job_leases", sa.Column("token", sa.BigInteger, nullable=False, server_default="0"))
    op.create_table(
        "job_runs",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("job", sa.String(64), nullable=False),
        sa.Column("owner", sa.String(128), nullable=False),
        sa.Column("token", sa.BigInteger, nullable=False),
        sa.Column("started_ms", sa.BigInteger, nullable=False),
        sa.Column("finished_ms", sa.BigInteger, nullable=True),
        sa.Column("error", sa.Text, nullable=True),
        sa.Index("ix_job_runs_job_started", "job", "started_ms"),
    )


def downgrade() -> None:
    op.drop_table("job_runs")
    with op.batch_alter_table("job_leases") as batch:
        batch.drop_column("token")
