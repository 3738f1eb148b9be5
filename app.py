"""Pulseboard's process: the Streamlit UI, the HTTP API, /metrics and background jobs.

``streamlit run app.py`` finds the ``st.App`` below and serves it: every browser session
runs pages/navigation.py; ``/api`` is a FastAPI sub-application; ``/metrics`` exposes
Pulseboard's own health; the lifespan migrates the store, then starts collectors and
jobs and stops them cleanly on shutdown.
"""

from __future__ import annotations

import gc
import logging
import os
import sys
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

# polars' jemalloc reads its options once, when polars loads (before any import below can load it): a
# background thread hands freed pages back within a second instead of keeping them for later
# (docs/deployment.md, "Memory"). An operator's own _RJEM_MALLOC_CONF wins.
os.environ.setdefault("_RJEM_MALLOC_CONF", "background_thread:true,dirty_decay_ms:1000,muzzy_decay_ms:0")

import streamlit as st  # after the allocator options above
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Mount, Route

from core import selfmetrics
from core.api.prometheus import create_prometheus_api
from core.api.routes import create_api
from core.api.session_cookie import clear_cookie, set_cookie
from core.auth import users
from core.auth.tokens import TokenRefused, authorize
from core.config import ConfigError, get_settings
from core.jobs import Scheduler
from core.store import get_engine
from core.ui.netaddr import bound_to_localhost
from core.ui.nodelay import listen_without_nagle
from core.ui.warmup import warm_up_in_background

# Everything this process creates — the SQLite store and its WAL, the spool, rejected inbox
# lines, secrets — holds data or credentials for its own user only: files 0600, folders 0700.
# Set before anything touches the data folder (docs/security.md, "Files").
os.umask(0o077)
selfmetrics.keep_native_memory_flat()  # before the jobs start their threads (docs/deployment.md, "Memory")
listen_without_nagle()  # Streamlit has bound the port, uvicorn accepts nothing yet: no 40 ms Nagle wait per answer
log = logging.getLogger("pulseboard")

try:
    settings = get_settings()
except ConfigError as error:
    print(error, file=sys.stderr)
    sys.exit(2)

if settings.auth == "off" and not bound_to_localhost():
    print(
        "PULSEBOARD_AUTH=off (no login, open API) is allowed only on a server bound to localhost: "
        "start with --server.address 127.0.0.1, or remove PULSEBOARD_AUTH.",
        file=sys.stderr,
    )
    sys.exit(2)

logging.basicConfig(level=settings.log_level, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
api = create_api()
prometheus_api = create_prometheus_api()


def build_scheduler() -> Scheduler:
    """Every background job of this process, registered but not started.

    Collectors run on every replica (each measures its own host); the store-wide jobs
    are singletons, so with several replicas on one Postgres only the lease holder runs them.
    """
    from collectors.runner import build_scheduler as build_collectors
    from core.alerts.engine import evaluate_all
    from core.forecasting.job import run_forecasts
    from core.insights.job import run_insights
    from core.recording.job import evaluate_recording_rules
    from core.reports.scheduled import run_schedules
    from core.sla.jobs import check_slas
    from core.store.retention import run_retention
    from core.store.rollup import run_rollup

    engine = get_engine(settings)
    scheduler = build_collectors(settings, engine)
    scheduler.add("rollup", settings.rollup_interval_s, lambda: run_rollup(engine), singleton=True)
    scheduler.add("retention", settings.retention_interval_s, lambda: run_retention(engine, settings), singleton=True)
    scheduler.add(
        "recording", settings.recording_interval_s, lambda: evaluate_recording_rules(engine, settings), singleton=True
    )
    scheduler.add("alerts", settings.alert_eval_interval_s, lambda: evaluate_all(engine, settings), singleton=True)
    scheduler.add("sla_check", settings.sla_check_interval_s, lambda: check_slas(engine, settings), singleton=True)
    scheduler.add("forecasts", settings.forecast_interval_s, lambda: run_forecasts(engine, settings), singleton=True)
    scheduler.add("reports", 60.0, lambda: run_schedules(engine, settings), singleton=True)  # docs/reports.md
    scheduler.add("insights", settings.insights_interval_s, lambda: run_insights(engine, settings), singleton=True)
    return scheduler


@asynccontextmanager
async def lifespan(_app: Any) -> AsyncIterator[dict[str, Any]]:
    """Migrate the store, start background work, and stop it on shutdown."""
    engine = get_engine(settings)  # applies pending migrations before anything reads
    if settings.memory_snapshot_dir is not None:
        selfmetrics.start_memory_snapshots(settings.memory_snapshot_dir, settings.memory_snapshot_interval_s)
    if settings.auth == "on":
        users.ensure_first_admin(engine, settings.data_dir)  # logs the one-time password on first run
    if settings.dashboards_dir is not None:  # dashboards as code; a bad file is logged and skipped, never fatal
        from core.dashboards.provision import provision

        provision(engine, settings.dashboards_dir)
    warm_up_in_background(engine)  # Streamlit's table imports and the SQLite readers, before the first viewer
    # Import-time objects live forever: freeze them out of every GC pass, and let the
    # many short-lived dicts of a 5,000-sample batch die young without a full collection.
    gc.collect()
    gc.freeze()
    gc.set_threshold(50_000, 20, 100)
    scheduler = build_scheduler() if settings.collectors else None
    if scheduler is not None:
        scheduler.start()
    api.state.scheduler = scheduler
    log.info(
        "Pulseboard started on %s (%s)",
        engine.url.render_as_string(hide_password=True),
        "jobs on" if scheduler else "jobs off",
    )
    try:
        yield {"scheduler": scheduler}
    finally:
        if scheduler is not None:
            scheduler.stop()
        engine.dispose()
        log.info("Pulseboard stopped")


async def metrics(request: Request) -> Response:
    """Prometheus text exposition of Pulseboard's own metrics."""
    if settings.auth == "on" and not settings.api_auth_open_metrics:
        try:
            await run_in_threadpool(authorize, get_engine(settings), request.headers.get("authorization"), "read")
        except TokenRefused as refused:
            return JSONResponse({"error": refused.message, "problems": []}, status_code=refused.status)
    return Response(selfmetrics.exposition(), media_type="text/plain; version=0.0.4; charset=utf-8")


app = st.App(
    "pages/navigation.py",
    lifespan=lifespan,
    routes=[
        Mount("/api", app=api),
        Mount("/prometheus", app=prometheus_api),
        Route("/metrics", metrics),
        Route("/auth/session", set_cookie, methods=["POST"]),  # the login cookie, HttpOnly (docs/security.md)
        Route("/auth/logout", clear_cookie, methods=["POST"]),
    ],
)
