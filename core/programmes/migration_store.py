"""The migration's inputs read from the store, and the one call the page and the ``stats`` command share.

:func:`load_view` reads what :func:`core.programmes.migration.migration_view` needs — the phase,
component and issue events of the past :data:`~core.programmes.migration.STATE_HISTORY_MS`, the
batches, rollbacks and timings of the range, the series tagged ``system=old|new`` and the test runs
of the migration's component — and returns the view. The Migration page and ``python -m core.cli
stats`` both call it, so a figure on the page and in the terminal come from the same code;
:func:`load_schedule` is the part of it the Capacity page's migration ETAs need (the same
core.programmes.migration.schedule, so both pages show one estimated completion). :func:`load_live` and
:func:`load_resources` read the live metrics and the resource use (core.programmes.migration_live,
core.programmes.migration_resources) through core.query and the same event read.

The event read is the same query as core.kpis.records.load_events (cached the same way, through
core.query's cache): core.programmes may not import core.kpis, and a programme view must not
depend on the role pages' figures.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import polars as pl
import sqlalchemy as sa
from sqlalchemy.engine import Engine

from core.config import Settings, get_settings
from core.kpis.records import EVENT_SCHEMA
from core.programmes import migration_resources as res
from core.programmes.migration import (
    ACTIVITY_TYPES,
    STATE_HISTORY_MS,
    STATE_TYPES,
    MigrationView,
    Schedule,
    migration_view,
    schedule,
    series_timings,
    suite_grid,
)
from core.programmes.migration_live import (
    LIVE_TYPES,
    MEMORY_SELECTOR,
    Live,
    host_sum,
    live_metrics,
    series_points,
)
from core.programmes.migration_plan import Plan, load_plan
from core.query import find_series, series
from core.query.series import CACHE, quantum_ms
from core.store import schema

RUN_SCHEMA = pl.Schema(
    {
        "suite": pl.String(),
        "ts": pl.Int64(),
        "tests": pl.Int64(),
        "failures": pl.Int64(),
        "errors": pl.Int64(),
        "skipped": pl.Int64(),
        "duration_s": pl.Float64(),
    }
)
SUITE_HISTORY_MS = 14 * 86_400_000  # test runs read for the suites' trend even when the range is shorter
COMPARISON_POINTS = 3_000  # buckets per series for the old/new comparison: every sample on a day, 15 min on a month


def _aligned(start_ms: int, end_ms: int) -> tuple[int, int]:
    q = quantum_ms(start_ms, end_ms)
    return start_ms - start_ms % q, -(-end_ms // q) * q


def load_events(engine: Engine, types: Sequence[str], start_ms: int, end_ms: int, settings: Settings) -> pl.DataFrame:
    """Events of ``types`` with start <= ts < end (range widened to the cache quantum, then trimmed)."""
    start, end = _aligned(start_ms, end_ms)
    key = ("migration-events", id(engine), str(engine.url), tuple(sorted(types)), start, end)

    def compute() -> pl.DataFrame:
        t = schema.events
        query = (
            sa.select(t.c.id, t.c.type, t.c.ts, t.c.source, sa.cast(t.c.data, sa.Text))
            .where(t.c.ts >= start, t.c.ts < end, t.c.type.in_(list(types)))
            .order_by(t.c.ts, t.c.id)
        )
        with engine.connect() as connection:
            return pl.DataFrame(connection.execute(query).fetchall(), schema=EVENT_SCHEMA, orient="row")

    frame = CACHE.get(key, settings.query_cache_ttl_s, compute)
    return frame.filter(pl.col("ts").is_between(start_ms, end_ms, closed="left"))


def load_runs(engine: Engine, component: str, start_ms: int, end_ms: int) -> pl.DataFrame:
    """Test runs of ``component`` with start <= ts < end, oldest first."""
    t = schema.test_runs
    query = (
        sa.select(t.c.suite, t.c.ts, t.c.tests, t.c.failures, t.c.errors, t.c.skipped, t.c.duration_s)
        .where(t.c.component == component, t.c.ts >= start_ms, t.c.ts < end_ms)
        .order_by(t.c.ts, t.c.id)
    )
    with engine.connect() as connection:
        return pl.DataFrame(connection.execute(query).fetchall(), schema=RUN_SCHEMA, orient="row")


def load_timings(engine: Engine, selector: str, start_ms: int, end_ms: int, settings: Settings) -> pl.DataFrame:
    """The series ``selector`` matches, one averaged value per bucket, as old/new timings per operation."""
    found = find_series(engine, selector)
    if found.is_empty():
        return series_timings(pl.DataFrame())
    step = max(60_000, (end_ms - start_ms) // COMPARISON_POINTS)
    values = series(engine, selector, start_ms, end_ms, step_ms=step, settings=settings)
    names = found.select("series_id", "name")
    return series_timings(values.join(names, on="series_id", how="left").select("name", "labels", "value"))


def plan_from_settings(settings: Settings) -> tuple[Plan | None, str | None]:
    """The configured plan and its file name; (None, None) without a plan file. Raises PlanError when invalid."""
    path: Path | None = settings.migration_plan_file
    plan = load_plan(path)
    return plan, (str(path) if plan is not None and path is not None else None)


def load_view(
    engine: Engine,
    *,
    start_ms: int,
    end_ms: int,
    plan: Plan | None,
    plan_file: str | None = None,
    settings: Settings | None = None,
) -> MigrationView:
    """The migration view for ``[start_ms, end_ms)``, as of ``end_ms``, read from the store."""
    settings = settings or get_settings()
    state = load_events(engine, STATE_TYPES, end_ms - STATE_HISTORY_MS, end_ms + 1, settings)
    activity = load_events(engine, ACTIVITY_TYPES, start_ms, end_ms + 1, settings)
    selector = plan.performance_selector if plan else '{system=~"old|new"}'
    timings = load_timings(engine, selector, start_ms, end_ms, settings)
    component = plan.test_component if plan else "migration"
    runs = load_runs(engine, component, min(start_ms, end_ms - SUITE_HISTORY_MS), end_ms + 1)
    view = migration_view(state, activity, timings, plan, start_ms=start_ms, now_ms=end_ms, plan_file=plan_file)
    return view.with_suites(suite_grid(runs))


def load_schedule(engine: Engine, *, now_ms: int, plan: Plan | None, settings: Settings | None = None) -> Schedule:
    """The schedule (phases, forecast, estimated completion) as of ``now_ms``: what :func:`load_view` holds,
    without the range's batches, timings and test runs (the Capacity page's migration ETAs read this)."""
    settings = settings or get_settings()
    state = load_events(engine, STATE_TYPES, now_ms - STATE_HISTORY_MS, now_ms + 1, settings)
    return schedule(state, plan, now_ms)  # every state type: a plan without dates is anchored on them too


def load_live(
    engine: Engine, *, start_ms: int, end_ms: int, step_ms: int, plan: Plan | None, settings: Settings | None = None
) -> Live:
    """The live metrics of ``[start_ms, end_ms)`` and of the range before it (core.programmes.migration_live)."""
    settings = settings or get_settings()
    since = start_ms - (end_ms - start_ms)
    activity = load_events(engine, LIVE_TYPES, since, end_ms, settings)
    selector = plan.performance_selector if plan else '{system=~"old|new"}'
    timed = series_points(series(engine, selector, since, end_ms, step_ms=step_ms, settings=settings))
    memory = host_sum(series(engine, MEMORY_SELECTOR, since, end_ms, step_ms=step_ms, settings=settings))
    return live_metrics(activity, timed, memory, start_ms=start_ms, end_ms=end_ms, step_ms=step_ms)


@dataclass(frozen=True)
class Resources:
    """Resource use over a range: every consumer (process per host) and the hosts' CPU and memory."""

    consumers: pl.DataFrame
    cpu: res.HostUse
    memory: res.HostUse


def load_resources(
    engine: Engine, *, start_ms: int, end_ms: int, step_ms: int, settings: Settings | None = None
) -> Resources:
    """Processes' CPU and memory and the hosts' CPU and memory % over ``[start_ms, end_ms)``, through core.query."""
    settings = settings or get_settings()

    def read(selector: str) -> pl.DataFrame:
        return series(engine, selector, start_ms, end_ms, step_ms=step_ms, settings=settings)

    return Resources(
        res.consumers(read(res.CPU), read(res.MEMORY)),
        res.host_use(read(res.HOST_CPU)),
        res.host_use(read(res.HOST_MEMORY)),
    )


def newest_migration_ms(engine: Engine) -> int | None:
    """The newest migration event's time (for the page's "last updated" and the stats command's empty check)."""
    with engine.connect() as connection:
        value = connection.scalar(
            sa.select(sa.func.max(schema.events.c.ts)).where(schema.events.c.type.startswith("migration."))
        )
    return None if value is None else int(value)


def has_store_schema(engine: Engine) -> bool:
    """True when the database holds Pulseboard's tables (the stats command never creates them)."""
    return sa.inspect(engine).has_table(schema.events.name)
