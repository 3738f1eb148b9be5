"""The audit log: who did what, when, to what, and from which address.

Every security-relevant change writes one row here (logins and their failures,
logouts, acknowledgements, rule/SLA/silence/user/token changes, exports). Rows are
only ever inserted; the admin and audit pages read them back with filters and CSV.
"""

from __future__ import annotations

import json
from typing import Any

import polars as pl
import sqlalchemy as sa
from sqlalchemy.engine import Engine

from core.model import now_ms
from core.store.schema import audit_log

# Action names used by core; other modules may add their own (dot-free snake_case).
LOGIN = "login"
LOGIN_FAILED = "login_failed"
LOGIN_LOCKED = "login_locked"
LOGOUT = "logout"
PASSWORD_CHANGED = "password_changed"
SESSIONS_ENDED = "sessions_ended"  # an administrator ended every session of a user
PAGE_REFUSED = "page_refused"
USER_CREATED = "user_created"
USER_UPDATED = "user_updated"
USER_PASSWORD_RESET = "user_password_reset"
TOKEN_CREATED = "token_created"
TOKEN_REVOKED = "token_revoked"
ALERT_ACKNOWLEDGED = "alert_acknowledged"
ALERT_RESOLVED = "alert_resolved"
RULE_CHANGED = "rule_changed"
SLA_CHANGED = "sla_changed"
SILENCE_CHANGED = "silence_changed"
CHANNEL_CHANGED = "channel_changed"
EXPORT = "export"
DEMO_PURGED = "demo_purged"
INSIGHT_DISMISSED = "insight_dismissed"  # an insight dismissed, snoozed or shown again
INSIGHT_SNOOZED = "insight_snoozed"
INSIGHT_RESTORED = "insight_restored"
DASHBOARD_CHANGED = "dashboard_changed"  # a dashboard created, saved, shared, made a default, deleted or provisioned
GATE_THRESHOLDS_CHANGED = "gate_thresholds_changed"  # a new version of a quality gate scope's thresholds

ACTIONS = (
    LOGIN,
    LOGIN_FAILED,
    LOGIN_LOCKED,
    LOGOUT,
    PASSWORD_CHANGED,
    SESSIONS_ENDED,
    PAGE_REFUSED,
    USER_CREATED,
    USER_UPDATED,
    USER_PASSWORD_RESET,
    TOKEN_CREATED,
    TOKEN_REVOKED,
    ALERT_ACKNOWLEDGED,
    ALERT_RESOLVED,
    RULE_CHANGED,
    SLA_CHANGED,
    SILENCE_CHANGED,
    CHANNEL_CHANGED,
    EXPORT,
    DEMO_PURGED,
    INSIGHT_DISMISSED,
    INSIGHT_SNOOZED,
    INSIGHT_RESTORED,
    DASHBOARD_CHANGED,
    GATE_THRESHOLDS_CHANGED,
)

COLUMNS = ("id", "ts", "actor", "action", "target", "detail", "address")


def record(
    engine: Engine,
    actor: str,
    action: str,
    target: str | None = None,
    detail: dict[str, Any] | None = None,
    address: str | None = None,
    ts: int | None = None,
) -> None:
    """Append one entry; ``actor`` is a username, ``token:<id>`` or ``system``."""
    with engine.begin() as connection:
        connection.execute(
            audit_log.insert().values(
                ts=now_ms() if ts is None else ts,
                actor=actor[:64],
                action=action[:64],
                target=None if target is None else target[:256],
                detail=detail or {},
                address=None if address is None else address[:64],
            )
        )


def entries(
    engine: Engine,
    since_ms: int | None = None,
    until_ms: int | None = None,
    actor: str | None = None,
    actions: tuple[str, ...] = (),
    text: str = "",
    limit: int = 1_000,
) -> pl.DataFrame:
    """Entries newest first, filtered by time, actor, actions and a substring of the target."""
    query = sa.select(*(audit_log.c[name] for name in COLUMNS)).order_by(audit_log.c.ts.desc(), audit_log.c.id.desc())
    if since_ms is not None:
        query = query.where(audit_log.c.ts >= since_ms)
    if until_ms is not None:
        query = query.where(audit_log.c.ts < until_ms)
    if actor:
        query = query.where(audit_log.c.actor == actor)
    if actions:
        query = query.where(audit_log.c.action.in_(actions))
    if text:
        query = query.where(audit_log.c.target.contains(text, autoescape=True))
    with engine.connect() as connection:
        rows = connection.execute(query.limit(limit)).all()
    schema = {
        "id": pl.Int64,
        "ts": pl.Int64,
        "actor": pl.String,
        "action": pl.String,
        "target": pl.String,
        "detail": pl.String,
        "address": pl.String,
    }
    data = [{**row._asdict(), "detail": _detail_text(row.detail)} for row in rows]
    frame = pl.DataFrame(data, schema=schema)
    return frame.with_columns(pl.from_epoch("ts", time_unit="ms").dt.replace_time_zone("UTC").alias("time")).select(
        "id", "time", "actor", "action", "target", "detail", "address"
    )


def action_names(engine: Engine) -> list[str]:
    """Every action core defines plus any other already in the log, sorted: the viewer's action filter."""
    with engine.connect() as connection:
        seen = connection.execute(sa.select(audit_log.c.action).distinct()).scalars().all()
    return sorted(set(ACTIONS) | set(seen))


def _detail_text(detail: Any) -> str:
    return json.dumps(detail, sort_keys=True, separators=(",", ":")) if detail else ""
