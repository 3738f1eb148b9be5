"""Quality gate thresholds.

Revision ID: 0015
Revises: 0014
Create Date: 2026-12-07

``quality_gate_thresholds`` keeps every version of the thresholds a quality gate run is judged
against (docs/developer-qa.md): per scope (``*`` for the default, ``project:<org/repo>`` or
``team:<name>``), minimum coverage %, minimum test pass rate %, maximum defect density and minimum
review score. A change never updates a row: it adds the scope's next version, so the history of who
set what, when and why stays readable; ``removed`` marks the version that took a scope away.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0015"
down_revision = "0014"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "quality_gate_thresholds",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("scope", sa.String(200), nullable=False),
        sa.Column("version", sa.Integer, nullable=False),
        sa.Column("coverage_min", sa.Float, nullable=True),
        sa.Column("pass_rate_min", sa.Float, nullable=True),
        sa.Column("defect_density_max", sa.Float, nullable=True),
        sa.Column("review_score_min", sa.Float, nullable=True),
        sa.Column("removed", sa.Boolean, nullable=False),
        sa.Column("note", sa.Text, nullable=False),
        sa.Column("changed_by", sa.String(64), nullable=False),
        sa.Column("changed_ms", sa.BigInteger, nullable=False),
        sa.UniqueConstraint("scope", "version", name="uq_quality_gate_thresholds_version"),
    )


def downgrade() -> None:
    op.drop_table("quality_gate_thresholds")
