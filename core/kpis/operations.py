"""The Operations page's figures: agents, queues, resources, components, errors, anomalies, alerts.

Pure functions take the frames the ``load_*`` helpers read (samples through core.query,
events through core.kpis.records, alerts from the alerting tables) and return frames.
Metric names and event fields read: docs/metrics.md, docs/events.md.

* agents — ``qms_agent_load_percent{agent}``, ``qms_agent_up{agent}`` and
  ``system.agent_status_changed`` (new_status ``down``/``training``/``online``);
* queues — ``qms_queue_depth{queue}`` samples and ``system.queue_depth_updated`` events
  (queue, depth, warning_threshold, critical_threshold), the newer of the two per queue;
* resources — the system collector's CPU, memory, filesystem and network series.

Longer than most modules: it is every figure of the Operations page, loaded in one read so the
page makes one round trip; the pure pieces are small functions tested one by one.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

import numpy as np
import polars as pl
from sqlalchemy.engine import Engine

from core.analytics import anomaly
from core.config import Settings
from core.kpis.records import apply_filters, fields, iso_ms, load_events
from core.query import label_column, series

HOUR_MS = 3_600_000
OVERLOADED_PCT = 90.0  # load at or above: overloaded
QUEUE_WARNING, QUEUE_CRITICAL = 10.0, 20.0  # seed §2.2 alert thresholds, used when events carry none
AGENT_STATES = ("active", "overloaded", "idle", "down", "in_training")
RESOURCES: dict[str, tuple[str, str]] = {  # panel → (selector, unit)
    "CPU": ("system_cpu_percent", "%"),
    "Memory": ("system_memory_used_percent", "%"),
    "Disk": ("system_filesystem_used_percent", "%"),
    "Network": ("system_network_receive_bytes_per_second", "B/s"),
}
ANOMALY_SERIES = (
    "qms_queue_depth",
    "qms_step_duration_seconds",
    "api_errors_percent",
    'api_request_duration_seconds{quantile="0.95"}',
    "system_cpu_percent",
    "system_memory_used_percent",
)
QUEUE_SCHEMA = pl.Schema(
    {
        "queue": pl.String(),
        "depth": pl.Float64(),
        "warning": pl.Float64(),
        "critical": pl.Float64(),
        "level": pl.String(),
        "ts_ms": pl.Int64(),
    }
)


def last_by_label(frame: pl.DataFrame, label: str) -> pl.DataFrame:
    """The newest value per ``label`` of a core.query result: <label>, value, ts_ms."""
    if frame.is_empty():
        return pl.DataFrame(schema={label: pl.String, "value": pl.Float64, "ts_ms": pl.Int64})
    return (
        frame.with_columns(label_column(label))
        .sort("ts")
        .group_by(label)
        .agg(pl.col("value").last(), pl.col("ts").last().dt.epoch("ms").alias("ts_ms"))
        .sort(label)
    )


def agent_status(load: pl.DataFrame, up: pl.DataFrame, changes: pl.DataFrame) -> pl.DataFrame:
    """One row per agent: name, status (one of :data:`AGENT_STATES`), load_pct, detail.

    ``load`` and ``up`` are :func:`last_by_label` frames (label ``agent``); ``changes`` are
    ``system.agent_status_changed`` events. down: up = 0 or newest change says down;
    in_training: newest change says training; else overloaded (load ≥ 90 %), active (> 0), idle.
    """
    status_events = fields(changes, {"agent": "agent_id", "new_status": "new_status", "reason": "reason"})
    newest = status_events.sort("ts").group_by("agent").agg(pl.col("new_status").last(), pl.col("reason").last())
    agents = pl.concat([load.select("agent"), up.select("agent"), newest.select("agent")]).unique().drop_nulls()
    frame = (
        agents.join(load.select("agent", pl.col("value").alias("load_pct")), on="agent", how="left")
        .join(up.select("agent", pl.col("value").alias("up")), on="agent", how="left")
        .join(newest, on="agent", how="left")
    )
    status = (
        pl.when((pl.col("up") == 0) | (pl.col("new_status") == "down"))
        .then(pl.lit("down"))
        .when(pl.col("new_status").is_in(["training", "in_training"]))
        .then(pl.lit("in_training"))
        .when(pl.col("load_pct") >= OVERLOADED_PCT)
        .then(pl.lit("overloaded"))
        .when(pl.col("load_pct") > 0)
        .then(pl.lit("active"))
        .otherwise(pl.lit("idle"))
    )
    detail = (
        pl.when(status == "down")
        .then(pl.coalesce(pl.col("reason"), pl.lit("not reporting up")))
        .otherwise(pl.format("{}% load", pl.col("load_pct").round(0).cast(pl.Int64, strict=False)))
    )
    return frame.select(
        pl.col("agent").alias("name"), status.alias("status"), pl.col("load_pct").round(1), detail.alias("detail")
    ).sort("name")


def agent_summary(agents: pl.DataFrame) -> dict[str, int]:
    """Agents per status (every status present), plus ``total``."""
    counts = dict(agents.group_by("status").len().iter_rows())
    return {"total": agents.height, **{s: int(counts.get(s, 0)) for s in AGENT_STATES}}


def queue_depths(samples_last: pl.DataFrame, depth_events: pl.DataFrame) -> pl.DataFrame:
    """Newest depth per queue from samples or events, whichever is newer (:data:`QUEUE_SCHEMA`).

    Samples are read with ``last_by_label`` on ``queue``.
    """
    events = fields(
        depth_events,
        {"queue": "queue"},
        {"depth": "depth", "warning": "warning_threshold", "critical": "critical_threshold"},
    )
    from_events = (
        events.filter(pl.col("queue").is_not_null())
        .sort("ts")
        .group_by("queue")
        .agg(
            pl.col("depth").last(),
            pl.col("warning").last(),
            pl.col("critical").last(),
            pl.col("ts").last().alias("ts_ms"),
        )
    )
    from_samples = samples_last.select(
        "queue",
        pl.col("value").alias("depth"),
        pl.lit(None, pl.Float64).alias("warning"),
        pl.lit(None, pl.Float64).alias("critical"),
        "ts_ms",
    )
    both = pl.concat([from_events.select(from_samples.columns).cast(from_samples.schema), from_samples])  # type: ignore[arg-type]
    if both.is_empty():
        return pl.DataFrame(schema=QUEUE_SCHEMA)
    newest = (
        both.sort("ts_ms")
        .group_by("queue")
        .agg(
            pl.col("depth").last(),
            pl.col("warning").drop_nulls().last(),
            pl.col("critical").drop_nulls().last(),
            pl.col("ts_ms").last(),
        )
    )
    frame = newest.with_columns(
        pl.col("warning").fill_null(QUEUE_WARNING), pl.col("critical").fill_null(QUEUE_CRITICAL)
    )
    level = (
        pl.when(pl.col("depth") >= pl.col("critical"))
        .then(pl.lit("critical"))
        .when(pl.col("depth") >= pl.col("warning"))
        .then(pl.lit("warning"))
        .otherwise(pl.lit("ok"))
    )
    return frame.with_columns(level.alias("level")).select(QUEUE_SCHEMA.names()).cast(QUEUE_SCHEMA).sort("queue")


def workload_heatmap(load: pl.DataFrame) -> pl.DataFrame:
    """Agent × bucket mean load (ts, agent, value) from a ``qms_agent_load_percent`` query result."""
    if load.is_empty():
        return pl.DataFrame(schema={"ts": pl.Datetime("ms", "UTC"), "agent": pl.String, "value": pl.Float64})
    return (
        load.with_columns(label_column("agent"))
        .group_by("ts", "agent")
        .agg(pl.col("value").mean().round(1))
        .sort("agent", "ts")
    )


def recent_errors(errors: pl.DataFrame, limit: int = 50) -> pl.DataFrame:
    """``system.error_occurred`` events, newest first: time, severity, component, kind, message."""
    read = fields(errors, {"severity": "severity", "component": "component", "kind": "kind", "message": "message"})
    return (
        read.sort("ts", descending=True)
        .head(limit)
        .select(
            pl.from_epoch("ts", time_unit="ms").dt.replace_time_zone("UTC").alias("time"),
            pl.col("severity").fill_null("error"),
            pl.col("component").fill_null("unknown"),
            pl.col("kind").fill_null(""),
            pl.col("message").fill_null(""),
        )
    )


def error_timeline(errors: pl.DataFrame) -> pl.DataFrame:
    """Errors for a timeline widget: ts (Datetime), kind (lane = component), label, severity."""
    read = fields(errors, {"severity": "severity", "component": "component", "message": "message"})
    return read.select(
        pl.from_epoch("ts", time_unit="ms").dt.replace_time_zone("UTC").alias("ts"),
        pl.col("component").fill_null("unknown").alias("kind"),
        pl.col("message").fill_null("").alias("label"),
        pl.col("severity").fill_null("error"),
    )


def component_status(
    queues: pl.DataFrame, agents: pl.DataFrame, api_errors: pl.DataFrame, errors: pl.DataFrame, now_ms: int
) -> pl.DataFrame:
    """One tile per component: name, status (healthy/degraded/critical/down), detail, kind.

    Pipeline steps take their queue's level; the agent pool is down when every agent is
    down, degraded when any is; API endpoints are degraded at ≥ 1 % errors and critical at
    ≥ 5 %; a component named by a ``system.error_occurred`` event whose ``ends_at`` is still
    ahead (or that is under an hour old without one) is degraded (warning) or critical.
    """
    rows: list[tuple[str, str, str, str]] = []
    level_status = {"ok": "healthy", "warning": "degraded", "critical": "critical"}
    for queue, depth, level in queues.select("queue", "depth", "level").iter_rows():
        rows.append((queue, level_status.get(level, "unknown"), f"queue {depth:g}", "step"))
    if agents.height:
        down = agents.filter(pl.col("status") == "down").height
        status = "down" if down == agents.height else "degraded" if down else "healthy"
        rows.append(("agent pool", status, f"{agents.height - down}/{agents.height} agents up", "agents"))
    for endpoint, value in api_errors.select("endpoint", "value").iter_rows():
        status = "critical" if value >= 5 else "degraded" if value >= 1 else "healthy"
        rows.append((endpoint, status, f"{value:.2f}% errors", "api"))
    frame = pl.DataFrame(
        rows, schema={"name": pl.String, "status": pl.String, "detail": pl.String, "kind": pl.String}, orient="row"
    )
    active = active_incidents(errors, now_ms)
    for component, severity, message in active.select("component", "severity", "message").iter_rows():
        status = "critical" if severity in ("critical", "error") else "degraded"
        if component in frame["name"]:
            frame = frame.with_columns(
                pl.when(pl.col("name") == component).then(pl.lit(status)).otherwise(pl.col("status")).alias("status"),
                pl.when(pl.col("name") == component).then(pl.lit(message)).otherwise(pl.col("detail")).alias("detail"),
            )
        else:
            frame = pl.concat(
                [
                    frame,
                    pl.DataFrame({"name": [component], "status": [status], "detail": [message], "kind": ["service"]}),
                ]
            )
    return frame


def active_incidents(errors: pl.DataFrame, now_ms: int) -> pl.DataFrame:
    """Error events still in effect at ``now_ms``: ends_at in the future, or no ends_at and under an hour old."""
    read = fields(
        errors, {"component": "component", "severity": "severity", "message": "message", "ends_at": "ends_at"}
    )
    ends = iso_ms(pl.col("ends_at"))
    still = pl.when(pl.col("ends_at").is_null()).then(pl.col("ts") >= now_ms - HOUR_MS).otherwise(ends > now_ms)
    return read.filter(still & (pl.col("ts") <= now_ms)).select(
        pl.col("component").fill_null("unknown"), pl.col("severity").fill_null("error"), pl.col("message").fill_null("")
    )


ANOMALY_SCHEMA = pl.Schema(
    {
        "ts": pl.Datetime("ms", "UTC"),
        "series": pl.String(),
        "observed": pl.Float64(),
        "expected": pl.String(),
        "score": pl.Float64(),
    }
)


def anomalies(
    frame: pl.DataFrame, *, sensitivity: anomaly.Sensitivity = "medium", method: str = "auto"
) -> pl.DataFrame:
    """Anomalies in each series of a query result: ts, series, observed, expected (the band), score; newest first.

    The detector's parameters are durations converted with each series' own step
    (core.analytics.anomaly_plan); flagged points go through the detector's refractory,
    so one incident is one row (a clearly stronger point after it is another). The
    expected band is the range of values that would have scored below the threshold.
    """
    detect = anomaly.detector(method)
    threshold = detect.threshold(sensitivity)
    found = []
    for (name,), group in frame.sort("ts").group_by(["series"], maintain_order=True):
        values = group["value"].cast(pl.Float64).to_numpy()
        ts = group["ts"].dt.epoch("ms").to_numpy()
        plan = anomaly.plan_series(ts, values)
        if len(values) <= plan.warmup * 2:
            continue
        scored = detect.scores(values, plan)
        alarms = anomaly.refractory(scored.score >= threshold, plan.refractory, scored.score)
        if not alarms.any():
            continue
        low, high = scored.band(threshold)
        at = np.flatnonzero(alarms)
        found.append(
            pl.DataFrame(
                {
                    "ts": group["ts"].gather(at),
                    "series": [str(name)] * len(at),
                    "observed": [float(f"{v:.4g}") for v in values[at]],
                    "expected": [f"{lo:.4g} to {hi:.4g}" for lo, hi in zip(low[at], high[at], strict=True)],
                    "score": np.round(scored.score[at], 1),
                },
                schema=ANOMALY_SCHEMA,
            )
        )
    if not found:
        return pl.DataFrame(schema=ANOMALY_SCHEMA)
    return pl.concat(found).sort("ts", descending=True)


@dataclass(frozen=True)
class OpsData:
    """Everything the Operations live panels read at one instant."""

    agents: pl.DataFrame
    queues: pl.DataFrame
    api_errors: pl.DataFrame
    errors: pl.DataFrame  # system.error_occurred events of the window


def load_ops(
    engine: Engine, start_ms: int, end_ms: int, filters: Mapping[str, str], settings: Settings | None = None
) -> OpsData:
    """Read the newest agent, queue and API state (last 15 minutes of samples) and the window's error events."""
    recent = max(start_ms, end_ms - 15 * 60_000)
    load = last_by_label(
        series(engine, "qms_agent_load_percent", recent, end_ms, agg="last", settings=settings), "agent"
    )
    up = last_by_label(series(engine, "qms_agent_up", recent, end_ms, agg="last", settings=settings), "agent")
    changes = load_events(engine, ["system.agent_status_changed"], end_ms - 7 * 24 * HOUR_MS, end_ms, settings=settings)
    queue_samples = last_by_label(
        series(engine, "qms_queue_depth", end_ms - 15 * 60_000, end_ms, agg="last", settings=settings), "queue"
    )
    queue_events = load_events(engine, ["system.queue_depth_updated"], end_ms - HOUR_MS, end_ms, settings=settings)
    api = last_by_label(series(engine, "api_errors_percent", recent, end_ms, agg="avg", settings=settings), "endpoint")
    errors = apply_filters(load_events(engine, ["system.error_occurred"], start_ms, end_ms, settings=settings), filters)
    return OpsData(agent_status(load, up, changes), queue_depths(queue_samples, queue_events), api, errors)


def resource_frames(
    engine: Engine, start_ms: int, end_ms: int, step_ms: int, settings: Settings | None = None
) -> dict[str, pl.DataFrame]:
    """Per resource panel: the query result of its selector, ``series`` shortened to its labels.

    The panels are CPU %, memory %, disk % and network B/s.

    The ``host`` label is dropped when one host reports (kept with several, so their lines stay apart), and a
    filesystem is named by its mount point alone (device and type would only push the legend past its width).
    """
    frames = {
        name: series(engine, selector, start_ms, end_ms, step_ms=step_ms, settings=settings)
        for name, (selector, _) in RESOURCES.items()
    }
    out = {}
    for name, frame in frames.items():
        drop = ["device", "fstype"] + (
            ["host"] if frame["series"].str.extract(r'host="([^"]*)"').n_unique() <= 1 else []
        )
        short = pl.col("series").str.replace(r"^[^{]*\{", "").str.replace(r"\}$", "")
        for label in drop:
            short = short.str.replace_all(f'{label}="[^"]*"(, ?)?', "")
        out[name] = frame.with_columns(
            pl.when(short.str.strip_chars(", ") == "")
            .then(pl.lit(name))
            .otherwise(short.str.strip_chars(", "))
            .alias("series")
        )
    return out


def load_anomalies(engine: Engine, end_ms: int, settings: Settings | None = None) -> pl.DataFrame:
    """Anomalies of the last hour in the key operational series (:data:`ANOMALY_SERIES`), using 6 h of history."""
    frames = [
        series(engine, selector, end_ms - 6 * HOUR_MS, end_ms, step_ms=300_000, settings=settings)
        for selector in ANOMALY_SERIES
    ]
    frames = [f for f in frames if not f.is_empty()]
    if not frames:
        return pl.DataFrame(schema=ANOMALY_SCHEMA)
    found = anomalies(pl.concat([f.select("ts", "series", "value") for f in frames]))
    return found.filter(pl.col("ts").dt.epoch("ms") >= end_ms - HOUR_MS)
