"""Stored reports: the Reports page's history, its downloads and the background generation's progress.

A row is written when a generation starts (status ``running``), its progress updated as it goes, and the
finished file stored with status ``done`` — or ``failed`` with the error — so nothing is half-written: a
report is downloadable only once it is complete. Every request is also an audit record (core.auth.audit).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import polars as pl
import sqlalchemy as sa
from sqlalchemy.engine import Engine

from core.auth import audit
from core.model import now_ms
from core.store.schema import reports

AUDIT_ACTION = "report.generated"


@dataclass(frozen=True)
class Stored:
    """One history row (``content`` only when asked for)."""

    id: int
    kind: str
    format: str
    start_ms: int
    end_ms: int
    scope: dict[str, str]
    requested_by: str
    requested_ms: int
    status: str
    progress: float
    message: str | None
    size: int | None
    content: bytes | None = None


def start(engine: Engine, kind: str, fmt: str, start_ms: int, end_ms: int, scope: dict[str, str], actor: str) -> int:
    """A new ``running`` row; returns its id. The request is audited with the actor's name."""
    with engine.begin() as connection:
        report_id = connection.execute(
            reports.insert().values(
                kind=kind,
                format=fmt,
                start_ms=start_ms,
                end_ms=end_ms,
                scope=scope,
                requested_by=actor[:128],
                requested_ms=now_ms(),
                status="running",
                progress=0.0,
            )
        ).inserted_primary_key
    assert report_id is not None
    report_id = report_id[0]
    audit.record(
        engine,
        actor,
        AUDIT_ACTION,
        f"report {report_id}",
        {"kind": kind, "format": fmt, "start_ms": start_ms, "end_ms": end_ms, "scope": scope},
    )
    return int(report_id)


def progress(engine: Engine, report_id: int, fraction: float, message: str) -> None:
    """Record how far a running generation is."""
    with engine.begin() as connection:
        connection.execute(
            reports.update()
            .where(reports.c.id == report_id, reports.c.status == "running")
            .values(progress=max(0.0, min(fraction, 1.0)), message=message[:500])
        )


def finish(engine: Engine, report_id: int, content: bytes) -> None:
    """Store the finished file; the row becomes ``done``."""
    with engine.begin() as connection:
        connection.execute(
            reports.update()
            .where(reports.c.id == report_id)
            .values(status="done", progress=1.0, message=None, content=content, size=len(content), finished_ms=now_ms())
        )


def fail(engine: Engine, report_id: int, error: str) -> None:
    """Mark a generation failed with its error (shown in the history)."""
    with engine.begin() as connection:
        connection.execute(
            reports.update()
            .where(reports.c.id == report_id)
            .values(status="failed", message=error[:2000], finished_ms=now_ms())
        )


def _stored(row: Any, content: bool) -> Stored:
    return Stored(
        row.id,
        row.kind,
        row.format,
        row.start_ms,
        row.end_ms,
        dict(row.scope or {}),
        row.requested_by,
        row.requested_ms,
        row.status,
        float(row.progress),
        row.message,
        row.size,
        row.content if content else None,
    )


def get(engine: Engine, report_id: int, *, content: bool = False) -> Stored | None:
    """One report by id (None when there is none)."""
    columns = [c for c in reports.c if content or c.name != "content"]
    with engine.connect() as connection:
        row = connection.execute(sa.select(*columns).where(reports.c.id == report_id)).first()
    return None if row is None else _stored(row, content)


def history(engine: Engine, limit: int = 200) -> pl.DataFrame:
    """The newest reports first: id, when, who, kind, format, period, scope, status, progress, size, message."""
    columns = [c for c in reports.c if c.name != "content"]
    with engine.connect() as connection:
        rows = connection.execute(sa.select(*columns).order_by(reports.c.id.desc()).limit(limit)).all()
    schema = {
        "id": pl.Int64,
        "requested": pl.Int64,
        "by": pl.String,
        "kind": pl.String,
        "format": pl.String,
        "start": pl.Int64,
        "end": pl.Int64,
        "scope": pl.String,
        "status": pl.String,
        "progress": pl.Float64,
        "size": pl.Int64,
        "message": pl.String,
    }
    data = [
        (
            r.id,
            r.requested_ms,
            r.requested_by,
            r.kind,
            r.format,
            r.start_ms,
            r.end_ms,
            ", ".join(f"{k}={v}" for k, v in sorted((r.scope or {}).items())) or "everything",
            r.status,
            float(r.progress),
            r.size,
            r.message,
        )
        for r in rows
    ]
    frame = pl.DataFrame(data, schema=schema, orient="row")
    return frame.with_columns(
        pl.from_epoch(c, time_unit="ms").dt.replace_time_zone("UTC") for c in ("requested", "start", "end")
    )
