"""One typed settings object for the whole process.

Precedence: ``PULSEBOARD_*`` environment variables, then ``pulseboard.toml`` (or the
file named by ``PULSEBOARD_CONFIG``), then the defaults below. Every field is
documented in docs/configuration.md; a test keeps the two in step. An invalid value
stops start-up with :class:`ConfigError`, whose message names the key and what is
allowed, so an operator never has to read a traceback to fix a typo.

Long on purpose: every setting lives here with its description and validation, and
docs/configuration.md is generated from it (scripts/config_table.py).
"""

from __future__ import annotations

import functools
import json
import os
import re
from pathlib import Path
from typing import Literal

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    SecretStr,
    ValidationError,
    ValidationInfo,
    field_validator,
    model_validator,
)
from pydantic_settings import (
    BaseSettings,
    PydanticBaseSettingsSource,
    SettingsConfigDict,
    TomlConfigSettingsSource,
)

ROOT = Path(__file__).resolve().parent.parent
ENV_PREFIX = "PULSEBOARD_"


URL_PASSWORD = re.compile(r"(\b[a-z][a-z0-9+.-]*://[^/?#@\s:]*:)[^@\s'\"]*@", re.IGNORECASE)


def redact_url_passwords(text: str) -> str:
    """``text`` with the password of every URL in it replaced by ``***``."""
    return URL_PASSWORD.sub(r"\1***@", text)


TICKET_PLACEHOLDERS = (
    "title",
    "body",
    "suite",
    "test",
    "status",
    "message",
    "failing_since",
    "first_failed",
    "run_link",
)
DEFAULT_TICKET_TEMPLATE = '{"title": "{title}", "body": "{body}", "labels": ["test-failure"]}'
_PLACEHOLDER = re.compile(r"\{([A-Za-z_][A-Za-z0-9_]*)\}")


def check_ticket_template(template: str) -> dict[str, object]:
    """The ticket template parsed; ValueError names the problem (not JSON, not an object, unknown placeholder)."""
    try:
        parsed = json.loads(template)
    except json.JSONDecodeError as error:
        raise ValueError(f"not valid JSON ({error.msg} at character {error.pos})") from None
    if not isinstance(parsed, dict):
        raise ValueError(f"must be a JSON object, got {type(parsed).__name__}")
    unknown = sorted(set(_PLACEHOLDER.findall(template)) - set(TICKET_PLACEHOLDERS))
    if unknown:
        raise ValueError(
            f"unknown placeholder(s) {', '.join('{' + u + '}' for u in unknown)}; "
            f"use {', '.join('{' + p + '}' for p in TICKET_PLACEHOLDERS)}"
        )
    return parsed


def anchor_sqlite_url(url: str) -> str:
    """``url`` with a relative SQLite path anchored at the project folder; other URLs unchanged."""
    prefix = "sqlite:///"
    if url.startswith(prefix):
        path = url.removeprefix(prefix)
        if path and path != ":memory:" and not Path(path).is_absolute():
            return prefix + str(ROOT / path)
    return url


class ConfigError(ValueError):
    """Raised when configuration cannot be used; the message is meant for humans."""


class PrometheusTarget(BaseModel):
    """One /metrics endpoint to scrape (an entry of ``prometheus_targets``)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    url: str = Field(description="http(s) URL of the exposition, e.g. http://host:9100/metrics.")
    job: str = Field(min_length=1, max_length=100, description="Value of the job label on every scraped sample.")
    instance: str | None = Field(
        default=None, description="Value of the instance label; defaults to host:port of the URL."
    )
    interval_s: float = Field(default=15.0, ge=1.0, le=3600.0, description="Scrape interval in seconds.")
    timeout_s: float = Field(
        default=10.0, gt=0.0, le=300.0, description="Scrape timeout in seconds; at most the interval."
    )
    labels: dict[str, str] = Field(default_factory=dict, description="Extra labels added to every scraped sample.")

    @field_validator("url")
    @classmethod
    def _http_url(cls, url: str) -> str:
        if not url.startswith(("http://", "https://")):
            raise ValueError("must be an http:// or https:// URL")
        return url

    @model_validator(mode="after")
    def _timeout_within_interval(self) -> PrometheusTarget:
        if self.timeout_s > self.interval_s:
            raise ValueError(f"timeout_s ({self.timeout_s}) must not exceed interval_s ({self.interval_s})")
        return self


class Settings(BaseSettings):
    """Everything Pulseboard can be told from outside the code."""

    model_config = SettingsConfigDict(env_prefix=ENV_PREFIX, extra="forbid", frozen=True, validate_default=True)

    database_url: str = Field(
        default="sqlite:///data/pulseboard.db",
        description="SQLAlchemy URL of the store; relative SQLite paths are under the project folder.",
    )
    data_dir: Path = Field(default=ROOT / "data", description="Folder for the SQLite file, spool and secrets.")
    inbox_dir: Path = Field(
        default=ROOT / "data" / "inbox", description="Folder watched for event, log and JUnit files."
    )
    demo: bool = Field(default=True, description="Run the demo workload simulator (data labelled source=demo).")
    collectors: bool = Field(default=True, description="Start collectors and background jobs in the app lifespan.")
    system_interval_s: float = Field(
        default=5.0, ge=1.0, le=3600.0, description="System collector interval in seconds."
    )
    max_body_bytes: int = Field(
        default=10_000_000, ge=1_024, le=1_000_000_000, description="Largest accepted API request body."
    )
    max_batch_items: int = Field(
        default=50_000, ge=1, le=10_000_000, description="Most samples or events in one batch."
    )
    max_labels: int = Field(default=32, ge=0, le=256, description="Most labels on one sample.")
    max_label_value_length: int = Field(
        default=1_024, ge=1, le=65_536, description="Longest label value, in characters."
    )
    max_name_length: int = Field(default=200, ge=1, le=1_000, description="Longest metric or label name.")
    metric_name_pattern: str = Field(
        default=r"[a-zA-Z_:][a-zA-Z0-9_:]*",
        description=(
            "Regular expression (Python syntax) every metric name must match in full. Use it to narrow the allowed "
            "names; a name outside the default cannot be written in a selector or in Prometheus text."
        ),
    )
    label_name_pattern: str = Field(
        default=r"[a-zA-Z_][a-zA-Z0-9_]*",
        description=(
            "Regular expression (Python syntax) every label name must match in full; "
            "names starting with '__' stay reserved whatever it allows."
        ),
    )
    max_regex_length: int = Field(
        default=1_000,
        ge=1,
        le=100_000,
        description=(
            "Longest regular expression a user may write (=~ and !~ in selectors: Explore, alert rules, silences, "
            "SLAs, widgets), in characters. Matching runs on RE2, in time linear in pattern and text; this bounds "
            "the pattern."
        ),
    )
    max_future_skew_s: int = Field(default=600, ge=0, description="How far in the future a timestamp may lie.")
    log_level: Literal["DEBUG", "INFO", "WARNING", "ERROR"] = Field(default="INFO", description="Server log level.")
    memory_snapshot_dir: Path | None = Field(
        default=None,
        description=(
            "Diagnostics: when set, the server traces its allocations (tracemalloc, which costs CPU and memory) and "
            "writes a snapshot here every memory_snapshot_interval_s, to find what grows (docs/deployment.md)."
        ),
    )
    memory_snapshot_interval_s: float = Field(
        default=300.0, ge=10.0, le=86_400.0, description="Seconds between two memory snapshots."
    )
    system_top_n: int = Field(
        default=5,
        ge=0,
        le=100,
        description="How many top processes (by CPU and by memory) the system collector reports.",
    )
    system_top_interval_s: float = Field(
        default=5.0,
        ge=1.0,
        le=3600.0,
        description="How often the system collector lists all processes for the top-N table, in seconds.",
    )
    collector_max_gap_intervals: float = Field(
        default=3.0,
        ge=1.5,
        le=100.0,
        description=(
            "A counter rate is dropped when its readings are more than this many intervals apart (sleep/resume)."
        ),
    )
    selfstats_interval_s: float = Field(
        default=15.0, ge=1.0, le=3600.0, description="Interval of the self-metrics collector, in seconds."
    )
    feed_push_interval_s: float = Field(
        default=300.0,
        ge=1.0,
        le=7 * 86_400.0,
        description=(
            "Expected interval of a feed pushed through the API (one per token), in seconds: late after twice, "
            "stale after three times this (docs/collectors.md#feeds-and-freshness)."
        ),
    )
    feed_retire_after_s: float = Field(
        default=7 * 86_400.0,
        ge=3_600.0,
        le=400 * 86_400.0,
        description=(
            "A feed silent for longer than this is retired, in seconds: listed on Operations, no longer on the "
            "Overview strip nor alerted on (a removed source must not stay stale forever)."
        ),
    )
    prometheus_targets: list[PrometheusTarget] = Field(
        default_factory=list,
        description="Prometheus /metrics URLs to scrape; as an environment variable, a JSON list of objects.",
    )
    db_watch_store: bool = Field(
        default=True, description="Let the database collector watch Pulseboard's own store (database_url)."
    )
    db_watch_urls: list[str] = Field(
        default_factory=list,
        description=(
            "More databases for the database collector to watch: SQLAlchemy URLs (postgresql+psycopg://... or "
            "sqlite:///...); as an environment variable, a JSON list. Passwords never appear in labels or logs."
        ),
    )
    db_interval_s: float = Field(
        default=15.0, ge=1.0, le=3600.0, description="Interval of the database collector, in seconds."
    )
    db_slow_query_s: float = Field(
        default=5.0,
        gt=0.0,
        le=86_400.0,
        description="A Postgres query active for longer than this counts as slow (db_slow_queries), in seconds.",
    )
    spool_max_bytes: int = Field(
        default=256 * 1024 * 1024,
        ge=1_024,
        description="Largest size of the on-disk spool; when full, new batches are refused with an error log.",
    )
    spool_retry_s: float = Field(
        default=5.0,
        gt=0.0,
        le=3600.0,
        description="How often the spool is replayed while the store or central server is unreachable, in seconds.",
    )
    api_store_timeout_s: float = Field(
        default=1.0,
        ge=0.05,
        le=30.0,
        description=(
            "How long an API request waits for a locked or busy store before its batch is spooled (202) or refused "
            "(503), in seconds; keeps answers during an outage within about two seconds (docs/api.md)."
        ),
    )
    api_spool_max_bytes: int = Field(
        default=256 * 1024 * 1024,
        ge=1_024,
        description=(
            "Largest size of the API spool (data_dir/api-spool), which keeps batches accepted while the store is "
            "down; when full, the API answers 503 with Retry-After."
        ),
    )
    idempotency_ttl_s: float = Field(
        default=86_400.0,
        ge=60.0,
        le=30 * 86_400.0,
        description="How long an API Idempotency-Key is remembered, with the answer it got, in seconds.",
    )
    api_token_grace_s: float = Field(
        default=600.0,
        ge=0.0,
        le=86_400.0,
        description=(
            "While the store cannot be read, an ingest token verified within this many seconds is still accepted "
            "(its batches are spooled); 0 refuses every request that cannot be verified (docs/security.md)."
        ),
    )
    job_lease_s: float = Field(
        default=30.0,
        ge=1.0,
        le=3600.0,
        description=(
            "Lease of each store-wide job (rollups, alerts, reports …) with several replicas on one Postgres: the "
            "holder renews it every third of this; when it dies, another replica takes its jobs over within this "
            "many seconds (docs/deployment.md)."
        ),
    )
    rollup_interval_s: float = Field(
        default=30.0,
        ge=1.0,
        le=3600.0,
        description="How often the rollup job folds new raw samples into the 1m/5m/1h tiers, in seconds.",
    )
    recording_interval_s: float = Field(
        default=60.0,
        ge=5.0,
        le=3600.0,
        description="How often the recording rules turn new events into series (docs/metrics.md), in seconds.",
    )
    recording_backfill_s: float = Field(
        default=30 * 86_400.0,
        ge=0.0,
        le=400 * 86_400.0,
        description=(
            "How far back the recording rules catch up after a fresh start or an outage, in seconds "
            "(instants older than a day at a 5-minute step)."
        ),
    )
    forecast_interval_s: float = Field(
        default=60.0,
        ge=5.0,
        le=3600.0,
        description=(
            "How often the forecast job looks for due refits (capacity, ETAs, Executive predictions; each horizon is "
            "refitted after 1/96 of it, e.g. every 15 min for 24 h) and for a 'Refit now' request, in seconds."
        ),
    )
    capacity_threshold_percent: float = Field(
        default=80.0,
        gt=0.0,
        le=100.0,
        description="Share of a resource's capacity at which the Capacity page counts it as running out, in percent.",
    )
    capacity_limits: dict[str, float] = Field(
        default_factory=lambda: {"qms_queue_depth": 20.0},
        description=(
            "Capacity of resources that are not a percentage, by metric: queue depth in items (default 20, the QMS's "
            "critical queue threshold), db_size_bytes in bytes (unset: growth shown, no time to threshold); as an "
            "environment variable, a JSON object."
        ),
    )
    retention_interval_s: float = Field(
        default=300.0,
        ge=10.0,
        le=86_400.0,
        description="How often the retention job deletes data past its age, in seconds.",
    )
    retention_raw_hours: float = Field(
        default=24.0, ge=1.0, le=87_600.0, description="How long raw samples are kept, in hours."
    )
    retention_1m_days: float = Field(
        default=7.0,
        ge=0.1,
        le=3650.0,
        description="How long 1-minute rollups are kept, in days (never less than the raw retention plus one hour).",
    )
    retention_5m_days: float = Field(
        default=30.0, ge=0.1, le=3650.0, description="How long 5-minute rollups are kept, in days."
    )
    retention_1h_days: float = Field(
        default=400.0, ge=0.1, le=36_500.0, description="How long 1-hour rollups are kept, in days."
    )
    retention_events_days: float = Field(
        default=90.0,
        ge=0.1,
        le=36_500.0,
        description="How long raw events are kept, in days (compliance events excepted).",
    )
    retention_compliance_days: float = Field(
        default=1095.0,
        ge=0.1,
        le=36_500.0,
        description=(
            "How long compliance events (types qa.compliance*, qse.*) and logged SLA breaches are kept, in days."
        ),
    )
    query_cache_ttl_s: float = Field(
        default=10.0,
        ge=0.0,
        le=3600.0,
        description="How long one series query result is shared between viewers, in seconds; 0 turns the cache off.",
    )
    max_data_points: int = Field(
        default=1_000,
        ge=10,
        le=11_000,
        description=(
            "Most points per series a chart or Explore asks for (about its width in pixels): the query step is the "
            "range divided by this, rounded up to a rollup bucket."
        ),
    )
    max_series_shown: int = Field(
        default=100,
        ge=1,
        le=2_000,
        description=(
            "Most series Explore draws and /api/v1/query returns for one selector; past it the top ones by the chosen "
            "statistic are shown and the rest counted as left out."
        ),
    )
    auth: Literal["on", "off"] = Field(
        default="on",
        description=(
            'Login and API tokens; "off" (no login, open API) is accepted only when the server is bound to localhost '
            "(--server.address 127.0.0.1)."
        ),
    )
    api_auth_open_health: bool = Field(
        default=True, description="Let /api/v1/health and /api/v1/ready answer without a token."
    )
    api_auth_open_metrics: bool = Field(
        default=True, description="Let /metrics (Pulseboard's own Prometheus metrics) answer without a token."
    )
    cookie_key: SecretStr | None = Field(
        default=None,
        description=(
            "Secret that signs login cookies; unset: generated once into data_dir/secrets/cookie_key (mode 0600). "
            "Set the same value on every replica."
        ),
    )
    auth_cookie_expiry_days: float = Field(
        default=7.0,
        ge=0.0,
        le=365.0,
        description="How long a login cookie keeps a browser logged in, in days; 0: log in again in every new session.",
    )
    auth_lockout_free_attempts: int = Field(
        default=3,
        ge=1,
        le=100,
        description="Failed logins allowed for one username before each further failure locks it (2 s, 4 s, 8 s, ...).",
    )
    auth_lockout_max_s: float = Field(
        default=900.0, ge=1.0, le=86_400.0, description="Longest lock-out after repeated failed logins, in seconds."
    )
    auth_session_idle_timeout_s: float = Field(
        default=43_200.0,
        ge=60.0,
        le=2_592_000.0,
        description=(
            "Seconds without a run of any of a login session's pages (a closed laptop, a forgotten tab) after "
            "which the session ends; an open page whose live panels refresh keeps it going."
        ),
    )
    auth_session_absolute_timeout_s: float = Field(
        default=604_800.0,
        ge=300.0,
        le=31_536_000.0,
        description=(
            "Seconds after the login at which a session ends however active it is; the login cookie expires then "
            "at the latest (see auth_cookie_expiry_days)."
        ),
    )
    alert_eval_interval_s: float = Field(
        default=15.0, ge=1.0, le=3600.0, description="How often alert rules are evaluated, in seconds."
    )
    alert_rules_file: Path = Field(
        default=ROOT / "alert_rules.yaml",
        description="YAML file of default alert rules, loaded into the store when it holds no rules yet.",
    )
    migration_plan_file: Path | None = Field(
        default=ROOT / "migration.yaml",
        description=(
            "The migration plan (phases, milestones, components; docs/migration.md) the Migration page and "
            "`python -m core.cli stats` judge the migration.* events against; a missing file means events only."
        ),
    )
    dashboards_dir: Path | None = Field(
        default=ROOT / "dashboards",
        description=(
            "Folder of dashboard JSON files provisioned into the store at start (docs/dashboards.md); a broken "
            "file is logged with its field and skipped; a missing folder or none provisions nothing."
        ),
    )
    report_schedules_file: Path = Field(
        default=ROOT / "report_schedules.yaml",
        description=(
            "YAML file of scheduled reports (docs/reports.md): the scheduler reads it every minute and admins edit "
            "it on the Reports page; a missing file means no schedule. A relative path is read from the project folder."
        ),
    )
    alert_repeat_interval_s: float = Field(
        default=14_400.0,
        ge=60.0,
        le=604_800.0,
        description="How long a still-firing alert waits before it is notified again, in seconds.",
    )
    alert_resolve_wait_s: float = Field(
        default=60.0,
        ge=0.0,
        le=86_400.0,
        description=(
            "How long an alert must stay resolved before the resolved notice is sent; "
            "a flapping alert that fires again meanwhile is not re-notified."
        ),
    )
    alert_correlation_window_s: float = Field(
        default=300.0,
        ge=0.0,
        le=86_400.0,
        description=(
            "Alerts of related components that fire within this many seconds of each other "
            "form one group with one notification."
        ),
    )
    alert_dependencies: dict[str, list[str]] = Field(
        default_factory=lambda: {"api": ["database"], "workflow": ["api"]},
        description=(
            "Component dependency map (component: components it depends on), used to pick the upstream alert "
            "of a group as its probable root cause; as an environment variable, a JSON object."
        ),
    )
    alert_delivery_attempts: int = Field(
        default=5, ge=1, le=50, description="How many times a notification is tried before it is marked failed."
    )
    alert_delivery_backoff_s: float = Field(
        default=30.0,
        ge=0.0,
        le=3600.0,
        description=(
            "Wait before the first retry of a failed notification, doubling after each further failure, in seconds."
        ),
    )
    alert_webhook_timeout_s: float = Field(
        default=10.0, gt=0.0, le=120.0, description="Timeout of one webhook delivery, in seconds."
    )
    ticket_webhook_url: SecretStr | None = Field(
        default=None,
        description=(
            "Where the QA page's \"Open an issue\" posts a failing test as JSON (an issue tracker's create-issue "
            "URL, or a bridge to one); unset: the action is not offered. Kept secret: it may carry a token."
        ),
    )
    ticket_webhook_token: SecretStr | None = Field(
        default=None, description="Bearer token sent in the Authorization header of each ticket; unset: no header."
    )
    ticket_webhook_template: str | None = Field(
        default=None,
        description=(
            "JSON object posted for a ticket; string values may hold {title}, {body}, {suite}, {test}, {status}, "
            "{message}, {failing_since}, {first_failed}, {run_link}. Unset: "
            '{"title": "{title}", "body": "{body}", "labels": ["test-failure"]} (GitHub issues shape).'
        ),
    )
    public_url: str | None = Field(
        default=None,
        description="Address people open Pulseboard at (https://pulse.example.com), for links in tickets; unset: none.",
    )
    smtp_host: str = Field(
        default="localhost", description="SMTP server for email notifications (a channel may override it)."
    )
    smtp_port: int = Field(default=25, ge=1, le=65_535, description="SMTP server port (a channel may override it).")
    smtp_from: str = Field(default="pulseboard@localhost", description="From address of alert emails.")
    smtp_username: str | None = Field(default=None, description="SMTP login name; unset: no login.")
    smtp_password: SecretStr | None = Field(default=None, description="SMTP password, used with smtp_username.")
    smtp_starttls: bool = Field(
        default=False, description="Upgrade the SMTP connection with STARTTLS before logging in."
    )
    smtp_timeout_s: float = Field(
        default=10.0, gt=0.0, le=120.0, description="Timeout of one SMTP delivery, in seconds."
    )
    files_interval_s: float = Field(
        default=5.0,
        ge=0.5,
        le=3600.0,
        description=(
            "How often the watched folder (inbox_dir) is scanned for event, evidence, QSE log and JUnit files, "
            "in seconds."
        ),
    )
    deployments_repo: Path | None = Field(
        default=None,
        description=(
            "Git checkout whose first-parent history is recorded as deployments; "
            "unset: deployments come only from system.deployment events."
        ),
    )
    deployments_component: str = Field(
        default="pulseboard",
        min_length=1,
        max_length=128,
        description="Component name given to deployments read from deployments_repo.",
    )
    deployments_tags_only: bool = Field(
        default=False,
        description=(
            "Count only tagged commits of deployments_repo as deployments (otherwise every first-parent commit)."
        ),
    )
    deployments_interval_s: float = Field(
        default=60.0,
        ge=1.0,
        le=86_400.0,
        description="How often deployments are read from git and from events, in seconds.",
    )
    demo_seed: int = Field(
        default=7, description="Seed of the demo workload; the same seed gives the same simulated history."
    )
    demo_interval_s: float = Field(
        default=10.0, ge=1.0, le=3600.0, description="How often the demo workload generates live data, in seconds."
    )
    sla_check_interval_s: float = Field(
        default=60.0,
        ge=5.0,
        le=3600.0,
        description="How often the SLA check logs breaches and evaluates burn-rate alerts, in seconds.",
    )
    sla_breach_lookback_h: float = Field(
        default=24.0,
        ge=1.0,
        le=720.0,
        description=(
            "How far back each SLA check looks for items that ended over target, in hours (breaches are logged once)."
        ),
    )
    sla_burn_min_items: int = Field(
        default=20,
        ge=0,
        le=1_000_000,
        description=(
            "Fewest items (metric SLAs: query buckets) a burn-rate rule's long window must hold before it may fire, "
            "so a handful of slow items cannot page; 0 turns the minimum off."
        ),
    )
    sla_burn_warmup_s: float = Field(
        default=3600.0,
        ge=0.0,
        le=30 * 86_400.0,
        description=(
            "How long after an SLA's data first appears (within the last 3 days) its burn-rate rules stay quiet, "
            "in seconds, so a fresh install's first slow page loads do not page; 0 turns the warm-up off."
        ),
    )
    sla_alert_channels: list[str] = Field(
        default_factory=list,
        description=(
            "Notification channels for SLA breach and burn-rate alerts; empty: every channel routed for the severity."
        ),
    )
    sla_escalation_channels: list[str] = Field(
        default_factory=lambda: ["sla-escalation"],
        description=(
            "Notification channels for SLA escalations (items past the escalation threshold); "
            "as an environment variable, a JSON list."
        ),
    )
    sla_utilisation_selector: str = Field(
        default="qms_agent_load_percent",
        description="Metric (selector) giving resource utilisation in percent, for bottleneck analysis.",
    )
    sla_utilisation_label: str = Field(
        default="agent", description="Label of sla_utilisation_selector that names the resource."
    )
    cost_per_agent_hour: float = Field(
        default=60.0,
        ge=0.0,
        le=100_000.0,
        description=(
            "Cost of one hour of review-agent work, for the Executive page's cost per review "
            "(shown only to roles with view_costs)."
        ),
    )
    cost_per_review_fixed: float = Field(
        default=5.0,
        ge=0.0,
        le=100_000.0,
        description="Fixed cost added to every review (tooling, infrastructure), for cost per review.",
    )
    cost_currency: str = Field(
        default="USD", min_length=1, max_length=8, description="Currency code written after cost figures."
    )
    qse_cof_weight: float = Field(
        default=0.6,
        ge=0.0,
        le=1.0,
        description="Weight of the mean COF dimension score in a QSE overall compliance score (docs/qse.md).",
    )
    qse_ucl_weight: float = Field(
        default=0.4,
        ge=0.0,
        le=1.0,
        description="Weight of the mean UCL law score in a QSE overall compliance score; the two weights sum to 1.",
    )
    qse_warning_below: float = Field(
        default=0.85, gt=0.0, le=1.0, description="QSE compliance (0–1) below which a score is in the warning band."
    )
    qse_critical_below: float = Field(
        default=0.75,
        gt=0.0,
        le=1.0,
        description="QSE compliance (0–1) below which a score is critical; below qse_warning_below.",
    )
    qse_template_effective: float = Field(
        default=0.85, gt=0.0, le=1.0, description="QSE template effectiveness (0–1) from which a template is effective."
    )
    qse_template_excellent: float = Field(
        default=0.90,
        gt=0.0,
        le=1.0,
        description="QSE template effectiveness (0–1) from which a template is excellent; at least the effective one.",
    )
    qse_template_min_uses: int = Field(
        default=5, ge=1, le=1_000, description="Sessions a QSE template needs in the range before it is judged."
    )
    qse_delay_multiplier: float = Field(
        default=1.5,
        gt=1.0,
        le=100.0,
        description="A QSE phase running longer than this times its planned hours is delayed (page and risk).",
    )
    qse_degradation_points: float = Field(
        default=5.0,
        gt=0.0,
        le=100.0,
        description="Drop in QSE compliance, in points, against the previous assessment that the page flags.",
    )
    qse_teams: list[str] = Field(
        default_factory=list,
        description=(
            "Every team of the organisation, for the QSE adoption rate; empty: the teams seen in QSE events. "
            "As an environment variable, a JSON list."
        ),
    )
    insights_interval_s: float = Field(
        default=300.0,
        ge=10.0,
        le=86_400.0,
        description="How often the insights job scores components and refreshes stale baselines (docs/insights.md).",
    )
    baseline_selectors: list[str] = Field(
        default_factory=lambda: [
            'api_request_duration_seconds{quantile="0.95"}',
            "api_errors_percent",
            "db_query_duration_seconds",
            "db_connection_pool_used_percent",
            "qms_agent_load_percent",
            "qms_queue_depth",
            "qms_step_duration_seconds",
            "system_cpu_percent",
            "system_memory_used_percent",
        ],
        description="Series (selectors) that get baselines, drift checks and deployment regression tests; a JSON list.",
    )
    baseline_days: int = Field(
        default=28, ge=2, le=365, description="History a baseline is computed from, in days (hour-of-week and rolling)."
    )
    baseline_refresh_s: float = Field(
        default=3600.0, ge=60.0, le=604_800.0, description="Age after which the insights job recomputes baselines."
    )
    baseline_band_sigma: float = Field(
        default=3.0, gt=0.0, le=20.0, description="Half-width of a baseline band in standard deviations."
    )
    baseline_min_samples: int = Field(
        default=3,
        ge=2,
        le=10_000,
        description="Hourly values an hour-of-week slot needs before its own band is used (else the rolling band).",
    )
    drift_minutes: float = Field(
        default=30.0,
        ge=1.0,
        le=10_080.0,
        description="Minutes the recent values must stay outside the baseline band before a drift is reported.",
    )
    regression_window_s: float = Field(
        default=7200.0,
        ge=600.0,
        le=604_800.0,
        description="Length of the before and after windows compared around each deployment, in seconds.",
    )
    regression_alpha: float = Field(
        default=0.01, gt=0.0, lt=0.5, description="Mann–Whitney p-value below which a before/after change counts."
    )
    regression_min_effect: float = Field(
        default=0.5,
        gt=0.0,
        le=1.0,
        description="Smallest effect size (Cliff's delta, after worse than before) reported as a regression.",
    )
    regression_min_change_percent: float = Field(
        default=10.0, ge=0.0, le=10_000.0, description="Smallest change of the median, in percent, reported."
    )
    opportunity_slow_query_ms: float = Field(
        default=100.0, gt=0.0, description="Mean database query time above which queries are an opportunity (ms)."
    )
    opportunity_cache_hit_percent: float = Field(
        default=80.0, gt=0.0, le=100.0, description="Database cache hit rate below which caching is an opportunity."
    )
    opportunity_host_cpu_percent: float = Field(
        default=30.0, gt=0.0, le=100.0, description="A host under this mean CPU % (and the memory limit) is idle."
    )
    opportunity_host_memory_percent: float = Field(
        default=50.0, gt=0.0, le=100.0, description="A host under this mean memory % (and the CPU limit) is idle."
    )
    opportunity_host_days: float = Field(
        default=7.0, gt=0.0, le=90.0, description="Days of host history over which over-provisioning is judged."
    )
    opportunity_agent_busy_percent: float = Field(
        default=85.0, gt=0.0, le=100.0, description="Mean agent load above which an agent is overloaded."
    )
    opportunity_agent_idle_percent: float = Field(
        default=20.0, ge=0.0, lt=100.0, description="Mean agent load below which an agent is idle."
    )
    opportunity_gate_pass_percent: float = Field(
        default=80.0, gt=0.0, le=100.0, description="QSE gate pass rate below which a team has a training gap."
    )
    opportunity_min_gates: int = Field(
        default=5, ge=1, le=10_000, description="QSE gate evaluations a team needs in the range before it is judged."
    )
    cost_team_rates: dict[str, float] = Field(
        default_factory=dict,
        description=(
            "Cost of one agent hour per team (the event's team, else its repository), overriding "
            "cost_per_agent_hour; a JSON object."
        ),
    )
    cost_per_escaped_defect: float = Field(
        default=1500.0,
        ge=0.0,
        le=10_000_000.0,
        description="What a defect found after release costs, for the quality programme's ROI.",
    )

    @field_validator("ticket_webhook_url")
    @classmethod
    def _ticket_http_url(cls, url: SecretStr | None) -> SecretStr | None:
        if url is not None and not url.get_secret_value().startswith(("http://", "https://")):
            raise ValueError("give the ticket webhook's http:// or https:// address")
        return url

    @field_validator("ticket_webhook_template")
    @classmethod
    def _ticket_template(cls, template: str | None) -> str | None:
        if template is not None:
            check_ticket_template(template)
        return template

    @field_validator("database_url")
    @classmethod
    def _known_backend(cls, url: str) -> str:
        if not url.startswith(("sqlite://", "postgresql+psycopg://", "postgresql://")):
            raise ValueError("must start with sqlite:/// or postgresql+psycopg://")
        if url.startswith("postgresql://"):
            url = "postgresql+psycopg://" + url.removeprefix("postgresql://")
        return url

    @field_validator("db_watch_urls")
    @classmethod
    def _known_watch_backends(cls, urls: list[str]) -> list[str]:
        from sqlalchemy.engine import make_url  # imported here: the settings module stays light to import
        from sqlalchemy.exc import ArgumentError

        checked = []
        for number, url in enumerate(urls, 1):  # messages never repeat the URL: it may hold a password
            if not url.startswith(("sqlite:///", "postgresql+psycopg://", "postgresql://")):
                raise ValueError(f"entry {number} must start with sqlite:/// or postgresql+psycopg://")
            if url.startswith("sqlite:///") and url.removeprefix("sqlite:///") in ("", ":memory:"):
                raise ValueError(f"entry {number} must name an SQLite file")
            if url.startswith("postgresql://"):
                url = "postgresql+psycopg://" + url.removeprefix("postgresql://")
            try:
                make_url(url)
            except (ArgumentError, ValueError):  # a bad port is a ValueError
                raise ValueError(f"entry {number} is not a valid database URL") from None
            checked.append(url)
        return checked

    @field_validator("metric_name_pattern", "label_name_pattern")
    @classmethod
    def _compiles(cls, pattern: str) -> str:
        try:
            re.compile(pattern)
        except re.error as error:
            raise ValueError(f"not a valid regular expression: {error}") from None
        if not pattern:
            raise ValueError("must not be empty")
        return pattern

    @field_validator("data_dir", "inbox_dir", "report_schedules_file")
    @classmethod
    def _anchor_relative(cls, path: Path) -> Path:
        return path if path.is_absolute() else ROOT / path

    @field_validator("migration_plan_file", "dashboards_dir")
    @classmethod
    def _anchor_plan(cls, path: Path | None) -> Path | None:
        return path if path is None or path.is_absolute() else ROOT / path

    @field_validator("qse_ucl_weight")
    @classmethod
    def _weights_sum_to_one(cls, ucl: float, info: ValidationInfo) -> float:
        """The two weights split one score: 0.7 + 0.4 would let a perfect session score 110 %."""
        cof = info.data.get("qse_cof_weight")
        if cof is not None and abs(cof + ucl - 1.0) > 1e-9:
            raise ValueError(
                f"qse_cof_weight + qse_ucl_weight must sum to 1, got {cof:g} + {ucl:g} = {cof + ucl:g}; "
                f"for example qse_cof_weight = {cof:g} and qse_ucl_weight = {1 - cof:g}"
            )
        return ucl

    @field_validator("qse_critical_below")
    @classmethod
    def _critical_under_warning(cls, critical: float, info: ValidationInfo) -> float:
        warning = info.data.get("qse_warning_below")
        if warning is not None and critical >= warning:
            raise ValueError(f"must be below qse_warning_below ({warning:g}), or no score would be a warning")
        return critical

    @field_validator("qse_template_excellent")
    @classmethod
    def _excellent_over_effective(cls, excellent: float, info: ValidationInfo) -> float:
        effective = info.data.get("qse_template_effective")
        if effective is not None and excellent < effective:
            raise ValueError(f"must be at least qse_template_effective ({effective:g})")
        return excellent

    @property
    def is_sqlite(self) -> bool:
        """True when the store is the embedded SQLite file."""
        return self.database_url.startswith("sqlite")

    @property
    def resolved_database_url(self) -> str:
        """The URL with a relative SQLite path anchored at the project folder."""
        return anchor_sqlite_url(self.database_url)

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        toml_path = Path(os.environ.get(ENV_PREFIX + "CONFIG", ROOT / "pulseboard.toml"))
        return (init_settings, env_settings, TomlConfigSettingsSource(settings_cls, toml_file=toml_path))


def describe_errors(error: ValidationError) -> str:
    """Turn pydantic's report into lines that name the env variable and the rule broken."""
    lines = []
    for item in error.errors():
        key = ".".join(str(part) for part in item["loc"]) or "(settings)"
        given = item.get("input")
        field = Settings.model_fields.get(str(item["loc"][0])) if item["loc"] else None
        secret = field is not None and "SecretStr" in str(field.annotation)  # never echo a secret, even a wrong one
        shown = "" if secret or isinstance(given, dict) else redact_url_passwords(f" (got {given!r})")
        lines.append(f"{ENV_PREFIX}{key.upper()} / {key} in pulseboard.toml: {item['msg']}{shown}")
    return "Invalid Pulseboard configuration:\n  " + "\n  ".join(lines)


def load_settings(**overrides: object) -> Settings:
    """Build settings from the environment and file, raising ConfigError on bad input."""
    try:
        return Settings(**overrides)  # type: ignore[arg-type]
    except ValidationError as error:
        raise ConfigError(describe_errors(error)) from None
    except (OSError, ValueError) as error:  # unreadable or malformed TOML file
        raise ConfigError(f"Invalid Pulseboard configuration file: {error}") from None


@functools.cache
def get_settings() -> Settings:
    """The process-wide settings, read once."""
    return load_settings()
