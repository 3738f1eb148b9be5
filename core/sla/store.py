"""SLA reads and writes: definitions, the workflow events they measure, metric values, breaches.

Every SQL statement of the SLA feature is here; the other modules work on the frames
these return.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any

import polars as pl
import sqlalchemy as sa
from sqlalchemy.engine import Connection, Engine

from core import query
from core.alerts.permissions import Actor, name_of, viewer_of
from core.auth.access import NotAllowed, can
from core.config import Settings
from core.model import now_ms as clock_ms
from core.sla.alerting import AlertsSink
from core.sla.compliance import EVENT_SCHEMA
from core.sla.definitions import DEFAULTS, DefinitionError, SlaDefinition
from core.store import schema
from core.store.leases import fence

WORKFLOW_EVENT_TYPES = (
    "workflow.step_started",
    "workflow.step_completed",
    "workflow.pr_created",
    "workflow.workflow_completed",
    "workflow.workflow_failed",
)
SLA_ALERT_RULES = ("sla_breach", "sla_escalation", "slo_burn")  # the alerts core.sla.jobs raises per SLA
OPEN_MARGIN_MS = 86_400_000  # starts read before a window, so items still open at its end are seen
FIELDS = tuple(SlaDefinition.model_fields)
BREACH_COLUMNS = (
    "id",
    "sla_id",
    "item_key",
    "workflow_id",
    "step",
    "ts",
    "started_ms",
    "ended_ms",
    "duration_s",
    "target_s",
    "over_s",
    "severity",
    "escalated",
    "escalated_ms",
    "impact",
    "detected_ms",
)
_ORDER = {d.id: n for n, d in enumerate(DEFAULTS)}


def load_definitions(engine: Engine, *, enabled_only: bool = False) -> list[SlaDefinition]:
    """Stored definitions, specification order first, then others by id."""
    table = schema.sla_definitions
    query_ = sa.select(*(table.c[name] for name in FIELDS))
    if enabled_only:
        query_ = query_.where(table.c.enabled.is_(True))
    with engine.connect() as connection:
        rows = connection.execute(query_).mappings().all()
    found = [SlaDefinition.model_validate(dict(row)) for row in rows]
    return sorted(found, key=lambda d: (_ORDER.get(d.id, len(_ORDER)), d.id))


def get_definition(engine: Engine, sla_id: str) -> SlaDefinition | None:
    """One stored definition, or None."""
    return next((d for d in load_definitions(engine) if d.id == sla_id), None)


def _upsert(connection: Connection, definition: SlaDefinition, actor: str, now: int) -> None:
    table = schema.sla_definitions
    values = definition.model_dump() | {"updated_by": actor[:64], "updated_ms": now}
    updated = connection.execute(table.update().where(table.c.id == definition.id).values(values)).rowcount
    if not updated:
        connection.execute(table.insert().values(values))


def _require_edit(engine: Engine, actor: Actor, doing: str) -> None:
    viewer = viewer_of(engine, actor)
    if viewer is not None and not can(viewer, "edit_slas"):
        raise NotAllowed(viewer, "edit_slas", doing)


def save_definition(
    engine: Engine, definition: SlaDefinition, actor: Actor, now_ms: int | None = None
) -> SlaDefinition | None:
    """Insert or replace ``definition``; returns the previous version (None if new).

    The check sits here, not only on the SLA page: a viewer (or stored user) without
    ``edit_slas`` is refused with :class:`~core.auth.access.NotAllowed` and nothing is written.
    """
    _require_edit(engine, actor, f"change the SLA {definition.id!r}")
    previous = get_definition(engine, definition.id)
    with engine.begin() as connection:
        _upsert(connection, definition, name_of(actor), clock_ms() if now_ms is None else now_ms)
    return previous


def create_definition(engine: Engine, definition: SlaDefinition, actor: Actor, now_ms: int | None = None) -> None:
    """Store a new SLA; an id already in use is refused with :class:`DefinitionError` naming it, nothing written.

    Needs ``edit_slas`` as :func:`save_definition` does.
    """
    _require_edit(engine, actor, f"create the SLA {definition.id!r}")
    with engine.begin() as connection:
        table = schema.sla_definitions
        if connection.execute(sa.select(table.c.id).where(table.c.id == definition.id)).first() is not None:
            raise DefinitionError(
                f"id: an SLA with the id {definition.id!r} already exists; pick another or edit that one"
            )
        _upsert(connection, definition, name_of(actor), clock_ms() if now_ms is None else now_ms)


def delete_definition(engine: Engine, sla_id: str, actor: Actor, now_ms: int | None = None) -> SlaDefinition:
    """Remove the SLA ``sla_id`` and resolve its live alerts; returns what was deleted.

    Needs ``edit_slas`` (:class:`~core.auth.access.NotAllowed` otherwise, nothing deleted); an
    unknown id raises :class:`DefinitionError`. Its logged breaches stay: they are the
    evidence of past SLA reports and age out with ``retention_compliance_days``.
    """
    _require_edit(engine, actor, f"delete the SLA {sla_id!r}")
    found = get_definition(engine, sla_id)
    if found is None:
        raise DefinitionError(f"id: no SLA with the id {sla_id!r}")
    with engine.begin() as connection:
        connection.execute(schema.sla_definitions.delete().where(schema.sla_definitions.c.id == sla_id))
    now = clock_ms() if now_ms is None else now_ms
    sink = AlertsSink(engine)
    for rule in SLA_ALERT_RULES:
        sink.resolve(rule, {"sla": sla_id}, now)  # the check no longer sees this SLA, so nothing else would
    return found


def seed_defaults(engine: Engine, *, replace: bool = False, actor: str = "system") -> list[str]:
    """Store the specification's defaults that are missing (or all of them, with ``replace``); returns their ids."""
    present = {d.id for d in load_definitions(engine)}
    wanted = [d for d in DEFAULTS if replace or d.id not in present]
    with engine.begin() as connection:
        for definition in wanted:
            _upsert(connection, definition, actor, clock_ms())
    return [d.id for d in wanted]


def workflow_events(engine: Engine, start_ms: int, end_ms: int) -> pl.DataFrame:
    """Workflow events SLAs read (ts, type, data as JSON text) in ``[start - 1 day, end)``."""
    table = schema.events
    stmt = sa.select(table.c.ts, table.c.type, sa.cast(table.c.data, sa.Text)).where(
        table.c.type.in_(WORKFLOW_EVENT_TYPES), table.c.ts >= start_ms - OPEN_MARGIN_MS, table.c.ts < end_ms
    )
    with engine.connect() as connection:
        rows = connection.execute(stmt).fetchall()
    return pl.DataFrame(rows, schema=EVENT_SCHEMA, orient="row")


def metric_values(
    engine: Engine,
    selector: str,
    start_ms: int,
    end_ms: int,
    settings: Settings,
    now_ms: int | None = None,
    step_ms: int | None = None,
) -> pl.DataFrame:
    """Mean value per (series, bucket) of ``selector`` through the query layer (tier chosen by range, or by step)."""
    return query.series(
        engine, selector, start_ms, end_ms, step_ms=step_ms or None, agg="avg", settings=settings, now_ms=now_ms
    )


def bucket_ms(start_ms: int, end_ms: int, settings: Settings, now_ms: int) -> int:
    """Width of the buckets :func:`metric_values` returns for ``[start_ms, end_ms)`` (0: raw samples)."""
    return query.plan(start_ms, end_ms, now_ms, settings).step_ms


def utilisation(
    engine: Engine, selector: str, label: str, start_ms: int, end_ms: int, settings: Settings, now_ms: int | None = None
) -> pl.DataFrame:
    """Mean utilisation per resource (``resource``, ``percent``), resource named by ``label``."""
    values = metric_values(engine, selector, start_ms, end_ms, settings, now_ms)
    if values.is_empty():
        return pl.DataFrame(schema={"resource": pl.String, "percent": pl.Float64})
    return (
        values.with_columns(query.label_column(label).alias("resource"))
        .group_by("resource")
        .agg(pl.col("value").mean().alias("percent"))
        .sort("resource")
    )


def upsert_breaches(
    engine: Engine, rows: Iterable[dict[str, Any]], now_ms: int
) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """Log breaches by (sla_id, item_key): new rows are inserted, open ones updated.

    Returns (newly logged, newly escalated) so the caller alerts once per change.
    """
    table = schema.sla_breaches
    new: list[dict[str, Any]] = []
    escalated: list[dict[str, Any]] = []
    with engine.begin() as connection:
        fence(connection)  # a replica whose sla_check lease moved on logs no breach twice
        for row in rows:
            found = connection.execute(
                sa.select(table.c.id, table.c.escalated, table.c.ended_ms).where(
                    table.c.sla_id == row["sla_id"], table.c.item_key == row["item_key"]
                )
            ).first()
            if found is None:
                values = row | {
                    "detected_ms": now_ms,
                    "updated_ms": now_ms,
                    "escalated_ms": now_ms if row["escalated"] else None,
                }
                connection.execute(table.insert().values(values))
                new.append(values)
                if row["escalated"]:
                    escalated.append(values)
                continue
            if found.ended_ms is not None:
                continue  # a closed breach is final
            values = {k: row[k] for k in ("ended_ms", "duration_s", "over_s", "severity", "escalated", "impact")}
            if row["escalated"] and not found.escalated:
                values["escalated_ms"] = now_ms
                escalated.append(row | values)
            connection.execute(table.update().where(table.c.id == found.id).values(values | {"updated_ms": now_ms}))
    return new, escalated


def breaches(
    engine: Engine, start_ms: int, end_ms: int, sla_ids: Sequence[str] = (), limit: int = 5_000
) -> pl.DataFrame:
    """Logged breaches whose ``ts`` lies in ``[start, end)``, newest first."""
    table = schema.sla_breaches
    stmt = (
        sa.select(*(table.c[c] for c in BREACH_COLUMNS))
        .where(table.c.ts >= start_ms, table.c.ts < end_ms)
        .order_by(table.c.ts.desc(), table.c.id.desc())
        .limit(limit)
    )
    if sla_ids:
        stmt = stmt.where(table.c.sla_id.in_(sla_ids))
    with engine.connect() as connection:
        rows = [dict(r) | {"impact": _impact_text(r["impact"])} for r in connection.execute(stmt).mappings()]
    return pl.DataFrame(rows, schema=BREACH_FRAME, orient="row") if rows else pl.DataFrame(schema=BREACH_FRAME)


def _impact_text(impact: dict[str, Any] | None) -> str:
    return ", ".join(f"{key}={impact[key]}" for key in sorted(impact)) if impact else ""


BREACH_FRAME = {
    "id": pl.Int64,
    "sla_id": pl.String,
    "item_key": pl.String,
    "workflow_id": pl.String,
    "step": pl.String,
    "ts": pl.Int64,
    "started_ms": pl.Int64,
    "ended_ms": pl.Int64,
    "duration_s": pl.Float64,
    "target_s": pl.Float64,
    "over_s": pl.Float64,
    "severity": pl.String,
    "escalated": pl.Boolean,
    "escalated_ms": pl.Int64,
    "impact": pl.String,
    "detected_ms": pl.Int64,
}
