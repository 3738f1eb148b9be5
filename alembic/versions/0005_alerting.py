"""Alerting: rules, live alert state, history, transitions, silences, mute timings, channels, deliveries.

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-25
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "alert_rules",
        sa.Column("name", sa.String(128), primary_key=True),
        sa.Column("kind", sa.String(32), nullable=False),
        sa.Column("severity", sa.String(16), nullable=False),
        sa.Column("enabled", sa.Boolean, nullable=False),
        sa.Column("spec", sa.JSON, nullable=False),
        sa.Column("updated_by", sa.String(64), nullable=False),
        sa.Column("updated_ms", sa.BigInteger, nullable=False),
    )
    op.create_table(
        "alerts",
        sa.Column("fingerprint", sa.String(32), primary_key=True),
        sa.Column("rule", sa.String(128), nullable=False, index=True),
        sa.Column("labels", sa.Text, nullable=False),
        sa.Column("severity", sa.String(16), nullable=False),
        sa.Column("state", sa.String(16), nullable=False),
        sa.Column("active_since", sa.BigInteger, nullable=True),
        sa.Column("fired_at", sa.BigInteger, nullable=True),
        sa.Column("resolved_at", sa.BigInteger, nullable=True),
        sa.Column("last_active_ms", sa.BigInteger, nullable=True),
        sa.Column("last_eval_ms", sa.BigInteger, nullable=False),
        sa.Column("last_value", sa.Float, nullable=True),
        sa.Column("summary", sa.Text, nullable=False, server_default=""),
        sa.Column("episode_id", sa.Integer, nullable=True),
        sa.Column("acknowledged_by", sa.String(64), nullable=True),
        sa.Column("acknowledged_at", sa.BigInteger, nullable=True),
        sa.Column("ack_comment", sa.Text, nullable=True),
        sa.Column("resolved_by", sa.String(64), nullable=True),
        sa.Column("suppressed", sa.String(32), nullable=True),
        sa.Column("group_key", sa.String(64), nullable=True),
        sa.Column("root_cause", sa.Boolean, nullable=False, server_default=sa.false()),
        sa.Column("notified_state", sa.String(16), nullable=True),
        sa.Column("last_notified_ms", sa.BigInteger, nullable=True),
        sa.Index("ix_alerts_state", "state"),
    )
    op.create_table(
        "alert_history",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("fingerprint", sa.String(32), nullable=False),
        sa.Column("rule", sa.String(128), nullable=False),
        sa.Column("labels", sa.Text, nullable=False),
        sa.Column("severity", sa.String(16), nullable=False),
        sa.Column("summary", sa.Text, nullable=False),
        sa.Column("fired_at", sa.BigInteger, nullable=False),
        sa.Column("resolved_at", sa.BigInteger, nullable=True),
        sa.Column("resolved_by", sa.String(64), nullable=True),
        sa.Column("acknowledged_by", sa.String(64), nullable=True),
        sa.Column("acknowledged_at", sa.BigInteger, nullable=True),
        sa.Column("ack_comment", sa.Text, nullable=True),
        sa.Index("ix_alert_history_fired_at", "fired_at"),
    )
    op.create_table(
        "alert_transitions",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("fingerprint", sa.String(32), nullable=False),
        sa.Column("rule", sa.String(128), nullable=False),
        sa.Column("ts", sa.BigInteger, nullable=False),
        sa.Column("from_state", sa.String(16), nullable=False),
        sa.Column("to_state", sa.String(16), nullable=False),
        sa.Column("value", sa.Float, nullable=True),
        sa.Index("ix_alert_transitions_ts", "ts"),
    )
    op.create_table(
        "silences",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("matchers", sa.Text, nullable=False),
        sa.Column("starts_ms", sa.BigInteger, nullable=False),
        sa.Column("ends_ms", sa.BigInteger, nullable=False),
        sa.Column("reason", sa.Text, nullable=False),
        sa.Column("created_by", sa.String(64), nullable=False),
        sa.Column("created_ms", sa.BigInteger, nullable=False),
    )
    op.create_table(
        "mute_timings",
        sa.Column("name", sa.String(128), primary_key=True),
        sa.Column("matchers", sa.Text, nullable=False),
        sa.Column("spec", sa.JSON, nullable=False),
        sa.Column("enabled", sa.Boolean, nullable=False),
        sa.Column("updated_by", sa.String(64), nullable=False),
        sa.Column("updated_ms", sa.BigInteger, nullable=False),
    )
    op.create_table(
        "notification_channels",
        sa.Column("name", sa.String(128), primary_key=True),
        sa.Column("kind", sa.String(32), nullable=False),
        sa.Column("config", sa.JSON, nullable=False),
        sa.Column("severities", sa.JSON, nullable=False),
        sa.Column("enabled", sa.Boolean, nullable=False),
        sa.Column("updated_by", sa.String(64), nullable=False),
        sa.Column("updated_ms", sa.BigInteger, nullable=False),
    )
    op.create_table(
        "notifications",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("channel", sa.String(128), nullable=False),
        sa.Column("kind", sa.String(32), nullable=False),
        sa.Column("notice", sa.String(16), nullable=False),
        sa.Column("group_key", sa.String(256), nullable=False),
        sa.Column("alert_count", sa.Integer, nullable=False),
        sa.Column("title", sa.Text, nullable=False),
        sa.Column("payload", sa.JSON, nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("attempts", sa.Integer, nullable=False),
        sa.Column("next_attempt_ms", sa.BigInteger, nullable=True),
        sa.Column("last_error", sa.Text, nullable=True),
        sa.Column("created_ms", sa.BigInteger, nullable=False),
        sa.Column("sent_ms", sa.BigInteger, nullable=True),
        sa.Index("ix_notifications_created", "created_ms"),
        sa.Index("ix_notifications_status", "status", "next_attempt_ms"),
    )


def downgrade() -> None:
    op.drop_table("notifications")
    op.drop_table("notification_channels")
    op.drop_table("mute_timings")
    op.drop_table("silences")
    op.drop_table("alert_transitions")
    op.drop_table("alert_history")
    op.drop_table("alerts")
    op.drop_table("alert_rules")
