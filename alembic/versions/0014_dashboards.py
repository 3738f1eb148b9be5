"""User dashboards.

Revision ID: 0014
Revises: 0013
Create Date: 2026-12-07

``dashboards`` keeps each saved or provisioned dashboard (docs/dashboards.md): its URL slug, owner,
the roles it is shared with, the roles it is the default dashboard of, the JSON definition and a
version that grows with every save (a save against an older version is refused, not lost).
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0014"
down_revision = "0013"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "dashboards",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("slug", sa.String(64), nullable=False, unique=True),
        sa.Column("title", sa.String(200), nullable=False),
        sa.Column("owner", sa.String(64), nullable=False),
        sa.Column("shared_roles", sa.JSON, nullable=False),
        sa.Column("default_for", sa.JSON, nullable=False),
        sa.Column("definition", sa.JSON, nullable=False),
        sa.Column("version", sa.Integer, nullable=False),
        sa.Column("origin", sa.String(300), nullable=False),
        sa.Column("updated_ms", sa.BigInteger, nullable=False),
        sa.Column("updated_by", sa.String(64), nullable=False),
    )


def downgrade() -> None:
    op.drop_table("dashboards")
