"""The forecast job: refit what is due and store it, so pages read finished forecasts instantly.

Registered in app.py as a singleton (one replica fits for all). Each run:

1. takes a pending "Refit now" request (core.store.forecasts.request_refit) — then everything is due;
2. lists the tasks: each capacity resource × horizon (24 h, 7 d, 30 d), the completion ETAs of QSE
   sessions (the migration's is the Migration page's schedule, read live by core.forecasting.view) and the
   Executive page's KPI predictions;
3. refits a task when forced or when 1/96 of its horizon has passed since its last fit (every 15 min for
   24 h, 1¾ h for 7 d, 7½ h for 30 d; hourly for the ETAs and predictions, whose inputs are daily) —
   every 5 minutes while it lacks data — and stores every row with the inputs' last bucket and fit time;
4. writes its progress after each task, which the page's "Refit now" shows as a progress bar.

A task that fails is logged and counted and the rest go on; series that disappear lose their rows.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np
import polars as pl
from sqlalchemy.engine import Engine

from core.analytics.forecast import PERCENT, fit_query, served
from core.config import Settings, get_settings
from core.forecasting.etas import qse_etas
from core.forecasting.resources import HORIZON_LABELS, HORIZONS_S, RESOURCES, Resource, summarise
from core.kpis.executive import EXEC_TYPES, HISTORY_DAYS, HORIZON_DAYS, PREDICTED, daily_history
from core.kpis.records import load_events
from core.model import now_ms as clock_ms
from core.store import forecasts as store

log = logging.getLogger(__name__)

DAY_MS = 86_400_000
ETA_REFIT_S = 3600.0  # the ETAs' and predictions' inputs are daily: an hourly refit is plenty
ETA_HISTORY_DAYS = 90
RETRY_S = 300.0  # how often a task that found too little data looks again


@dataclass(frozen=True)
class Task:
    """One unit of refitting: a subject, its horizon, when it is due, and what it writes."""

    subject: str
    name: str  # what the progress bar says
    horizon_s: float
    refit_s: float
    prefix: str  # the targets this task writes start with this
    run: Callable[[int], list[store.StoredForecast]]


@dataclass
class RunReport:
    """What one run did."""

    forced: bool = False
    due: list[str] = field(default_factory=list)  # the tasks this run refitted (by name)
    fitted: int = 0
    rows: int = 0
    errors: dict[str, str] = field(default_factory=dict)
    seconds: float = 0.0


def _capacity(
    engine: Engine, settings: Settings, res: Resource, horizon_s: float
) -> Callable[[int], list[store.StoredForecast]]:
    def run(now: int) -> list[store.StoredForecast]:
        rows = []
        for fitted in fit_query(engine, res.metric, horizon_s, now, settings, serve=True):
            summary = summarise(res, fitted, horizon_s, settings)
            fc = fitted.forecast
            rows.append(
                store.StoredForecast(
                    "capacity",
                    f"{res.key}|{fitted.series}",
                    int(horizon_s),
                    fc.status,
                    now,
                    fc.last_ms,
                    fc.fit_s,
                    summary,
                )
            )
        return rows

    return run


def _etas(engine: Engine, settings: Settings) -> Callable[[int], list[store.StoredForecast]]:
    def run(now: int) -> list[store.StoredForecast]:
        started = time.perf_counter()
        events = load_events(engine, ("qse.*",), now - ETA_HISTORY_DAYS * DAY_MS, now + 1, settings=settings)
        found = qse_etas(events, now)  # the migration's ETA is not fitted: the page reads its schedule live
        spent = time.perf_counter() - started
        newest = int(events["ts"].max()) if events.height else None  # type: ignore[arg-type]
        return [
            store.StoredForecast(
                "eta",
                f"{eta.kind}|{eta.name}",
                0,
                "ok" if eta.eta_ms is not None else "insufficient",
                now,
                newest,
                spent / max(len(found), 1),
                eta.to_json() | {"fitted_ms": now},
            )
            for eta in found
        ]

    return run


def _executive(engine: Engine, settings: Settings) -> Callable[[int], list[store.StoredForecast]]:
    def run(now: int) -> list[store.StoredForecast]:
        end = now - now % DAY_MS
        start = end - HISTORY_DAYS * DAY_MS
        events = load_events(engine, EXEC_TYPES, start - 2 * DAY_MS, end, settings=settings)
        history = daily_history(events, start, end, now)
        rows = []
        for kpi in PREDICTED:
            part = history.filter(pl.col("series") == kpi).drop_nulls("value").sort("ts_ms")
            ts, values = part["ts_ms"].to_numpy(), part["value"].to_numpy().astype(np.float64)
            fitted = served(ts, values, HORIZON_DAYS * 86_400.0, bounds=PERCENT, step_ms=DAY_MS)
            result = {
                "kpi": kpi,
                "latest": float(values[-1]) if len(values) else None,
                "days": len(values),
                "forecast": fitted.to_json(),
            }
            rows.append(
                store.StoredForecast(
                    "executive",
                    kpi,
                    int(HORIZON_DAYS * 86_400),
                    fitted.status,
                    now,
                    fitted.last_ms,
                    fitted.fit_s,
                    result,
                )
            )
        return rows

    return run


def tasks(engine: Engine, settings: Settings) -> list[Task]:
    """Everything the job keeps fitted, cheapest first (so a "Refit now" shows progress early)."""
    out = [
        Task(
            "executive", "Executive predictions", HORIZON_DAYS * 86_400.0, ETA_REFIT_S, "", _executive(engine, settings)
        ),
        Task("eta", "Completion ETAs", 0.0, ETA_REFIT_S, "", _etas(engine, settings)),
    ]
    for horizon_s in HORIZONS_S:
        for res in RESOURCES:
            name = f"{res.title}, {HORIZON_LABELS[int(horizon_s)]}"
            run = _capacity(engine, settings, res, horizon_s)
            out.append(Task("capacity", name, horizon_s, horizon_s / 96, f"{res.key}|", run))
    return out


Stamps = dict[tuple[str, int], tuple[int, str]]


def _mine(task: Task, stamps: Stamps) -> Stamps:
    return {k: v for k, v in stamps.items() if k[1] == int(task.horizon_s) and k[0].startswith(task.prefix)}


def _due(task: Task, stamps: Stamps, ran: dict[str, int], now: int) -> bool:
    """Due when it never ran, when its oldest row is older than its refit interval, or — while it has found
    too little data (no series, or a series with too short a history) — every :data:`RETRY_S`, so forecasts
    appear soon after the data does (a fresh install, the demo's back-fill) rather than a horizon/96 later."""
    mine = _mine(task, stamps)
    last = min(fitted for fitted, _ in mine.values()) if mine else ran.get(task.name)
    if last is None or now - last >= task.refit_s * 1000:
        return True
    lacking = not mine or any(status != "ok" for _, status in mine.values())
    return lacking and now - ran.get(task.name, last) >= RETRY_S * 1000


def run_forecasts(
    engine: Engine, settings: Settings | None = None, now_ms: int | None = None, *, force: bool = False
) -> RunReport:
    """One run of the job at ``now_ms`` (default: the clock); ``force`` refits everything."""
    settings = settings or get_settings()
    began = time.perf_counter()
    request = store.pending_request(engine)
    last = store.progress(engine)
    forced = force or (request is not None and request.get("at", 0) > last.get("started", 0))
    now = clock_ms() if now_ms is None else now_ms
    report = RunReport(forced=forced)
    todo = tasks(engine, settings)
    stamps = {subject: store.stamps(engine, subject) for subject in {t.subject for t in todo}}
    ran: dict[str, int] = dict(last.get("ran", {}))
    due = [t for t in todo if forced or _due(t, stamps[t.subject], ran, now)]
    report.due = [t.name for t in due]
    if not due:
        return report
    # "started" is the wall clock, compared with the request's: a synthetic now_ms must not swallow requests
    progress = {"running": True, "done": 0, "total": len(due), "started": clock_ms(), "forced": forced, "ran": ran}
    for n, task in enumerate(due):
        store.set_progress(engine, progress | {"done": n, "current": task.name})
        try:
            rows = task.run(now)
        except Exception as error:  # noqa: BLE001 - one failing fit (a vanished table, Stan) must not stop the rest
            report.errors[task.name] = f"{type(error).__name__}: {error}"
            log.warning("forecast task %s failed: %s", task.name, error)
            continue
        ran[task.name] = now
        store.save(engine, rows)
        gone = set(_mine(task, stamps[task.subject])) - {(r.target, r.horizon_s) for r in rows}
        store.drop(engine, task.subject, gone)
        report.fitted += 1
        report.rows += len(rows)
    report.seconds = time.perf_counter() - began
    store.set_progress(
        engine,
        progress
        | {
            "running": False,
            "done": len(due),
            "current": "",
            "finished": clock_ms(),
            "errors": report.errors,
            "ran": ran,
        },
    )
    log.info(
        "forecasts: %d tasks, %d rows in %.1f s%s", report.fitted, report.rows, report.seconds, " (forced)" * forced
    )
    return report
