"""Small key/value helpers over the ``collector_state`` table.

Collectors that must survive a restart (file offsets, processed JUnit hashes, the
demo's watermark, the last git commit seen) keep a JSON value per (collector, key)
here, so the store is the one place that holds progress and a second replica on the
same Postgres sees the same progress.
"""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection, Engine

from core.model import now_ms
from core.store import schema

_table = schema.collector_state


def get_state(engine: Engine, collector: str, key: str) -> dict[str, Any] | None:
    """The stored value for (collector, key), or None when nothing was saved yet."""
    with engine.connect() as connection:
        value = connection.scalar(sa.select(_table.c.value).where(_table.c.collector == collector, _table.c.key == key))
    return dict(value) if isinstance(value, dict) else None


def all_states(engine: Engine, collector: str) -> dict[str, dict[str, Any]]:
    """Every key saved by ``collector``, for listing tracked files or processed reports."""
    with engine.connect() as connection:
        rows = connection.execute(sa.select(_table.c.key, _table.c.value).where(_table.c.collector == collector))
        return {key: dict(value) for key, value in rows if isinstance(value, dict)}


def _upsert(connection: Connection, collector: str, key: str, value: dict[str, Any]) -> None:
    row = {"collector": collector, "key": key[:512], "value": value, "updated_ms": now_ms()}
    if connection.dialect.name == "postgresql":
        from sqlalchemy.dialects.postgresql import insert as pg_insert

        statement = pg_insert(_table).values(row)
    else:
        from sqlalchemy.dialects.sqlite import insert as sqlite_insert

        statement = sqlite_insert(_table).values(row)  # type: ignore[assignment]
    connection.execute(
        statement.on_conflict_do_update(
            index_elements=["collector", "key"],
            set_={"value": statement.excluded.value, "updated_ms": statement.excluded.updated_ms},
        )
    )


def put_state(engine: Engine | Connection, collector: str, key: str, value: dict[str, Any]) -> None:
    """Save ``value`` for (collector, key), replacing what was there; accepts an open connection
    so a caller can save progress in the same transaction as the data it describes."""
    if isinstance(engine, Connection):
        _upsert(engine, collector, key, value)
        return
    with engine.begin() as connection:
        _upsert(connection, collector, key, value)


def delete_state(engine: Engine, collector: str, key: str | None = None) -> int:
    """Forget one key, or every key of ``collector`` when key is None; returns rows removed."""
    condition = _table.c.collector == collector
    if key is not None:
        condition = condition & (_table.c.key == key)
    with engine.begin() as connection:
        return connection.execute(sa.delete(_table).where(condition)).rowcount or 0
