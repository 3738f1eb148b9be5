"""Table definitions used by queries; alembic/versions/ creates them, this file names them.

Times are epoch milliseconds (BigInteger) on both backends: compact, sortable, and
free of timezone surprises. Labels are canonical JSON text with a fingerprint column
carrying the unique index, because a long label set would overflow a Postgres btree.
"""

from __future__ import annotations

import sqlalchemy as sa

metadata = sa.MetaData()

series = sa.Table(
    "series",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("fingerprint", sa.String(32), nullable=False, unique=True),
    sa.Column("name", sa.String(200), nullable=False, index=True),
    sa.Column("labels", sa.Text, nullable=False),
    sa.Column("kind", sa.String(16), nullable=False, server_default="untyped"),
    sa.Column("unit", sa.String(32), nullable=True),
    sa.Column("created_ms", sa.BigInteger, nullable=False),
)

samples = sa.Table(
    "samples",
    metadata,
    sa.Column("series_id", sa.Integer, sa.ForeignKey("series.id", ondelete="CASCADE"), primary_key=True),
    sa.Column("ts", sa.BigInteger, primary_key=True),
    sa.Column("value", sa.Float, nullable=False),
    sqlite_with_rowid=False,
)

events = sa.Table(
    "events",
    metadata,
    sa.Column("id", sa.String(128), primary_key=True),
    sa.Column("type", sa.String(128), nullable=False),
    sa.Column("ts", sa.BigInteger, nullable=False),
    sa.Column("source", sa.String(128), nullable=False),
    sa.Column("data", sa.JSON, nullable=False),
    sa.Column("metadata", sa.JSON, nullable=False),
    sa.Column("received_ms", sa.BigInteger, nullable=False),
    sa.Index("ix_events_ts", "ts"),
    sa.Index("ix_events_type_ts", "type", "ts"),
)


def _rollup(tier: str) -> sa.Table:
    return sa.Table(
        f"samples_{tier}",
        metadata,
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


samples_1m = _rollup("1m")
samples_5m = _rollup("5m")
samples_1h = _rollup("1h")
ROLLUP_TABLES = {"1m": samples_1m, "5m": samples_5m, "1h": samples_1h}

collector_state = sa.Table(
    "collector_state",
    metadata,
    sa.Column("collector", sa.String(64), primary_key=True),
    sa.Column("key", sa.String(512), primary_key=True),
    sa.Column("value", sa.JSON, nullable=False),
    sa.Column("updated_ms", sa.BigInteger, nullable=False),
)

job_leases = sa.Table(
    "job_leases",
    metadata,
    sa.Column("job", sa.String(64), primary_key=True),
    sa.Column("owner", sa.String(128), nullable=False),
    sa.Column("expires_ms", sa.BigInteger, nullable=False),
    sa.Column("last_run_ms", sa.BigInteger, nullable=True),
    sa.Column("last_error", sa.Text, nullable=True),
)

test_runs = sa.Table(
    "test_runs",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("run_key", sa.String(128), nullable=False, unique=True),
    sa.Column("suite", sa.String(256), nullable=False),
    sa.Column("component", sa.String(128), nullable=True),
    sa.Column("phase", sa.String(128), nullable=True),
    sa.Column("source", sa.String(128), nullable=False),
    sa.Column("ts", sa.BigInteger, nullable=False, index=True),
    sa.Column("tests", sa.Integer, nullable=False),
    sa.Column("failures", sa.Integer, nullable=False),
    sa.Column("errors", sa.Integer, nullable=False),
    sa.Column("skipped", sa.Integer, nullable=False),
    sa.Column("duration_s", sa.Float, nullable=False),
)

test_cases = sa.Table(
    "test_cases",
    metadata,
    sa.Column("run_id", sa.Integer, sa.ForeignKey("test_runs.id", ondelete="CASCADE"), primary_key=True),
    sa.Column("seq", sa.Integer, primary_key=True),
    sa.Column("suite", sa.String(512), nullable=False),
    sa.Column("classname", sa.String(512), nullable=True),
    sa.Column("name", sa.String(512), nullable=False),
    sa.Column("status", sa.String(16), nullable=False),
    sa.Column("duration_s", sa.Float, nullable=False),
    sa.Column("message", sa.Text, nullable=True),
)

deployments = sa.Table(
    "deployments",
    metadata,
    sa.Column("id", sa.String(128), primary_key=True),
    sa.Column("component", sa.String(128), nullable=False),
    sa.Column("version", sa.String(128), nullable=False),
    sa.Column("commit", sa.String(64), nullable=True),
    sa.Column("ts", sa.BigInteger, nullable=False, index=True),
    sa.Column("source", sa.String(128), nullable=False),
)

# Rollup bookkeeping (alembic 0003). Ingest upserts (series, minute) here, bumping
# ``mark``; the rollup job recomputes those minutes and deletes a row only if its mark
# is still the one it read, so a write that lands mid-run is never forgotten.
rollup_dirty = sa.Table(
    "rollup_dirty",
    metadata,
    sa.Column("series_id", sa.Integer, sa.ForeignKey("series.id", ondelete="CASCADE"), primary_key=True),
    sa.Column("bucket", sa.BigInteger, primary_key=True),
    sa.Column("mark", sa.BigInteger, nullable=False),
    sqlite_with_rowid=False,
)

# Named epoch-ms watermarks; ``raw_horizon``: raw samples below it were deleted by retention.
rollup_state = sa.Table(
    "rollup_state",
    metadata,
    sa.Column("name", sa.String(64), primary_key=True),
    sa.Column("value", sa.BigInteger, nullable=False),
)
