"""Dismissed and snoozed findings: kept in the store (so they survive restarts) and audited.

A dismissal hides a finding until someone restores it; a snooze hides it until ``until_ms``. Both
need a reason, which the audit log keeps with the actor. Findings are keyed by their stable id
(``rule:subject`` for opportunities, ``regression:<deployment>:<series>``, ``drift:<series>``).
"""

from __future__ import annotations

from dataclasses import dataclass

import sqlalchemy as sa
from sqlalchemy.engine import Engine

from core.auth import audit
from core.model import now_ms
from core.store import schema

DISMISSED, SNOOZED, RESTORED = audit.INSIGHT_DISMISSED, audit.INSIGHT_SNOOZED, audit.INSIGHT_RESTORED
MAX_REASON = 500


@dataclass(frozen=True)
class Dismissal:
    """One hidden finding."""

    finding: str
    state: str  # dismissed or snoozed
    until_ms: int | None
    reason: str
    actor: str
    ts: int


def _clean_reason(reason: str) -> str:
    text = " ".join(reason.split())
    if not text:
        raise ValueError("a reason is required to dismiss or snooze a finding")
    if len(text) > MAX_REASON:
        raise ValueError(f"the reason is {len(text)} characters long; at most {MAX_REASON}")
    return text


def _put(engine: Engine, row: Dismissal, action: str) -> None:
    table = schema.insight_dismissals
    with engine.begin() as connection:
        connection.execute(sa.delete(table).where(table.c.finding == row.finding))
        connection.execute(table.insert().values(**row.__dict__))
    detail = {"reason": row.reason} | ({"until_ms": row.until_ms} if row.until_ms else {})
    audit.record(engine, row.actor, action, row.finding, detail, ts=row.ts)


def dismiss(engine: Engine, finding: str, reason: str, actor: str, at_ms: int | None = None) -> Dismissal:
    """Hide ``finding`` until restored; raises ValueError without a reason."""
    row = Dismissal(finding, "dismissed", None, _clean_reason(reason), actor, at_ms or now_ms())
    _put(engine, row, DISMISSED)
    return row


def snooze(engine: Engine, finding: str, reason: str, actor: str, hours: float, at_ms: int | None = None) -> Dismissal:
    """Hide ``finding`` for ``hours`` (0 < hours ≤ 90 days); raises ValueError otherwise or without a reason."""
    if not 0 < hours <= 90 * 24:
        raise ValueError(f"snooze for more than 0 and at most 2160 hours, not {hours:g}")
    at = at_ms or now_ms()
    row = Dismissal(finding, "snoozed", at + int(hours * 3_600_000), _clean_reason(reason), actor, at)
    _put(engine, row, SNOOZED)
    return row


def restore(engine: Engine, finding: str, actor: str) -> None:
    """Show ``finding`` again."""
    table = schema.insight_dismissals
    with engine.begin() as connection:
        connection.execute(sa.delete(table).where(table.c.finding == finding))
    audit.record(engine, actor, RESTORED, finding, {})


def hidden(engine: Engine, at_ms: int | None = None) -> dict[str, Dismissal]:
    """Findings hidden at ``at_ms``: every dismissal and the snoozes not yet over."""
    at = at_ms or now_ms()
    table = schema.insight_dismissals
    with engine.connect() as connection:
        rows = connection.execute(sa.select(table)).fetchall()
    out = {}
    for r in rows:
        row = Dismissal(r.finding, r.state, r.until_ms, r.reason, r.actor, int(r.ts))
        if row.state == "dismissed" or (row.until_ms is not None and row.until_ms > at):
            out[row.finding] = row
    return out
