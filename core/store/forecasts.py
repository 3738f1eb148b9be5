"""Rows of the ``forecasts`` table: what the forecast job wrote, read back by pages in one query.

The job (core/forecasting/job.py) fits in the background and upserts one row per (subject,
target, horizon); pages never fit, they read here. A refit request and the job's progress live
in ``collector_state`` under :data:`STATE`, so a page on any replica can ask the job (running on
the lease holder) to refit now and show how far it got.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Engine

from core.store import schema
from core.store.collector_state import get_state, put_state
from core.store.leases import fence

STATE = "forecasts"  # collector_state namespace: keys "request" and "progress"
_table = schema.forecasts


@dataclass(frozen=True)
class StoredForecast:
    """One stored row."""

    subject: str
    target: str
    horizon_s: int
    status: str
    fitted_ms: int
    last_bucket_ms: int | None
    fit_s: float
    result: dict[str, Any]


def row_id(subject: str, target: str, horizon_s: float) -> str:
    """A stable key for (subject, target, horizon): targets are series names of any length."""
    return hashlib.sha256(f"{subject}\x00{target}\x00{int(horizon_s)}".encode()).hexdigest()


def save(engine: Engine, rows: list[StoredForecast]) -> None:
    """Insert or replace ``rows`` (delete-then-insert in one transaction works on both backends)."""
    if not rows:
        return
    ids = [row_id(r.subject, r.target, r.horizon_s) for r in rows]
    values = [
        {
            "id": key,
            "subject": r.subject,
            "target": r.target,
            "horizon_s": int(r.horizon_s),
            "status": r.status,
            "fitted_ms": r.fitted_ms,
            "last_bucket_ms": r.last_bucket_ms,
            "fit_s": r.fit_s,
            "result": r.result,
        }
        for key, r in zip(ids, rows, strict=True)
    ]
    with engine.begin() as connection:
        fence(connection)  # a replica whose forecasts lease moved on overwrites no newer fit
        connection.execute(sa.delete(_table).where(_table.c.id.in_(ids)))
        connection.execute(_table.insert(), values)


def load(engine: Engine, subject: str | None = None) -> list[StoredForecast]:
    """Every stored forecast (of ``subject``), oldest target first."""
    query = sa.select(_table).order_by(_table.c.subject, _table.c.target, _table.c.horizon_s)
    if subject is not None:
        query = query.where(_table.c.subject == subject)
    with engine.connect() as connection:
        return [
            StoredForecast(
                r.subject,
                r.target,
                int(r.horizon_s),
                r.status,
                int(r.fitted_ms),
                r.last_bucket_ms,
                float(r.fit_s),
                dict(r.result or {}),
            )
            for r in connection.execute(query)
        ]


def stamps(engine: Engine, subject: str) -> dict[tuple[str, int], tuple[int, str]]:
    """(target, horizon) → (fitted_ms, status) without the JSON: what the job checks each run."""
    query = sa.select(_table.c.target, _table.c.horizon_s, _table.c.fitted_ms, _table.c.status).where(
        _table.c.subject == subject
    )
    with engine.connect() as connection:
        return {(t, int(h)): (int(f), status) for t, h, f, status in connection.execute(query)}


def drop(engine: Engine, subject: str, gone: set[tuple[str, int]]) -> int:
    """Delete the rows of ``subject`` for these (target, horizon) pairs (series that went away)."""
    if not gone:
        return 0
    ids = [row_id(subject, target, horizon) for target, horizon in gone]
    with engine.begin() as connection:
        fence(connection)
        return connection.execute(sa.delete(_table).where(_table.c.id.in_(ids))).rowcount or 0


def request_refit(engine: Engine, who: str, now_ms: int) -> None:
    """Ask the job to refit everything at its next run (the Capacity page's "Refit now")."""
    put_state(engine, STATE, "request", {"at": now_ms, "by": who})


def pending_request(engine: Engine) -> dict[str, Any] | None:
    """The refit request not yet taken by the job, if any."""
    return get_state(engine, STATE, "request")


def set_progress(engine: Engine, progress: dict[str, Any]) -> None:
    """The job's progress: ``{"running": bool, "done": n, "total": n, "started": ms, "finished": ms, ...}``."""
    put_state(engine, STATE, "progress", progress)


def progress(engine: Engine) -> dict[str, Any]:
    """What :func:`set_progress` saved last (empty before the first run)."""
    return get_state(engine, STATE, "progress") or {}
