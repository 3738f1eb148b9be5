"""Server-side login sessions: one row per logged-in browser, revocable.

Revision ID: 0010
Revises: 0009
Create Date: 2026-11-28

Until now the login cookie was a signed JWT naming the user, valid for its whole lifetime:
a copy taken before a logout kept working. From this revision the cookie carries a random
session secret whose SHA-256 is the ``id`` here; every page run checks the row, and a
logout, a password change or an administrator's "End sessions" revokes it
(core/auth/sessions.py). Cookies of earlier versions carry no session and are refused,
so every browser logs in once more after the upgrade.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0010"
down_revision = "0009"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "sessions",
        sa.Column("id", sa.String(64), primary_key=True),
        sa.Column("username", sa.String(64), nullable=False),
        sa.Column("created_ms", sa.BigInteger, nullable=False),
        sa.Column("last_seen_ms", sa.BigInteger, nullable=False),
        sa.Column("expires_ms", sa.BigInteger, nullable=False),
        sa.Column("revoked_ms", sa.BigInteger, nullable=True),
        sa.Column("revoked_by", sa.String(64), nullable=True),
        sa.Column("address", sa.String(64), nullable=True),
        sa.Index("ix_sessions_username", "username"),
    )


def downgrade() -> None:
    op.drop_table("sessions")
