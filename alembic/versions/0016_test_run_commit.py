"""The commit a JUnit run tested.

Revision ID: 0016
Revises: 0015
Create Date: 2026-12-07

``test_runs.commit`` (nullable) holds the ``commit`` label a report was pushed with
(``POST /api/v1/junit?commit=<sha>``). The QA page's Test results call a test flaky when it
passed and failed on the same commit, which only a run's commit can show; runs stored before,
or pushed without it, keep null and are judged by their outcome flips alone.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0016"
down_revision = "0015"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column("test_runs", sa.Column("commit", sa.String(64), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("test_runs") as batch:
        batch.drop_column("commit")
