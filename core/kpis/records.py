"""Events, test runs and deployments read from the store as polars frames, for the KPI modules.

The time-series layer (core.query) answers questions about samples; the Developer and
QA figures are mostly about *records* — review steps, gate runs, defects, JUnit runs,
deployments — so this module reads those for a time range, once, and the pure
functions in core.kpis.developer / core.kpis.quality compute from the frames.

Frames keep ``ts`` as epoch milliseconds (Int64, UTC) so windows are plain integer
arithmetic; results meant for charts convert to Datetime at the end. Reads are cached
in core.query's process-wide TTL cache, keyed like its own range queries.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import polars as pl
import sqlalchemy as sa
from sqlalchemy.engine import Engine

from core.config import Settings, get_settings
from core.query.series import CACHE, quantum_ms
from core.store import schema

EVENT_SCHEMA = pl.Schema(
    {"id": pl.String(), "type": pl.String(), "ts": pl.Int64(), "source": pl.String(), "data": pl.String()}
)
RUN_SCHEMA = pl.Schema(
    {
        "id": pl.Int64(),
        "suite": pl.String(),
        "component": pl.String(),
        "phase": pl.String(),
        "source": pl.String(),
        "ts": pl.Int64(),
        "tests": pl.Int64(),
        "failures": pl.Int64(),
        "errors": pl.Int64(),
        "skipped": pl.Int64(),
        "duration_s": pl.Float64(),
    }
)
DEPLOYMENT_SCHEMA = pl.Schema(
    {"id": pl.String(), "component": pl.String(), "version": pl.String(), "ts": pl.Int64(), "source": pl.String()}
)
FILTER_FIELDS = ("component", "team", "repository")


def _aligned(start_ms: int, end_ms: int) -> tuple[int, int]:
    q = quantum_ms(start_ms, end_ms)
    return start_ms - start_ms % q, -(-end_ms // q) * q


def _type_clause(types: Sequence[str]) -> sa.ColumnElement[bool]:
    column = schema.events.c.type
    exact = [t for t in types if not t.endswith("*")]
    clauses = [column.startswith(t[:-1], autoescape=True) for t in types if t.endswith("*")]
    if exact:
        clauses.append(column.in_(exact))
    return sa.or_(*clauses) if clauses else sa.false()


def load_events(
    engine: Engine, types: Sequence[str], start_ms: int, end_ms: int, *, settings: Settings | None = None
) -> pl.DataFrame:
    """Events whose type is one of ``types`` (exact, or a prefix ending in ``*``) with ts in [start, end).

    Columns: id, type, ts (epoch ms), source, data (the JSON text; read fields with :func:`fields`).
    The range is widened to the cache quantum, so callers trim with :func:`within` when it matters.
    """
    settings = settings or get_settings()
    start, end = _aligned(start_ms, end_ms)
    key = ("kpi-events", id(engine), str(engine.url), tuple(sorted(types)), start, end)

    def compute() -> pl.DataFrame:
        table = schema.events
        query = (
            sa.select(table.c.id, table.c.type, table.c.ts, table.c.source, sa.cast(table.c.data, sa.Text))
            .where(table.c.ts >= start, table.c.ts < end, _type_clause(types))
            .order_by(table.c.ts, table.c.id)
        )
        with engine.connect() as connection:
            result = connection.execute(query)
            try:
                # the driver's own tuples: no SQLAlchemy Row per event (a 7-day Executive read is ~35,000 rows,
                # and the Row objects cost as much as the query); every column is already str or int
                rows = result.cursor.fetchall()
            finally:
                result.close()
        return pl.DataFrame(rows, schema=EVENT_SCHEMA, orient="row")

    return CACHE.get(key, settings.query_cache_ttl_s, compute)


def within(frame: pl.DataFrame, start_ms: int, end_ms: int) -> pl.DataFrame:
    """Rows with ``start_ms <= ts < end_ms``."""
    return frame.filter((pl.col("ts") >= start_ms) & (pl.col("ts") < end_ms))


def text(path: str) -> pl.Expr:
    """A data field (dotted path into the ``data`` JSON) as a string; absent → null."""
    return pl.col("data").str.json_path_match(f"$.{path}")


def number(path: str) -> pl.Expr:
    """A data field as a float; absent or not a number → null."""
    return text(path).cast(pl.Float64, strict=False)


def iso_ms(expr: pl.Expr) -> pl.Expr:
    """An ISO 8601 time (``Z`` or an offset) as epoch milliseconds; unparseable → null."""
    return expr.str.to_datetime(time_zone="UTC", strict=False).dt.epoch("ms")


def fields(frame: pl.DataFrame, texts: Mapping[str, str] = {}, numbers: Mapping[str, str] = {}) -> pl.DataFrame:
    """Add columns read from the ``data`` JSON: ``texts`` as strings (absent → null), ``numbers`` as floats.

    Keys are the new column names, values dotted paths into data (``metrics.execution_time``).
    """
    columns = [text(path).alias(name) for name, path in texts.items()]
    columns += [number(path).alias(name) for name, path in numbers.items()]
    return frame.with_columns(columns) if columns else frame


def flag(path: str) -> pl.Expr:
    """A boolean data field (JSON true/false) as a polars boolean; absent → null."""
    return text(path).str.to_lowercase().replace_strict({"true": True, "false": False}, default=None)


def apply_filters(frame: pl.DataFrame, filters: Mapping[str, str]) -> pl.DataFrame:
    """Keep rows whose data field equals each non-empty filter value.

    A record that does not carry a filtered field is kept: an error event has no
    repository, so filtering by repository must not hide it. Frames may also carry
    the field as a column already (test runs, deployments), which is used instead.
    """
    for name, wanted in filters.items():
        if not wanted:
            continue
        if name in frame.columns:
            value = pl.col(name)
        elif "data" in frame.columns:
            value = pl.col("data").str.json_path_match(f"$.{name}")
        else:
            continue
        frame = frame.filter(value.is_null() | (value == wanted))
    return frame


def filter_values(frame: pl.DataFrame, name: str) -> list[str]:
    """The distinct values of a data field (or column) in ``frame``, sorted; for filter pick-lists."""
    if frame.is_empty():
        return []
    column = pl.col(name) if name in frame.columns else pl.col("data").str.json_path_match(f"$.{name}")
    return sorted(v for v in frame.select(column.unique().alias("v"))["v"].to_list() if v)


def load_test_runs(engine: Engine, start_ms: int, end_ms: int, *, settings: Settings | None = None) -> pl.DataFrame:
    """Stored JUnit runs with ts in [start, end), oldest first (columns: :data:`RUN_SCHEMA`)."""
    settings = settings or get_settings()
    start, end = _aligned(start_ms, end_ms)
    key = ("kpi-test-runs", id(engine), str(engine.url), start, end)

    def compute() -> pl.DataFrame:
        t = schema.test_runs
        query = (
            sa.select(
                t.c.id,
                t.c.suite,
                t.c.component,
                t.c.phase,
                t.c.source,
                t.c.ts,
                t.c.tests,
                t.c.failures,
                t.c.errors,
                t.c.skipped,
                t.c.duration_s,
            )
            .where(t.c.ts >= start, t.c.ts < end)
            .order_by(t.c.ts, t.c.id)
        )
        with engine.connect() as connection:
            rows = connection.execute(query).fetchall()
        return pl.DataFrame(rows, schema=RUN_SCHEMA, orient="row")

    return CACHE.get(key, settings.query_cache_ttl_s, compute)


def load_deployments(engine: Engine, start_ms: int, end_ms: int, *, settings: Settings | None = None) -> pl.DataFrame:
    """Deployments in [start, end): the deployments table plus ``system.deployment`` events not projected yet.

    The deployments collector copies events into the table on its own interval, so a
    deployment posted a moment ago is still shown. Columns: :data:`DEPLOYMENT_SCHEMA`.
    """
    settings = settings or get_settings()
    start, end = _aligned(start_ms, end_ms)
    key = ("kpi-deployments", id(engine), str(engine.url), start, end)

    def compute() -> pl.DataFrame:
        d = schema.deployments
        query = sa.select(d.c.id, d.c.component, d.c.version, d.c.ts, d.c.source).where(d.c.ts >= start, d.c.ts < end)
        with engine.connect() as connection:
            rows = connection.execute(query).fetchall()
        table = pl.DataFrame(rows, schema=DEPLOYMENT_SCHEMA, orient="row")
        events = fields(
            load_events(engine, ["system.deployment"], start, end, settings=settings),
            {"component": "component", "service": "service", "version": "version"},
        )
        from_events = events.select(
            "id",
            pl.coalesce("component", "service", pl.lit("unknown")).alias("component"),
            pl.col("version").fill_null("unknown"),
            "ts",
            "source",
        )
        merged = pl.concat([table, from_events.filter(~pl.col("id").is_in(table["id"].implode()))])
        return merged.sort("ts", "id")

    return CACHE.get(key, settings.query_cache_ttl_s, compute)


def newest_event_ms(engine: Engine, types: Sequence[str]) -> int | None:
    """The newest ts among events of ``types`` (exact or prefix*), for the "last updated" and stale warnings."""
    with engine.connect() as connection:
        value = connection.scalar(sa.select(sa.func.max(schema.events.c.ts)).where(_type_clause(types)))
    return None if value is None else int(value)


def marks(deployments: pl.DataFrame) -> pl.DataFrame:
    """Deployments as chart annotations: ts (Datetime UTC), component, version."""
    return deployments.select(
        pl.from_epoch("ts", time_unit="ms").dt.replace_time_zone("UTC").alias("ts"), "component", "version"
    )
