"""Stored quality gate thresholds: versioned, audited, and changed only with ``manage_quality_gates``.

Every save or removal adds the scope's next version row (nothing is updated in place), so the
history shows who set what, when and why; the newest version of each scope is in force unless it
removed the scope. The built-in default (core.kpis.quality_gates.BUILT_IN) holds for ``*`` until
someone saves one. Each change is written to the audit log (``gate_thresholds_changed``).
"""

from __future__ import annotations

from collections.abc import Mapping

import polars as pl
import sqlalchemy as sa
from sqlalchemy.engine import Engine

from core.auth import audit
from core.auth.access import Viewer, require
from core.kpis.quality_gates import BUILT_IN, CRITERIA, DEFAULT_SCOPE, Thresholds, check_value, parse_scope
from core.model import now_ms
from core.store import schema

PERMISSION = "manage_quality_gates"
HISTORY_COLUMNS = ("scope", "version", *(c.key for c in CRITERIA), "removed", "note", "changed_by", "changed_ms")


def validate(scope: str, values: Mapping[str, object]) -> Thresholds:
    """Thresholds from a form or API payload; ValueError names the first bad field (scope, a threshold, or unknown)."""
    unknown = sorted(set(values) - {c.key for c in CRITERIA})
    if unknown:
        raise ValueError(f"{unknown[0]}: not a threshold; use {', '.join(c.key for c in CRITERIA)}")
    checked = {c.key: check_value(c.key, values.get(c.key)) for c in CRITERIA}
    return Thresholds.of(parse_scope(scope), checked)


def save_thresholds(
    engine: Engine,
    viewer: Viewer | None,
    scope: str,
    values: Mapping[str, object],
    note: str = "",
    *,
    address: str | None = None,
    when: int | None = None,
) -> Thresholds:
    """Store a new version of ``scope``'s thresholds (needs ``manage_quality_gates``); returns what is now in force.

    The permission is checked before anything is read or validated, so a refused caller learns nothing.
    """
    require(viewer, PERMISSION, f"change the quality gate thresholds of {scope!r}")
    assert viewer is not None
    wanted = validate(scope, values)
    return _add_version(engine, viewer, wanted, removed=False, note=note, address=address, when=when)


def remove_scope(
    engine: Engine, viewer: Viewer | None, scope: str, note: str = "", *, address: str | None = None
) -> None:
    """Take a project or team scope away (a new version marked removed); the default ``*`` cannot be removed."""
    require(viewer, PERMISSION, f"remove the quality gate thresholds of {scope!r}")
    assert viewer is not None
    canonical = parse_scope(scope)
    if canonical == DEFAULT_SCOPE:
        raise ValueError("scope: the default * cannot be removed; change its thresholds instead")
    if canonical not in current_thresholds(engine):
        raise ValueError(f"scope: {canonical} has no thresholds in force")
    _add_version(engine, viewer, Thresholds(canonical), removed=True, note=note, address=address, when=None)


def _add_version(
    engine: Engine,
    viewer: Viewer,
    wanted: Thresholds,
    *,
    removed: bool,
    note: str,
    address: str | None,
    when: int | None,
) -> Thresholds:
    table = schema.quality_gate_thresholds
    when = now_ms() if when is None else when
    note = note.strip()[:1000]
    with engine.begin() as connection:
        newest = connection.scalar(sa.select(sa.func.max(table.c.version)).where(table.c.scope == wanted.scope))
        version = int(newest or 0) + 1
        connection.execute(
            table.insert().values(
                scope=wanted.scope,
                version=version,
                removed=removed,
                note=note,
                changed_by=viewer.username,
                changed_ms=when,
                **wanted.values(),
            )
        )
    detail = {"op": "remove" if removed else "save", "version": version, "note": note}
    audit.record(
        engine, viewer.username, audit.GATE_THRESHOLDS_CHANGED, wanted.scope, detail | wanted.values(), address
    )
    return Thresholds.of(wanted.scope, wanted.values(), version=version, changed_by=viewer.username, changed_ms=when)


def current_thresholds(engine: Engine) -> dict[str, Thresholds]:
    """Scope → the thresholds in force (its newest version, unless that removed it); ``*`` is always present."""
    table = schema.quality_gate_thresholds
    newest = sa.select(table.c.scope, sa.func.max(table.c.version).label("version")).group_by(table.c.scope).subquery()
    query = sa.select(table).join(newest, sa.and_(table.c.scope == newest.c.scope, table.c.version == newest.c.version))
    with engine.connect() as connection:
        rows = connection.execute(query).mappings().all()
    found = {
        row["scope"]: Thresholds.of(
            row["scope"],
            {c.key: row[c.key] for c in CRITERIA},
            version=row["version"],
            changed_by=row["changed_by"],
            changed_ms=row["changed_ms"],
            note=row["note"],
        )
        for row in rows
        if not row["removed"]
    }
    found.setdefault(DEFAULT_SCOPE, BUILT_IN)
    return dict(sorted(found.items(), key=lambda item: (item[0] != DEFAULT_SCOPE, item[0])))


def thresholds_frame(current: Mapping[str, Thresholds]) -> pl.DataFrame:
    """The thresholds in force as a table: one row per scope, default first."""
    rows = [
        {
            "scope": t.scope,
            **t.values(),
            "version": t.version,
            "changed_by": t.changed_by,
            "changed_ms": t.changed_ms,
            "note": t.note,
        }
        for t in current.values()
    ]
    schema_ = {"scope": pl.String, **{c.key: pl.Float64 for c in CRITERIA}}
    schema_ |= {"version": pl.Int64, "changed_by": pl.String, "changed_ms": pl.Int64, "note": pl.String}
    return pl.DataFrame(rows, schema=schema_, orient="row")


def history(engine: Engine, scope: str | None = None, limit: int = 200) -> pl.DataFrame:
    """Every version, newest first (of one scope when given): what was set, by whom, when and why."""
    table = schema.quality_gate_thresholds
    query = sa.select(*(table.c[c] for c in HISTORY_COLUMNS)).order_by(table.c.changed_ms.desc(), table.c.id.desc())
    if scope is not None:
        query = query.where(table.c.scope == parse_scope(scope))
    with engine.connect() as connection:
        rows = [tuple(r) for r in connection.execute(query.limit(limit))]
    types: dict[str, pl.DataType] = {name: pl.String() for name in HISTORY_COLUMNS}
    types |= {c.key: pl.Float64() for c in CRITERIA} | {"version": pl.Int64(), "changed_ms": pl.Int64()}
    types["removed"] = pl.Boolean()
    return pl.DataFrame(rows, schema=types, orient="row")
