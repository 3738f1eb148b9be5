"""Table definitions used by queries; alembic/versions/ creates them, this file names them.

Times are epoch milliseconds (BigInteger) on both backends: compact, sortable, and
free of timezone surprises. Labels are canonical JSON text with a fingerprint column
carrying the unique index, because a long label set would overflow a Postgres btree.

One long file on purpose: the whole schema on one page is what the Alembic migrations are
checked against (tests/test_migrations.py).
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
    sa.Column("token", sa.BigInteger, nullable=False, server_default="0"),  # alembic 0017: fencing token
)

# alembic 0017: one row per run of a singleton job (core/store/leases.py), a week kept per job.
job_runs = sa.Table(
    "job_runs",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("job", sa.String(64), nullable=False),
    sa.Column("owner", sa.String(128), nullable=False),
    sa.Column("token", sa.BigInteger, nullable=False),
    sa.Column("started_ms", sa.BigInteger, nullable=False),
    sa.Column("finished_ms", sa.BigInteger, nullable=True),
    sa.Column("error", sa.Text, nullable=True),
    sa.Index("ix_job_runs_job_started", "job", "started_ms"),
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
    sa.Column("commit", sa.String(64), nullable=True),  # alembic 0016: the commit the run tested, when pushed with it
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

# Authentication and audit (alembic 0004). Passwords are bcrypt hashes; API tokens are
# stored as the SHA-256 of a 256-bit random secret, so a leaked table grants nothing.
users = sa.Table(
    "users",
    metadata,
    sa.Column("username", sa.String(64), primary_key=True),
    sa.Column("display_name", sa.String(200), nullable=False),
    sa.Column("email", sa.String(320), nullable=False, server_default=""),
    sa.Column("password_hash", sa.String(100), nullable=False),
    sa.Column("roles", sa.JSON, nullable=False),
    sa.Column("disabled", sa.Boolean, nullable=False, server_default=sa.false()),
    sa.Column("must_change_password", sa.Boolean, nullable=False, server_default=sa.false()),
    sa.Column("created_ms", sa.BigInteger, nullable=False),
    sa.Column("updated_ms", sa.BigInteger, nullable=False),
)

api_tokens = sa.Table(
    "api_tokens",
    metadata,
    sa.Column("id", sa.String(32), primary_key=True),
    sa.Column("name", sa.String(200), nullable=False),
    sa.Column("token_hash", sa.String(64), nullable=False, unique=True),
    sa.Column("scopes", sa.JSON, nullable=False),
    sa.Column("created_by", sa.String(64), nullable=False),
    sa.Column("created_ms", sa.BigInteger, nullable=False),
    sa.Column("expires_ms", sa.BigInteger, nullable=True),
    sa.Column("last_used_ms", sa.BigInteger, nullable=True),
    sa.Column("revoked_ms", sa.BigInteger, nullable=True),
)

audit_log = sa.Table(
    "audit_log",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("ts", sa.BigInteger, nullable=False),
    sa.Column("actor", sa.String(64), nullable=False),
    sa.Column("action", sa.String(64), nullable=False),
    sa.Column("target", sa.String(256), nullable=True),
    sa.Column("detail", sa.JSON, nullable=False),
    sa.Column("address", sa.String(64), nullable=True),
    sa.Index("ix_audit_log_ts", "ts"),
    sa.Index("ix_audit_log_actor_ts", "actor", "ts"),
)

login_failures = sa.Table(
    "login_failures",
    metadata,
    sa.Column("username", sa.String(64), primary_key=True),
    sa.Column("count", sa.Integer, nullable=False),
    sa.Column("last_failure_ms", sa.BigInteger, nullable=False),
    sa.Column("locked_until_ms", sa.BigInteger, nullable=False),
)

# Server-side login sessions (alembic 0010, core/auth/sessions.py): the login cookie carries
# a random secret whose SHA-256 is ``id``; every page run looks the row up, so a logout,
# password change or admin "End sessions" (``revoked_ms``) ends it at once. Rows that can
# no longer be used are deleted at the next login.
sessions = sa.Table(
    "sessions",
    metadata,
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

# Alerting (alembic 0005, docs/alerting.md). A rule is stored as its validated YAML/JSON
# spec; one ``alerts`` row per (rule, label set) fingerprint carries the live state,
# ``alert_history`` one row per firing episode, ``alert_transitions`` every state change.
alert_rules = sa.Table(
    "alert_rules",
    metadata,
    sa.Column("name", sa.String(128), primary_key=True),
    sa.Column("kind", sa.String(32), nullable=False),
    sa.Column("severity", sa.String(16), nullable=False),
    sa.Column("enabled", sa.Boolean, nullable=False),
    sa.Column("spec", sa.JSON, nullable=False),
    sa.Column("updated_by", sa.String(64), nullable=False),
    sa.Column("updated_ms", sa.BigInteger, nullable=False),
)

alerts = sa.Table(
    "alerts",
    metadata,
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

alert_history = sa.Table(
    "alert_history",
    metadata,
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

alert_transitions = sa.Table(
    "alert_transitions",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("fingerprint", sa.String(32), nullable=False),
    sa.Column("rule", sa.String(128), nullable=False),
    sa.Column("ts", sa.BigInteger, nullable=False),
    sa.Column("from_state", sa.String(16), nullable=False),
    sa.Column("to_state", sa.String(16), nullable=False),
    sa.Column("value", sa.Float, nullable=True),
    sa.Index("ix_alert_transitions_ts", "ts"),
)

silences = sa.Table(
    "silences",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("matchers", sa.Text, nullable=False),
    sa.Column("starts_ms", sa.BigInteger, nullable=False),
    sa.Column("ends_ms", sa.BigInteger, nullable=False),
    sa.Column("reason", sa.Text, nullable=False),
    sa.Column("created_by", sa.String(64), nullable=False),
    sa.Column("created_ms", sa.BigInteger, nullable=False),
)

mute_timings = sa.Table(
    "mute_timings",
    metadata,
    sa.Column("name", sa.String(128), primary_key=True),
    sa.Column("matchers", sa.Text, nullable=False),
    sa.Column("spec", sa.JSON, nullable=False),
    sa.Column("enabled", sa.Boolean, nullable=False),
    sa.Column("updated_by", sa.String(64), nullable=False),
    sa.Column("updated_ms", sa.BigInteger, nullable=False),
)

notification_channels = sa.Table(
    "notification_channels",
    metadata,
    sa.Column("name", sa.String(128), primary_key=True),
    sa.Column("kind", sa.String(32), nullable=False),
    sa.Column("config", sa.JSON, nullable=False),
    sa.Column("severities", sa.JSON, nullable=False),
    sa.Column("enabled", sa.Boolean, nullable=False),
    sa.Column("updated_by", sa.String(64), nullable=False),
    sa.Column("updated_ms", sa.BigInteger, nullable=False),
)

notifications = sa.Table(
    "notifications",
    metadata,
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

# SLAs (alembic 0006). Definitions are seeded with the specification's defaults; a breach
# row is one item over its target (``ts``: the moment it crossed it), updated while open.
sla_definitions = sa.Table(
    "sla_definitions",
    metadata,
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

sla_breaches = sa.Table(
    "sla_breaches",
    metadata,
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

# Per-feed freshness (alembic 0009, docs/collectors.md#feeds-and-freshness). A feed is one
# source of data (an ingest origin such as ``collector:system``, ``api:<token name>``,
# ``files:<file>``, ``recording``, ``demo``); ingest upserts its row in the batch's own
# transaction. ``last_data_ms`` is the newest sample or event time the feed delivered,
# ``last_write_ms`` when its newest batch arrived; ``gap_ms`` is the learned interval (the
# largest recent step forward of ``last_data_ms``, decaying by a tenth per smaller step) over
# ``gaps`` counted steps; ``interval_ms`` the interval its writer declared (a collector's schedule).
feeds = sa.Table(
    "feeds",
    metadata,
    sa.Column("feed", sa.String(256), primary_key=True),
    sa.Column("first_ms", sa.BigInteger, nullable=False),
    sa.Column("last_write_ms", sa.BigInteger, nullable=False),
    sa.Column("last_data_ms", sa.BigInteger, nullable=False),
    sa.Column("batches", sa.BigInteger, nullable=False),
    sa.Column("items", sa.BigInteger, nullable=False),
    sa.Column("gaps", sa.Integer, nullable=False, server_default="0"),
    sa.Column("gap_ms", sa.BigInteger, nullable=True),
    sa.Column("interval_ms", sa.BigInteger, nullable=True),
)

# Stored forecasts (alembic 0011, docs/forecasting.md). One row per (subject, target, horizon):
# ``subject`` is what asked (capacity, eta, executive), ``target`` what was fitted (a series'
# display name, a session id, a KPI), ``id`` a hash of the three. ``last_bucket_ms`` is the
# newest input bucket the fit saw (a refit is due once a newer one has closed); ``result`` the
# forecast, its history and the figures derived from it, as JSON.
forecasts = sa.Table(
    "forecasts",
    metadata,
    sa.Column("id", sa.String(64), primary_key=True),
    sa.Column("subject", sa.String(32), nullable=False),
    sa.Column("target", sa.Text, nullable=False),
    sa.Column("horizon_s", sa.BigInteger, nullable=False),
    sa.Column("status", sa.String(16), nullable=False),
    sa.Column("fitted_ms", sa.BigInteger, nullable=False),
    sa.Column("last_bucket_ms", sa.BigInteger, nullable=True),
    sa.Column("fit_s", sa.Float, nullable=False),
    sa.Column("result", sa.JSON, nullable=False),
    sa.Index("ix_forecasts_subject", "subject"),
)

# Baselines (alembic 0012, docs/insights.md). One row per (series, slot): ``slot`` is an hour of the
# week (0 = Monday 00:00 UTC … 167) or -1 for the rolling baseline of the whole history; ``mean``/``std``
# of the hourly values in that slot, ``n`` how many. The insights job rewrites a series' rows together.
baselines = sa.Table(
    "baselines",
    metadata,
    sa.Column("series", sa.Text, nullable=False),
    sa.Column("slot", sa.Integer, nullable=False),
    sa.Column("mean", sa.Float, nullable=False),
    sa.Column("std", sa.Float, nullable=False),
    sa.Column("n", sa.Integer, nullable=False),
    sa.Column("computed_ms", sa.BigInteger, nullable=False),
    sa.Column("id", sa.String(64), primary_key=True),
)

# Dismissed or snoozed insights (alembic 0012): ``finding`` is the finding's stable id; a snooze has
# ``until_ms``, a dismissal none. Each change is also written to the audit log.
insight_dismissals = sa.Table(
    "insight_dismissals",
    metadata,
    sa.Column("finding", sa.String(256), primary_key=True),
    sa.Column("state", sa.String(16), nullable=False),
    sa.Column("until_ms", sa.BigInteger, nullable=True),
    sa.Column("reason", sa.Text, nullable=False),
    sa.Column("actor", sa.String(64), nullable=False),
    sa.Column("ts", sa.BigInteger, nullable=False),
)

# Generated reports and their deliveries (alembic 0013, docs/reports.md). ``reports`` is the Reports page's
# history: who asked (a username or ``schedule:<name>``), what (kind, format, period, scope), the generation's
# progress and status, and the finished file itself (``content``). ``report_deliveries`` is one row per
# scheduled report and target (email, webhook, folder): its status, attempts and last error, so a failed
# delivery is retried at ``next_attempt_ms`` and shown on the page, never lost.
reports = sa.Table(
    "reports",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("kind", sa.String(16), nullable=False),
    sa.Column("format", sa.String(8), nullable=False),
    sa.Column("start_ms", sa.BigInteger, nullable=False),
    sa.Column("end_ms", sa.BigInteger, nullable=False),
    sa.Column("scope", sa.JSON, nullable=False),
    sa.Column("requested_by", sa.String(128), nullable=False),
    sa.Column("requested_ms", sa.BigInteger, nullable=False),
    sa.Column("status", sa.String(16), nullable=False),  # running, done, failed
    sa.Column("progress", sa.Float, nullable=False),
    sa.Column("message", sa.Text, nullable=True),
    sa.Column("finished_ms", sa.BigInteger, nullable=True),
    sa.Column("size", sa.BigInteger, nullable=True),
    sa.Column("content", sa.LargeBinary, nullable=True),
    sa.Index("ix_reports_requested_ms", "requested_ms"),
)
report_deliveries = sa.Table(
    "report_deliveries",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("schedule", sa.String(128), nullable=False),
    sa.Column("due_ms", sa.BigInteger, nullable=False),  # the scheduled instant this delivery belongs to
    sa.Column("report_id", sa.Integer, nullable=True),
    sa.Column("target", sa.Text, nullable=False),  # e.g. email:ops@example.org, webhook:URL, folder:PATH
    sa.Column("status", sa.String(16), nullable=False),  # pending, delivered, failed (gave up)
    sa.Column("attempts", sa.Integer, nullable=False),
    sa.Column("last_error", sa.Text, nullable=True),
    sa.Column("next_attempt_ms", sa.BigInteger, nullable=True),
    sa.Column("created_ms", sa.BigInteger, nullable=False),
    sa.Column("delivered_ms", sa.BigInteger, nullable=True),
    sa.UniqueConstraint("schedule", "due_ms", "target", name="uq_report_deliveries_run"),
    sa.Index("ix_report_deliveries_status", "status"),
)

# User dashboards (alembic 0014, docs/dashboards.md): one row per saved or provisioned dashboard. ``definition``
# is the validated JSON document (core.dashboards.model); ``shared_roles`` the roles that may open it besides its
# owner, ``default_for`` the roles that see it first; ``version`` grows with every save; ``origin`` is ``user`` or
# ``file:<name>.json`` for a provisioned one.
dashboards = sa.Table(
    "dashboards",
    metadata,
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

# Quality gate thresholds (alembic 0015, docs/developer-qa.md): every change is a new version row of its scope
# (``*``, ``project:<org/repo>`` or ``team:<name>``); the newest version of a scope is in force unless ``removed``.
# A threshold left null is not checked.
quality_gate_thresholds = sa.Table(
    "quality_gate_thresholds",
    metadata,
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
