"""The read API under ``/api/v1``: dashboard summaries per audience, series, SLAs (alerts, QSE,
migration, forecasts, insights and reports live beside it in read_alerts.py, read_programmes.py,
read_insights.py and read_reports.py).

Each endpoint calls the function its page calls, with the same window, filters and viewer,
and sends what that function returns through core/api/envelope.py — no second computation,
so the API and the page cannot disagree. :func:`install` mounts every read router on the API
and renders their errors as ``{status: "error", error: {code, message, details}}``.
"""

from __future__ import annotations

from collections.abc import Callable
from time import perf_counter
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, FastAPI, Path, Query, Request, Response
from fastapi.exception_handlers import http_exception_handler, request_validation_exception_handler
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException

from core.api import docs_page, read_alerts, read_insights, read_programmes, read_reports
from core.api.caller import (
    Caller,
    bad,
    caller_dependency,
    filters_of,
    listed,
    parse_duration,
    parse_time,
    run,
    span,
)
from core.api.envelope import (
    DEFAULT_LIMIT,
    ERROR_RESPONSES,
    MAX_LIMIT,
    Envelope,
    ReadError,
    answer,
    error_response,
    page,
    plain,
)
from core.auth.access import NotAllowed
from core.config import Settings
from core.kpis import developer as dev
from core.kpis import operations, workflow
from core.kpis import quality as qa
from core.kpis.executive import load_executive
from core.kpis.records import newest_event_ms
from core.model import now_ms
from core.query.guard import guarded_series
from core.query.selectors import SelectorError
from core.query.timewindow import HOUR_MS, Window
from core.sla.compliance import WINDOWS_S
from core.sla.report import build_report
from core.sla.status import statuses
from core.sla.view import only_sla, summary

TAG = "read"
Timeframe = Literal["1h", "4h", "24h", "7d", "30d"]
Audience = Literal["executive", "operational", "developer", "qa"]
PAGE_OF: dict[str, str] = {"executive": "executive", "operational": "operations", "developer": "developer", "qa": "qa"}
DEFAULT_TIMEFRAME: dict[str, str] = {"executive": "7d", "operational": "24h", "developer": "24h", "qa": "7d"}
EXECUTIVE_GROUPS: dict[str, tuple[str, ...]] = {
    "quality": ("quality_score", "defect_detection_pct", "false_positive_pct", "compliance_pct"),
    "efficiency": ("review_cycle_h", "completion_pct", "utilisation_pct", "sla_pct", "sla_target_pct"),
    "business": ("cost_per_review", "time_to_merge_h", "reviews"),
}
QUERY_AGGS = ("avg", "min", "max", "sum", "count", "last", "rate")
MAX_POINTS = 11_000  # per series, as Prometheus caps a range query
MAX_SERIES = 2_000  # series one answer may carry (core.query.series.MAX_SERIES matches at most this many)

Text = Annotated[str | None, Query(max_length=200)]
Limit = Annotated[int, Query(ge=1, le=MAX_LIMIT, description="items per page")]
Cursor = Annotated[str | None, Query(max_length=200, description="next_cursor of the previous page")]


def window_data(start_ms: int, end_ms: int) -> dict[str, Any]:
    """The period an answer covers, for clients and for checking it against the page."""
    return {"start_ms": start_ms, "end_ms": end_ms}


# --- dashboards -------------------------------------------------------------------------------------------------


def executive_summary(caller: Caller, start: int, end: int, filters: dict[str, str], groups: list[str]) -> Any:
    """The Executive page's KPIs (this period and the one before), trends and open critical defects."""
    win = Window(start, end, "api")
    data = load_executive(caller.engine, start, end, end, win.step_ms(60), filters, caller.viewer, caller.settings)
    fields = [f for group in (groups or list(EXECUTIVE_GROUPS)) for f in EXECUTIVE_GROUPS[group]]
    current, previous = plain(data.current, caller.viewer), plain(data.previous, caller.viewer)
    return {
        "current": {k: v for k, v in current.items() if k in fields},
        "previous": {k: v for k, v in previous.items() if k in fields},
        "critical_open": data.critical_open,
        "trends": plain(data.trends, caller.viewer),
    }


def operational_summary(caller: Caller, start: int, end: int, filters: dict[str, str]) -> Any:
    """The Operations page's live state: open workflows per step, agents, queues, components, errors."""
    ops = operations.load_ops(caller.engine, start, end, filters, caller.settings)
    events = workflow.load_workflow_events(caller.engine, end, end + 1, filters, caller.settings)
    open_now = workflow.open_workflows(events)
    return {
        "active_workflows": open_now.height,
        "pipeline": plain(workflow.pipeline_counts(open_now), caller.viewer),
        "agents": plain(operations.agent_summary(ops.agents), caller.viewer),
        "agent_status": plain(ops.agents, caller.viewer),
        "queues": plain(ops.queues, caller.viewer),
        "components": plain(
            operations.component_status(ops.queues, ops.agents, ops.api_errors, ops.errors, end), caller.viewer
        ),
        "recent_errors": plain(operations.recent_errors(ops.errors), caller.viewer),
    }


def developer_summary(caller: Caller, start: int, end: int, filters: dict[str, str]) -> Any:
    """The Developer page: the team's review queue, step times (last 4 h), API per endpoint, database."""
    now = end
    steps = dev.load_steps(caller.engine, min(start, now - dev.QUEUE_LOOKBACK_MS), end, filters)
    queue = dev.review_queue(
        steps, None, caller.viewer, now_ms=now, day_start_ms=now - now % dev.DAY_MS, since_ms=start
    )
    api = dev.api_performance(caller.engine, start, end)
    return {
        "review_queue": plain(queue, caller.viewer),
        "steps_last_4h": plain(
            dev.step_performance(caller.engine, end - dev.STEP_WINDOW_MS, end, filters), caller.viewer
        ),
        "api_endpoints": plain(api.table, caller.viewer),
        "database": plain(dev.database_performance(caller.engine, start, end), caller.viewer),
    }


def qa_summary(caller: Caller, start: int, end: int, filters: dict[str, str]) -> Any:
    """The Quality page: gate totals and per gate, defect KPIs, compliance, test suites, coverage."""
    data = qa.load_quality(caller.engine, start, end, filters)
    found = qa.found_between(data.defects, start, end)
    return {
        "gates": plain(qa.gate_totals(data.gates), caller.viewer),
        "gate_summary": plain(qa.gate_summary(data.gates), caller.viewer),
        "defects": plain(
            qa.defect_kpis(data.defects, start_ms=start, end_ms=end, day_start_ms=end - end % qa.DAY_MS), caller.viewer
        ),
        "defects_by_component": plain(qa.defects_by(found, "component"), caller.viewer),
        "compliance": plain(qa.compliance(data.compliance_events), caller.viewer),
        "suites": plain(qa.suite_table(data.runs), caller.viewer),
        "coverage": plain(qa.coverage(data.gates), caller.viewer),
    }


FRESHNESS_TYPES: dict[str, tuple[str, ...]] = {
    "executive": ("workflow.*", "qa.*"),
    "operational": ("workflow.*", "system.*"),
    "developer": ("workflow.*",),
    "qa": (*qa.GATE_EVENTS, *qa.DEFECT_EVENTS, qa.COMPLIANCE_EVENT),
}


def dashboard_data(
    caller: Caller, audience: str, start: int, end: int, filters: dict[str, str], groups: list[str]
) -> tuple[dict[str, Any], int | None]:
    """What ``/dashboard/{audience}`` answers, and the newest event it reads."""
    if audience == "executive":
        body = executive_summary(caller, start, end, filters, groups)
    elif audience == "operational":
        body = operational_summary(caller, start, end, filters)
    elif audience == "developer":
        body = developer_summary(caller, start, end, filters)
    else:
        body = qa_summary(caller, start, end, filters)
    data = {"dashboard_id": audience, "window": window_data(start, end), "filters": filters, **body}
    return data, newest_event_ms(caller.engine, FRESHNESS_TYPES[audience])


# --- series -----------------------------------------------------------------------------------------------------


def query_data(
    caller: Caller,
    selector: str,
    start: int,
    end: int,
    step: int | None,
    agg: str,
    *,
    max_points: int | None = None,
    limit: int | None = None,
    rank: str = "max",
) -> dict[str, Any]:
    """Series as the Explore page reads them (core.query.guard.guarded_series: the caller's role filters metrics).

    Past ``limit`` (``max_series_shown``) matching series only the top ones by ``rank`` come back, as on Explore;
    ``series_total`` and ``left_out`` say how many matched and how many were cut.
    """
    guarded = guarded_series(
        caller.engine,
        selector,
        start,
        end,
        caller.viewer,
        agg=agg,  # type: ignore[arg-type]
        stat=rank,  # type: ignore[arg-type]
        limit=limit,
        max_points=max_points if step is None else None,
        step_ms=step,
    )
    frame = guarded.frame
    result = []
    if frame.height:
        grouped = frame.sort("series", "ts").group_by("series", "labels", maintain_order=True).agg("ts", "value")
        for name, labels, stamps, values in grouped.iter_rows():
            points = [[int(ts.timestamp() * 1000), plain(v)] for ts, v in zip(stamps, values, strict=True)]
            result.append({"series": name, "labels": plain(labels), "points": points})
    return {
        "selector": selector,
        "agg": agg,
        "window": window_data(start, end),
        "step_ms": guarded.step_ms,
        "series_total": guarded.total,
        "left_out": guarded.left_out,
        "rank": rank,
        "result": result,
    }


# --- router -----------------------------------------------------------------------------------------------------


def router(settings_provider: Callable[[], Settings]) -> APIRouter:
    """Dashboards, series and SLAs."""
    reader = Depends(caller_dependency("read", settings_provider))
    routes = APIRouter(prefix="/v1", tags=[TAG], responses=ERROR_RESPONSES)

    def ttl() -> int:
        return int(settings_provider().query_cache_ttl_s)

    @routes.get(
        "/dashboard/{audience}",
        summary="A dashboard's numbers for one audience, as its page shows them",
        response_model=Envelope,
    )
    async def dashboard(
        request: Request,
        audience: Audience,
        timeframe: Timeframe | None = None,
        component: Text = None,
        team: Text = None,
        repository: Text = None,
        metrics: Annotated[
            str | None, Query(max_length=100, description="executive only: some of quality,efficiency,business")
        ] = None,
        caller: Caller = reader,
    ) -> Response:
        started = perf_counter()
        caller.require_page(PAGE_OF[audience])
        groups = listed("metrics", metrics, tuple(EXECUTIVE_GROUPS))
        start, end = span(timeframe or DEFAULT_TIMEFRAME[audience], caller.settings)
        filters = filters_of(component=component, team=team, repository=repository)
        data, newest = await run(caller.settings, lambda: dashboard_data(caller, audience, start, end, filters, groups))
        return answer(request, data, started=started, newest_ms=newest, max_age_s=ttl())

    @routes.get(
        "/query", summary="Series matching a selector, bucketed as the Explore page reads them", response_model=Envelope
    )
    async def query(
        request: Request,
        selector: Annotated[str, Query(min_length=1, max_length=2000, description='e.g. cpu_percent{host="web-1"}')],
        start: Annotated[
            str | None, Query(max_length=40, description="epoch seconds or ISO 8601; default end − 1 h")
        ] = None,
        end: Annotated[str | None, Query(max_length=40, description="epoch seconds or ISO 8601; default now")] = None,
        step: Annotated[
            str | None, Query(max_length=20, description="bucket width: 60, 5m, 1h …; default by range")
        ] = None,
        agg: Literal["avg", "min", "max", "sum", "count", "last", "rate"] = "avg",
        max_points: Annotated[
            int | None,
            Query(
                ge=2, le=MAX_POINTS, description="without step: at most this many points per series (max_data_points)"
            ),
        ] = None,
        limit: Annotated[
            int | None, Query(ge=1, le=MAX_SERIES, description="series returned at most (max_series_shown)")
        ] = None,
        rank: Literal["max", "mean", "min", "last"] = "max",
        caller: Caller = reader,
    ) -> Response:
        started = perf_counter()
        caller.require_page("explore")
        end_ms = parse_time("end", end, now_ms())
        start_ms = parse_time("start", start, end_ms - HOUR_MS)
        if start_ms >= end_ms:
            raise bad("start", "must be before end")
        if end_ms - start_ms > 400 * 86_400_000:
            raise bad("start", "the range may span at most 400 days")
        step_ms = parse_duration("step", step)
        if step_ms is not None and (end_ms - start_ms) / step_ms > MAX_POINTS:
            raise bad("step", f"gives more than {MAX_POINTS} points per series; use a wider step")

        def work() -> dict[str, Any]:
            try:
                return query_data(
                    caller, selector, start_ms, end_ms, step_ms, agg, max_points=max_points, limit=limit, rank=rank
                )
            except SelectorError as error:
                raise bad("selector", str(error)) from None
            except NotAllowed as error:
                raise ReadError(403, "forbidden", str(error), {"parameter": "selector"}) from None

        data = await run(caller.settings, work)
        newest = max((p[0] for s in data["result"] for p in s["points"]), default=None)
        return answer(request, data, started=started, newest_ms=newest, max_age_s=ttl())

    @routes.get(
        "/slas", summary="Every SLA's compliance over the range, as the SLA page's table", response_model=Envelope
    )
    async def slas(
        request: Request,
        timeframe: Timeframe = "24h",
        limit: Limit = DEFAULT_LIMIT,
        cursor: Cursor = None,
        caller: Caller = reader,
    ) -> Response:
        started = perf_counter()
        caller.require_page("sla")
        start, end = span(timeframe, caller.settings)

        def work() -> list[dict[str, Any]]:
            found = statuses(
                caller.engine, caller.settings, now_ms=end, windows_s={"range": (end - start) // 1000, **WINDOWS_S}
            )
            rows = plain(summary(found, "range"), caller.viewer) if found else []
            return [{"id": s.definition.id, **row} for s, row in zip(found, rows, strict=True)]

        rows = await run(caller.settings, work)
        data = {"window": window_data(start, end), **page(rows, limit, cursor)}
        return answer(request, data, started=started, newest_ms=None, max_age_s=ttl())

    @routes.get(
        "/slas/{sla_id}/report",
        summary="One SLA's report for the range: figures, trend, breaches",
        response_model=Envelope,
    )
    async def sla_report(
        request: Request,
        sla_id: Annotated[str, Path(max_length=200)],
        timeframe: Timeframe = "24h",
        caller: Caller = reader,
    ) -> Response:
        started = perf_counter()
        caller.require_page("sla")
        start, end = span(timeframe, caller.settings)

        def work() -> dict[str, Any]:
            report = build_report(caller.engine, caller.settings, start, end, now_ms=end)
            line = next((x for x in report.lines if x.sla_id == sla_id), None)
            if line is None:
                known = ", ".join(x.sla_id for x in report.lines) or "none"
                raise ReadError(404, "not_found", f"no SLA {sla_id!r}; known: {known}", {"sla_id": sla_id})
            return {
                "window": window_data(start, end),
                "trend_step_ms": report.trend_step_ms,
                "line": plain(line, caller.viewer),
                "delta": plain(line.delta(), caller.viewer),
                "breaches": plain(only_sla(report.breaches, sla_id), caller.viewer),
            }

        data = await run(caller.settings, work)
        return answer(request, data, started=started, newest_ms=None, max_age_s=ttl())

    return routes


def install(api: FastAPI, settings_provider: Callable[[], Settings]) -> None:
    """Mount the read API, its docs page and its error shape on ``api`` (core/api/routes.py calls this)."""
    api.include_router(router(settings_provider))
    api.include_router(read_alerts.router(settings_provider))
    api.include_router(read_programmes.router(settings_provider))
    api.include_router(read_insights.router(settings_provider))
    api.include_router(read_reports.router(settings_provider))
    api.include_router(docs_page.router())

    @api.exception_handler(ReadError)
    async def _read_error(_request: Request, error: ReadError) -> JSONResponse:
        return error_response(error)

    @api.exception_handler(StarletteHTTPException)
    async def _http_error(request: Request, error: StarletteHTTPException) -> Response:
        """FastAPI's own refusals (a body that is not JSON, say) in the read API's error shape on its routes."""
        route = request.scope.get("route")
        if TAG not in (getattr(route, "tags", None) or []):
            return await http_exception_handler(request, error)
        code = "bad_request" if error.status_code < 500 else "server_error"
        return error_response(ReadError(error.status_code, code, str(error.detail), {}, error.headers))

    @api.exception_handler(RequestValidationError)
    async def _invalid(request: Request, error: RequestValidationError) -> Response:
        route = request.scope.get("route")
        if TAG not in (getattr(route, "tags", None) or []):
            return await request_validation_exception_handler(request, error)
        problems = [
            {
                "parameter": str(e["loc"][-1]) if e.get("loc") else "",
                "in": str(e["loc"][0]) if e.get("loc") else "",
                "message": str(e.get("msg", "")),
            }
            for e in error.errors()
        ]
        names = ", ".join(sorted({p["parameter"] for p in problems})) or "request"
        first = problems[0]["message"] if problems else "invalid"
        return error_response(
            ReadError(422, "bad_parameter", f"{names}: {first}", {"parameter": names, "parameters": problems})
        )
