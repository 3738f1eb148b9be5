"""SLAs: definitions (seeded with the specification's defaults) and logged breaches.

Revision ID: 0006
Revises: 0005
Create Date: 2026-11-25

The seed rows are a frozen copy of ``core.sla.definitions.DEFAULTS`` as of this revision
(a test keeps them equal); they are inserted once, here, so an SLA an operator deleted
does not come back on the next start.
"""

from __future__ import annotations

import time

import sqlalchemy as sa
from alembic import op

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None

MIN, HOUR = 60.0, 3600.0
_COLUMNS = ("id", "name", "kind", "step", "selector", "target_s", "escalation_s", "response_s", "objective",
            "availability_target", "availability_selector")
SEED = (
    ("dor_validation", "DoR validation", "step", "dor_validation", None, 15 * MIN, 20 * MIN, None, 0.995,
     0.999, 'qms_agent_up{agent=~"qms-dor-validator-.*"}'),
    ("progress_reviews", "Progress reviews", "step", "progress_review", None, 2 * HOUR, 4 * HOUR, 30 * MIN, 0.99, None, None),
    ("dod_validation", "DoD validation", "step", "dod_validation", None, 10 * MIN, 15 * MIN, None, 0.995, None, None),
    ("final_qms_review", "Final QMS review", "step", "final_qms_review", None, 30 * MIN, 45 * MIN, 15 * MIN, 0.998, None, None),
    ("end_to_end_workflow", "End-to-end workflow", "workflow", None, None, 4 * HOUR, 6 * HOUR, None, 0.985, None, None),
    ("api_p50", "API response time p50", "latency", None, 'api_request_duration_seconds{quantile="0.5"}', 0.2, None, None, 0.99, None, None),
    ("api_p95", "API response time p95", "latency", None, 'api_request_duration_seconds{quantile="0.95"}', 0.5, None, None, 0.99, None, None),
    ("api_p99", "API response time p99", "latency", None, 'api_request_duration_seconds{quantile="0.99"}', 1.0, None, None, 0.99, None, None),
    ("dashboard_page_load", "Dashboard page load", "latency", None, "pulseboard_page_load_seconds", 2.0, None, None, 0.99, None, None),
    ("uptime", "System uptime", "availability", None, "up", None, None, None, 0.9995, None, None),
    ("data_freshness", "Data freshness", "latency", None, "pulseboard_data_freshness_seconds", 5.0, None, None, 0.99, None, None),
)


def upgrade() -> None:
    definitions = op.create_table(
        "sla_definitions",
        sa.Column("id", sa.String(64), primary_key=True),
        sa.Column("name", sa.String(200), nullable=False),
        sa.Column("kind", sa.String(16), nullable=False),
        sa.Column("step", sa.String(128), nullable=True),
        sa.Column("selector", sa.Text, nullable=True),
        sa.Column("target_s", sa.Float, nullable=True),
        sa.Column("escalation_s", sa.Float, nullable=True),
        sa.Column("response_s", sa.Float, nullable=True),
        sa.Column("objective", sa.Float, nullable=False),
        sa.Column("availability_target", sa.Float, nullable=True),
        sa.Column("availability_selector", sa.Text, nullable=True),
        sa.Column("period_days", sa.Integer, nullable=False, server_default="30"),
        sa.Column("enabled", sa.Boolean, nullable=False, server_default=sa.true()),
        sa.Column("updated_by", sa.String(64), nullable=False, server_default="system"),
        sa.Column("updated_ms", sa.BigInteger, nullable=False),
    )
    op.create_table(
        "sla_breaches",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("sla_id", sa.String(64), nullable=False),
        sa.Column("item_key", sa.String(256), nullable=False),
        sa.Column("workflow_id", sa.String(128), nullable=True),
        sa.Column("step", sa.String(128), nullable=True),
        sa.Column("ts", sa.BigInteger, nullable=False),
        sa.Column("started_ms", sa.BigInteger, nullable=True),
        sa.Column("ended_ms", sa.BigInteger, nullable=True),
        sa.Column("duration_s", sa.Float, nullable=False),
        sa.Column("target_s", sa.Float, nullable=False),
        sa.Column("over_s", sa.Float, nullable=False),
        sa.Column("severity", sa.String(16), nullable=False),
        sa.Column("escalated", sa.Boolean, nullable=False, server_default=sa.false()),
        sa.Column("escalated_ms", sa.BigInteger, nullable=True),
        sa.Column("impact", sa.JSON, nullable=False),
        sa.Column("detected_ms", sa.BigInteger, nullable=False),
        sa.Column("updated_ms", sa.BigInteger, nullable=False),
        sa.UniqueConstraint("sla_id", "item_key", name="uq_sla_breaches_item"),
        sa.Index("ix_sla_breaches_ts", "ts"),
    )
    now = int(time.time() * 1000)
    op.bulk_insert(definitions, [dict(zip(_COLUMNS, row, strict=True)) | {"period_days": 30, "enabled": True,
                                                                          "updated_by": "system", "updated_ms": now}
                                 for row in SEED])


def downgrade() -> None:
    op.drop_table("sla_breaches")
    op.drop_table("sla_definitions")
