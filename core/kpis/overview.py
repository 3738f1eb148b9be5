"""The Overview page's figures: health score and its components, KPI strip, component status, alerts.

:func:`load_overview` gathers everything at one instant through core.query,
core.kpis.records and the alerting module, and hands it to the pure functions of
core.kpis.health, core.kpis.workflow and core.kpis.operations.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

import polars as pl
from sqlalchemy.engine import Engine

from core.config import Settings, get_settings
from core.kpis import alerting, health, operations, workflow
from core.kpis.quality import GATE_EVENTS, gate_frame, gate_totals
from core.kpis.records import apply_filters, load_events, within
from core.query import series
from core.query.series import CACHE, quantum_ms
from core.store.collector_state import get_state

HOUR_MS = 3_600_000
DAY_MS = 24 * HOUR_MS


@dataclass(frozen=True)
class Strip:
    """The KPI strip: values for the window and for the one before it."""

    active_workflows: int
    completed: tuple[float | None, float | None]
    completion_pct: tuple[float | None, float | None]
    time_to_merge_h: tuple[float | None, float | None]
    gate_pass_pct: tuple[float | None, float | None]
    agents_up: tuple[int, int]


@dataclass(frozen=True)
class Overview:
    """Everything the Overview draws."""

    health: health.Health
    strip: Strip
    components: pl.DataFrame
    alerts: dict[str, int] | None  # firing per severity; None: alerting not installed
    pipeline: pl.DataFrame


def _mean(frame: pl.DataFrame) -> float | None:
    value = frame["value"].mean() if frame.height else None
    return None if value is None else float(value)  # type: ignore[arg-type]


def load_overview(
    engine: Engine, start_ms: int, end_ms: int, filters: Mapping[str, str], settings: Settings | None = None
) -> Overview:
    """Read and compute the Overview for the window [start, end) ending now-ish (health always uses the last 24 h).

    Shared between viewers for ``query_cache_ttl_s`` per range bucket of at most 2 s, so a live panel stays live.
    """
    ttl = (settings or get_settings()).query_cache_ttl_s
    q = min(quantum_ms(start_ms, end_ms), 2_000)
    start_ms, end_ms = start_ms - start_ms % q, -(-end_ms // q) * q
    key = ("overview", id(engine), str(engine.url), start_ms, end_ms, tuple(sorted(filters.items())))
    return CACHE.get(key, ttl, lambda: _load(engine, start_ms, end_ms, filters, settings))


def _load(
    engine: Engine, start_ms: int, end_ms: int, filters: Mapping[str, str], settings: Settings | None
) -> Overview:
    span = end_ms - start_ms
    ops = operations.load_ops(engine, end_ms - HOUR_MS, end_ms, filters, settings)
    events = workflow.load_workflow_events(engine, min(start_ms - span, end_ms - DAY_MS), end_ms, filters, settings)
    gates_all = gate_frame(
        apply_filters(
            load_events(engine, GATE_EVENTS, min(start_ms - span, end_ms - DAY_MS), end_ms, settings=settings), filters
        )
    )
    work = workflow.outcome_fields(events)  # parsed once for the three windows
    now_out = workflow.outcomes_of(work, start_ms, end_ms)
    before = workflow.outcomes_of(work, start_ms - span, start_ms)
    day = workflow.outcomes_of(work, end_ms - DAY_MS, end_ms)
    gates = {
        key: gate_totals(within(gates_all, a, b))
        for key, (a, b) in {
            "now": (start_ms, end_ms),
            "before": (start_ms - span, start_ms),
            "day": (end_ms - DAY_MS, end_ms),
        }.items()
    }
    open_now = workflow.open_workflows(within(events, end_ms - workflow.OPEN_LOOKBACK_MS, end_ms + 1))
    recent = max(start_ms, end_ms - 15 * 60_000)
    p95 = _mean(series(engine, 'api_request_duration_seconds{quantile="0.95"}', recent, end_ms, settings=settings))
    err = _mean(ops.api_errors)
    cpu = _mean(series(engine, "system_cpu_percent", recent, end_ms, settings=settings))
    mem = _mean(series(engine, "system_memory_used_percent", recent, end_ms, settings=settings))
    frame = alerting.load_alerts(engine)
    alerts = None if frame is None else alerting.by_severity(frame)
    down = ops.agents.filter(pl.col("status") == "down").height
    score = health.health(
        [
            health.availability(ops.agents.height - down, ops.agents.height),
            health.api_errors(err),
            health.api_latency(p95),
            health.queues(ops.queues),
            health.quality_gates(gates["day"].pass_pct, gates["day"].executed),
            health.workflow_success(day.completion_pct, day.completed + day.failed),
            health.resources(cpu, mem),
            health.alerts(alerts),
            health.performance(get_state(engine, "insights", "scores"), end_ms, 3 * HOUR_MS),
        ]
    )
    strip = Strip(
        open_now.height,
        (float(now_out.completed), float(before.completed)),
        (now_out.completion_pct, before.completion_pct),
        (now_out.time_to_merge_h, before.time_to_merge_h),
        (gates["now"].pass_pct, gates["before"].pass_pct),
        (ops.agents.height - down, ops.agents.height),
    )
    components = operations.component_status(ops.queues, ops.agents, ops.api_errors, ops.errors, end_ms)
    return Overview(score, strip, components, alerts, workflow.pipeline_counts(open_now))
