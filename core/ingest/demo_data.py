"""Find and remove what the demo workload wrote, for the "demo data" badge and purge button.

The demo marks everything it writes: events have ``source = "demo"``, samples carry
the label ``source="demo"``, and test runs and deployments have ``source = "demo"``.
Pages cannot import collectors, so the store-side questions live here in core/.
"""

from __future__ import annotations

import json

import sqlalchemy as sa
from sqlalchemy.engine import Connection, Engine

from core.ingest.feeds import forget_feeds
from core.ingest.writer import forget_series
from core.model import now_ms
from core.store import schema
from core.store.collector_state import get_state, put_state

DEMO_SOURCE = "demo"
STATE = "demo"  # collector_state collector name used by the demo
DEMO_FEED = "demo"  # the feed (ingest origin) the demo writes under


def _demo_series(connection: Connection) -> list[int]:
    table = schema.series
    rows = connection.execute(sa.select(table.c.id, table.c.labels).where(table.c.labels.like('%"source":"demo"%')))
    return [sid for sid, labels in rows if json.loads(labels).get("source") == DEMO_SOURCE]


def has_demo_data(engine: Engine) -> bool:
    """True while demo data is in the store (the UI then shows a "demo data" badge)."""
    with engine.connect() as connection:
        if _demo_series(connection):
            return True
        return (
            connection.scalar(sa.select(schema.events.c.id).where(schema.events.c.source == DEMO_SOURCE).limit(1))
            is not None
        )


def demo_disabled(engine: Engine) -> bool:
    """True after a purge: the demo collector stays idle until :func:`enable_demo`."""
    return get_state(engine, STATE, "disabled") is not None


def enable_demo(engine: Engine) -> None:
    """Let the demo generate again (it back-fills only if the store is empty)."""
    with engine.begin() as connection:
        connection.execute(sa.delete(schema.collector_state).where(schema.collector_state.c.collector == STATE))


def purge_demo(engine: Engine, *, disable: bool = True) -> dict[str, int]:
    """Delete every demo event, sample, series, test run and deployment; returns counts per kind.

    With ``disable`` (the default, used by the purge button) the running demo stops
    writing, so the purge sticks even while PULSEBOARD_DEMO is still on.
    """
    counts: dict[str, int] = {}
    with engine.begin() as connection:
        ids = _demo_series(connection)
        samples = 0
        for start in range(0, len(ids), 500):
            chunk = ids[start : start + 500]
            samples += (
                connection.scalar(
                    sa.select(sa.func.count()).select_from(schema.samples).where(schema.samples.c.series_id.in_(chunk))
                )
                or 0
            )
            for table in (schema.samples, schema.samples_1m, schema.samples_5m, schema.samples_1h, schema.rollup_dirty):
                connection.execute(sa.delete(table).where(table.c.series_id.in_(chunk)))
            connection.execute(sa.delete(schema.series).where(schema.series.c.id.in_(chunk)))
        counts["series"], counts["samples"] = len(ids), samples
        counts["events"] = (
            connection.execute(sa.delete(schema.events).where(schema.events.c.source == DEMO_SOURCE)).rowcount or 0
        )
        runs = connection.scalars(
            sa.select(schema.test_runs.c.id).where(schema.test_runs.c.source == DEMO_SOURCE)
        ).all()
        for start in range(0, len(runs), 500):
            connection.execute(
                sa.delete(schema.test_cases).where(schema.test_cases.c.run_id.in_(runs[start : start + 500]))
            )
        counts["test_runs"] = (
            connection.execute(sa.delete(schema.test_runs).where(schema.test_runs.c.source == DEMO_SOURCE)).rowcount
            or 0
        )
        counts["deployments"] = (
            connection.execute(sa.delete(schema.deployments).where(schema.deployments.c.source == DEMO_SOURCE)).rowcount
            or 0
        )
        connection.execute(sa.delete(schema.collector_state).where(schema.collector_state.c.collector == STATE))
        forget_feeds(connection, [DEMO_FEED])  # a purged demo must not be reported as a stale feed from now on
        if disable:
            put_state(connection, STATE, "disabled", {"purged_ms": now_ms(), **counts})
    forget_series(engine)
    return counts
