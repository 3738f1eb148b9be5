"""Store access for rules, live alerts, history and people's actions (acknowledge, resolve).

Every change a person makes is first checked against the actor's roles
(core.alerts.permissions: refused with :class:`AlertPermissionError`), then goes through
:func:`audit`, which writes the audit log (core.auth.audit) with the client address, so "who
acknowledged this, when, and from where" always has an answer.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import polars as pl
import sqlalchemy as sa
from sqlalchemy.engine import Connection, Engine

from core.alerts.evaluate import FIRING, INACTIVE, RESOLVED, AlertState, Transition
from core.alerts.permissions import Actor, require_edit, require_handle
from core.alerts.permissions import AlertPermissionError as AlertPermissionError  # callers catch it from here
from core.alerts.rules import Rule, load_yaml, parse_rule
from core.auth import audit as audit_log
from core.auth.access import SYSTEM
from core.model import labels_json, now_ms
from core.store import schema
from core.store.collector_state import get_state, put_state
from core.store.leases import fence

RESOLVED_KEEP_MS = 86_400_000  # resolved alerts stay on the active list's "recently resolved" for a day


def audit(
    engine: Engine,
    actor: str,
    action: str,
    target: str,
    detail: dict[str, Any] | None = None,
    address: str | None = None,
) -> None:
    """The one place alerting writes the audit log."""
    audit_log.record(engine, actor, action, target, detail or {}, address)


def load_rules(engine: Engine, enabled_only: bool = False) -> list[Rule]:
    """Every stored rule, by name; rows that no longer validate are skipped (they cannot be evaluated)."""
    query = sa.select(schema.alert_rules.c.spec).order_by(schema.alert_rules.c.name)
    if enabled_only:
        query = query.where(schema.alert_rules.c.enabled.is_(True))
    rules = []
    with engine.connect() as connection:
        for (spec,) in connection.execute(query):
            try:
                rules.append(parse_rule(spec))
            except ValueError:
                continue
    return rules


def save_rule(engine: Engine, rule: Rule, actor: Actor, *, audit_it: bool = True, address: str | None = None) -> None:
    """Insert or replace one rule (needs ``edit_rules``)."""
    actor = require_edit(engine, actor, f"save the alert rule {rule.name}")
    table = schema.alert_rules
    values = {
        "kind": rule.kind,
        "severity": rule.severity,
        "enabled": rule.enabled,
        "spec": rule.dump(),
        "updated_by": actor,
        "updated_ms": now_ms(),
    }
    with engine.begin() as connection:
        if not connection.execute(table.update().where(table.c.name == rule.name).values(**values)).rowcount:
            connection.execute(table.insert().values(name=rule.name, **values))
    if audit_it:
        audit(engine, actor, audit_log.RULE_CHANGED, rule.name, {"op": "save", "spec": rule.dump()}, address)


def delete_rule(engine: Engine, name: str, actor: Actor, address: str | None = None) -> None:
    """Remove a rule and its live alerts (history stays; needs ``edit_rules``)."""
    actor = require_edit(engine, actor, f"delete the alert rule {name}")
    with engine.begin() as connection:
        connection.execute(schema.alert_rules.delete().where(schema.alert_rules.c.name == name))
        connection.execute(schema.alerts.delete().where(schema.alerts.c.rule == name))
    audit(engine, actor, audit_log.RULE_CHANGED, name, {"op": "delete"}, address)


def import_rules(engine: Engine, text: str, actor: Actor, address: str | None = None) -> list[Rule]:
    """Validate a whole YAML document, then save every rule in it; a bad file changes nothing (needs ``edit_rules``)."""
    name = require_edit(engine, actor, "import alert rules")
    rules = load_yaml(text)
    for rule in rules:
        save_rule(engine, rule, actor, audit_it=False)
    audit(engine, name, audit_log.RULE_CHANGED, "import", {"op": "import", "rules": [r.name for r in rules]}, address)
    return rules


def seed_defaults(engine: Engine, path: Path) -> int:
    """Load the default rules file when the store holds no rules yet; returns how many were loaded."""
    with engine.connect() as connection:
        if connection.execute(sa.select(sa.func.count()).select_from(schema.alert_rules)).scalar_one():
            return 0
    if not path.exists():
        return 0
    return len(import_rules(engine, path.read_text(), SYSTEM))


def load_states(connection: Connection, rule: str) -> dict[str, AlertState]:
    """The live alerts of one rule, keyed by fingerprint."""
    table = schema.alerts
    rows = connection.execute(sa.select(table).where(table.c.rule == rule)).mappings()
    return {
        row["fingerprint"]: AlertState(
            row["fingerprint"],
            row["rule"],
            tuple(sorted(json.loads(row["labels"]).items())),
            row["state"],
            row["active_since"],
            row["fired_at"],
            row["resolved_at"],
            row["last_active_ms"],
            row["last_value"],
        )
        for row in rows
    }


def save_states(
    connection: Connection,
    rule: Rule,
    states: dict[str, AlertState],
    transitions: list[Transition],
    summaries: dict[str, str],
    now: int,
) -> None:
    """Write one rule's evaluation: states, transitions, and history episodes opened or closed.

    Fenced: a replica whose alerts lease moved on writes nothing (core/store/leases.py).
    """
    fence(connection)
    table, history = schema.alerts, schema.alert_history
    changed = {t.fingerprint: t for t in transitions}
    for t in transitions:
        connection.execute(
            schema.alert_transitions.insert().values(
                fingerprint=t.fingerprint,
                rule=t.rule,
                ts=t.ts,
                from_state=t.from_state,
                to_state=t.to_state,
                value=t.value,
            )
        )
    for key, state in states.items():
        if state.state == INACTIVE or (state.state == RESOLVED and now - (state.resolved_at or now) > RESOLVED_KEEP_MS):
            connection.execute(table.delete().where(table.c.fingerprint == key))
            continue
        values: dict[str, Any] = {
            "rule": rule.name,
            "labels": labels_json(state.labels),
            "severity": rule.severity,
            "state": state.state,
            "active_since": state.active_since,
            "fired_at": state.fired_at,
            "resolved_at": state.resolved_at,
            "last_active_ms": state.last_active_ms,
            "last_eval_ms": now,
            "last_value": state.last_value,
            "summary": summaries.get(key, ""),
        }
        move = changed.get(key)
        if move is not None and move.to_state == FIRING:
            episode = connection.execute(
                history.insert().values(
                    fingerprint=key,
                    rule=rule.name,
                    labels=values["labels"],
                    severity=rule.severity,
                    summary=values["summary"],
                    fired_at=now,
                )
            ).inserted_primary_key
            values |= {
                "episode_id": episode[0] if episode else None,
                "acknowledged_by": None,
                "acknowledged_at": None,
                "ack_comment": None,
                "resolved_by": None,
            }
        if move is not None and move.to_state == RESOLVED:
            connection.execute(
                history.update()
                .where(history.c.fingerprint == key)
                .where(history.c.resolved_at.is_(None))
                .values(resolved_at=now)
            )
        if not connection.execute(table.update().where(table.c.fingerprint == key).values(**values)).rowcount:
            connection.execute(table.insert().values(fingerprint=key, **values))


def alert_labels(engine: Engine, fingerprint: str) -> dict[str, str] | None:
    """The labels of a live alert, None when there is no such alert."""
    with engine.connect() as connection:
        text = connection.scalar(sa.select(schema.alerts.c.labels).where(schema.alerts.c.fingerprint == fingerprint))
    return None if text is None else dict(json.loads(text))


def acknowledge(
    engine: Engine,
    fingerprint: str,
    actor: Actor,
    comment: str = "",
    when: int | None = None,
    address: str | None = None,
) -> bool:
    """Record who acknowledged a firing alert, when and why; False if there is no such active alert.

    Needs ``acknowledge_alerts``, or ``acknowledge_quality_alerts`` for a quality alert.
    """
    actor = require_handle(engine, actor, alert_labels(engine, fingerprint), "acknowledge this alert")
    when = now_ms() if when is None else when
    values = {"acknowledged_by": actor, "acknowledged_at": when, "ack_comment": comment}
    with engine.begin() as connection:
        row = connection.execute(
            sa.select(schema.alerts.c.episode_id)
            .where(schema.alerts.c.fingerprint == fingerprint)
            .where(schema.alerts.c.state == FIRING)
        ).first()
        if row is None:
            return False
        connection.execute(schema.alerts.update().where(schema.alerts.c.fingerprint == fingerprint).values(**values))
        if row.episode_id is not None:
            connection.execute(
                schema.alert_history.update().where(schema.alert_history.c.id == row.episode_id).values(**values)
            )
    audit(engine, actor, audit_log.ALERT_ACKNOWLEDGED, fingerprint, {"comment": comment}, address)
    return True


def resolve(
    engine: Engine,
    fingerprint: str,
    actor: Actor,
    comment: str = "",
    when: int | None = None,
    address: str | None = None,
) -> bool:
    """Resolve an alert by hand; if its condition still holds it goes pending again on the next evaluation.

    Needs the same permission as acknowledging it.
    """
    actor = require_handle(engine, actor, alert_labels(engine, fingerprint), "resolve this alert")
    when = now_ms() if when is None else when
    with engine.begin() as connection:
        row = connection.execute(
            sa.select(schema.alerts.c.episode_id, schema.alerts.c.state).where(
                schema.alerts.c.fingerprint == fingerprint
            )
        ).first()
        if row is None or row.state == RESOLVED:
            return False
        connection.execute(
            schema.alerts.update()
            .where(schema.alerts.c.fingerprint == fingerprint)
            .values(state=RESOLVED, resolved_at=when, resolved_by=actor, active_since=None)
        )
        connection.execute(
            schema.alert_transitions.insert().values(
                fingerprint=fingerprint, rule="", ts=when, from_state=row.state, to_state=RESOLVED, value=None
            )
        )
        if row.episode_id is not None:
            connection.execute(
                schema.alert_history.update()
                .where(schema.alert_history.c.id == row.episode_id)
                .values(resolved_at=when, resolved_by=actor)
            )
    audit(engine, actor, audit_log.ALERT_RESOLVED, fingerprint, {"comment": comment}, address)
    return True


HEALTH = ("alerting", "rules")  # collector_state row: the last evaluation of every rule


def save_health(engine: Engine, seen: dict[str, dict[str, object]]) -> None:
    """What the last evaluation cycle saw per rule (time, series count, error), for the rule list's state."""
    put_state(engine, *HEALTH, seen)


def load_health(engine: Engine) -> dict[str, dict[str, object]]:
    """The last cycle's view per rule name; empty before the first cycle."""
    return get_state(engine, *HEALTH) or {}


def alerts_frame(engine: Engine) -> pl.DataFrame:
    """Every live alert (pending, firing, recently resolved) as a DataFrame."""
    with engine.connect() as connection:
        rows = connection.execute(sa.select(schema.alerts)).mappings().all()
    frame = pl.DataFrame([dict(r) for r in rows], schema=_schema(schema.alerts), orient="row")
    return frame


def history_frame(engine: Engine, since_ms: int) -> pl.DataFrame:
    """Firing episodes since ``since_ms`` with duration and time-to-acknowledge in seconds."""
    table = schema.alert_history
    with engine.connect() as connection:
        rows = (
            connection.execute(sa.select(table).where(table.c.fired_at >= since_ms).order_by(table.c.fired_at.desc()))
            .mappings()
            .all()
        )
    frame = pl.DataFrame([dict(r) for r in rows], schema=_schema(table), orient="row")
    return frame.with_columns(
        duration_s=(pl.coalesce("resolved_at", pl.lit(now_ms())) - pl.col("fired_at")) / 1000.0,
        time_to_ack_s=(pl.col("acknowledged_at") - pl.col("fired_at")) / 1000.0,
    )


def _schema(table: sa.Table) -> dict[str, Any]:
    kinds = {sa.BigInteger: pl.Int64, sa.Integer: pl.Int64, sa.Float: pl.Float64, sa.Boolean: pl.Boolean}
    return {c.name: next((v for k, v in kinds.items() if isinstance(c.type, k)), pl.String) for c in table.columns}
