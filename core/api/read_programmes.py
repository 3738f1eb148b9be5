"""QSE, migration and forecast numbers over the read API, from the functions their pages call.

QSE (``/sessions/{id}/metrics``, ``/organization/overview``, ``/compliance/constitutional``,
``/templates/performance``) reads core.programmes.views as the QSE page does; migration
(``/health/summary``, ``/migration/timeline``, ``/components/health``) reads
core.programmes.migration_store.load_view as the Migration page and ``stats`` do; forecasts
(``/forecasts/capacity``, ``/forecasts/etas``) read the stored fits the Capacity page shows, and the ETAs the
migration's schedule as the Capacity page does.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import PurePath
from time import perf_counter
from typing import Annotated, Any, Literal

import polars as pl
from fastapi import APIRouter, Depends, Path, Query, Request, Response

from core.api.caller import Caller, bad, caller_dependency, filters_of, listed, run, span
from core.api.envelope import DEFAULT_LIMIT, ERROR_RESPONSES, MAX_LIMIT, Envelope, ReadError, answer, page, plain
from core.config import Settings
from core.forecasting import view as forecasts
from core.kpis.records import load_events, newest_event_ms, within
from core.model import now_ms
from core.programmes.compliance import QseRules, criteria
from core.programmes.migration_plan import PlanError
from core.programmes.migration_store import load_view, newest_migration_ms, plan_from_settings
from core.programmes.qse_events import QseData
from core.programmes.views import EVENT_TYPES, ProgrammeView, history_start, programme_view, session_detail

TAG = "read"
Timeframe = Literal["1h", "4h", "24h", "7d", "30d"]
Text = Annotated[str | None, Query(max_length=200)]
Limit = Annotated[int, Query(ge=1, le=MAX_LIMIT)]
Cursor = Annotated[str | None, Query(max_length=200)]
FRAMEWORKS = ("COF", "UCL")


def qse_events(caller: Caller, start: int, end: int) -> pl.DataFrame:
    """The QSE page's event load: the range plus the history its comparisons need."""
    first = history_start(start, end)
    return within(load_events(caller.engine, EVENT_TYPES, first, end, settings=caller.settings), first, end)


def qse_view(caller: Caller, start: int, end: int, filters: dict[str, str]) -> ProgrammeView:
    """:func:`programme_view` exactly as the QSE page asks for it (90 trend buckets)."""
    rules = QseRules.of(caller.settings)
    step = max((end - start) // 90, 60_000)
    return programme_view(qse_events(caller, start, end), start, end, rules, filters, step)


def migration(caller: Caller, start: int, end: int) -> tuple[Any, str | None]:
    """The Migration page's view; a broken plan is reported and the view made from events, as on the page."""
    try:
        plan, plan_file = plan_from_settings(caller.settings)
        problem = None
    except PlanError as error:
        plan, plan_file, problem = None, None, str(error)
    view = load_view(
        caller.engine, start_ms=start, end_ms=end, plan=plan, plan_file=plan_file, settings=caller.settings
    )
    return view, problem


def router(settings_provider: Callable[[], Settings]) -> APIRouter:
    """QSE, migration and forecast endpoints."""
    reader = Depends(caller_dependency("read", settings_provider))
    routes = APIRouter(prefix="/v1", tags=[TAG], responses=ERROR_RESPONSES)

    def ttl() -> int:
        return int(settings_provider().query_cache_ttl_s)

    # --- QSE ----------------------------------------------------------------------------------------------------

    @routes.get(
        "/sessions/{session_id}/metrics",
        summary="One QSE session: phases, gates, criteria, prediction",
        response_model=Envelope,
    )
    async def session_metrics(
        request: Request,
        session_id: Annotated[str, Path(min_length=1, max_length=200)],
        include_predictions: bool = True,
        caller: Caller = reader,
    ) -> Response:
        started = perf_counter()
        caller.require_page("qse")
        start, end = span("30d", caller.settings)

        def work() -> dict[str, Any]:
            detail = session_detail(qse_events(caller, start, end), session_id, end, QseRules.of(caller.settings))
            if detail is None:
                raise ReadError(
                    404, "not_found", f"no QSE event names session {session_id!r}", {"session_id": session_id}
                )
            data = plain(detail, caller.viewer)
            if not include_predictions:
                data.pop("prediction", None)
            return {"session_id": session_id, "as_of_ms": end, **data}

        data = await run(caller.settings, work)
        newest = await run(caller.settings, lambda: newest_event_ms(caller.engine, ("qse.*",)))
        return answer(request, data, started=started, newest_ms=newest, max_age_s=ttl())

    @routes.get(
        "/organization/overview",
        summary="The organisation's QSE figures, as the QSE page's programme view",
        response_model=Envelope,
    )
    async def organisation(
        request: Request,
        time_range: Timeframe = "30d",
        include_trends: bool = True,
        team: Text = None,
        template: Text = None,
        status: Text = None,
        caller: Caller = reader,
    ) -> Response:
        started = perf_counter()
        caller.require_page("qse")
        start, end = span(time_range, caller.settings)
        filters = filters_of(team=team, template=template, status=status)

        def work() -> dict[str, Any]:
            view = qse_view(caller, start, end, filters)
            data = {
                "window": {"start_ms": start, "end_ms": end},
                "filters": filters,
                "kpis": plain(view.kpis, caller.viewer),
                "previous": plain(view.previous, caller.viewer),
                "summary": plain(view.summary, caller.viewer),
                "teams": plain(view.teams, caller.viewer),
                "weakest": plain(view.weakest, caller.viewer),
            }
            if include_trends:
                data["trend"] = plain(view.trend, caller.viewer)
            return data

        data = await run(caller.settings, work)
        newest = await run(caller.settings, lambda: newest_event_ms(caller.engine, ("qse.*",)))
        return answer(request, data, started=started, newest_ms=newest, max_age_s=ttl())

    @routes.get(
        "/compliance/constitutional",
        summary="COF dimensions and UCL laws, scored for some or all sessions",
        response_model=Envelope,
    )
    async def constitutional(
        request: Request,
        session_ids: Annotated[str | None, Query(max_length=2000, description="comma-separated; default all")] = None,
        dimension: Annotated[
            str | None, Query(max_length=500, description="COF, UCL or criterion names, comma-separated")
        ] = None,
        time_range: Timeframe = "30d",
        caller: Caller = reader,
    ) -> Response:
        started = perf_counter()
        caller.require_page("qse")
        start, end = span(time_range, caller.settings)
        ids = listed("session_ids", session_ids)
        wanted = listed("dimension", dimension)

        def work() -> dict[str, Any]:
            rules = QseRules.of(caller.settings)
            data = QseData.of(qse_events(caller, start, end), rules.weights)
            table = criteria(data.assessments, rules, end, ids or None)
            if wanted:
                known = set(table["framework"].to_list()) | set(table["criterion"].to_list()) | set(FRAMEWORKS)
                unknown = [w for w in wanted if w not in known]
                if unknown:
                    raise bad("dimension", f"unknown {', '.join(unknown)}; use COF, UCL or a criterion name")
                table = table.filter(pl.col("framework").is_in(wanted) | pl.col("criterion").is_in(wanted))
            return {"as_of_ms": end, "session_ids": ids, "criteria": plain(table, caller.viewer)}

        data = await run(caller.settings, work)
        return answer(request, data, started=started, newest_ms=None, max_age_s=ttl())

    @routes.get(
        "/templates/performance", summary="QSE template effectiveness, as the QSE page's table", response_model=Envelope
    )
    async def templates(
        request: Request,
        time_range: Timeframe = "30d",
        template_types: Annotated[str | None, Query(max_length=500, description="comma-separated templates")] = None,
        limit: Limit = DEFAULT_LIMIT,
        cursor: Cursor = None,
        caller: Caller = reader,
    ) -> Response:
        started = perf_counter()
        caller.require_page("qse")
        start, end = span(time_range, caller.settings)
        wanted = listed("template_types", template_types)

        def work() -> list[dict[str, Any]]:
            table = qse_view(caller, start, end, {}).templates
            if wanted and "template" in table.columns:
                table = table.filter(pl.col("template").is_in(wanted))
            return list(plain(table, caller.viewer))

        rows = await run(caller.settings, work)
        data = {"window": {"start_ms": start, "end_ms": end}, **page(rows, limit, cursor)}
        return answer(request, data, started=started, newest_ms=None, max_age_s=ttl())

    # --- migration ----------------------------------------------------------------------------------------------

    @routes.get(
        "/health/summary",
        summary="Migration health and headline figures (as `stats summary --json`)",
        response_model=Envelope,
    )
    async def health_summary(request: Request, timeframe: Timeframe = "7d", caller: Caller = reader) -> Response:
        started = perf_counter()
        caller.require_page("migration")
        start, end = span(timeframe, caller.settings)

        def work() -> tuple[dict[str, Any], int | None]:
            view, problem = migration(caller, start, end)
            summary = plain(view.summary(), caller.viewer)
            if summary.get("plan"):  # the file's name, not where it sits on the server
                summary["plan"] = PurePath(str(summary["plan"])).name
            return {"has_data": view.has_data, "plan_error": problem, **summary}, newest_migration_ms(caller.engine)

        data, newest = await run(caller.settings, work)
        return answer(request, data, started=started, newest_ms=newest, max_age_s=ttl())

    @routes.get("/migration/timeline", summary="Migration phases, milestones and blockers", response_model=Envelope)
    async def timeline(request: Request, timeframe: Timeframe = "7d", caller: Caller = reader) -> Response:
        started = perf_counter()
        caller.require_page("migration")
        start, end = span(timeframe, caller.settings)

        def work() -> dict[str, Any]:
            view, problem = migration(caller, start, end)
            return {
                "plan_error": problem,
                "eta_ms": view.eta_ms,
                "eta_low_ms": view.eta_low_ms,
                "eta_high_ms": view.eta_high_ms,
                "eta_interval": view.eta_interval,
                "planned_end_ms": view.planned_end_ms,
                "phases": plain(view.phases, caller.viewer),
                "milestones": plain(view.milestones, caller.viewer),
                "blockers": plain(view.blockers, caller.viewer),
            }

        data = await run(caller.settings, work)
        return answer(request, data, started=started, newest_ms=None, max_age_s=ttl())

    @routes.get("/components/health", summary="Migration components, old vs new", response_model=Envelope)
    async def components(
        request: Request,
        timeframe: Timeframe = "7d",
        limit: Limit = DEFAULT_LIMIT,
        cursor: Cursor = None,
        caller: Caller = reader,
    ) -> Response:
        started = perf_counter()
        caller.require_page("migration")
        start, end = span(timeframe, caller.settings)
        rows = await run(
            caller.settings, lambda: list(plain(migration(caller, start, end)[0].components, caller.viewer))
        )
        return answer(request, page(rows, limit, cursor), started=started, newest_ms=None, max_age_s=ttl())

    # --- forecasts ----------------------------------------------------------------------------------------------

    @routes.get(
        "/forecasts/capacity", summary="Resources ranked by time to their capacity threshold", response_model=Envelope
    )
    async def capacity(
        request: Request, limit: Limit = DEFAULT_LIMIT, cursor: Cursor = None, caller: Caller = reader
    ) -> Response:
        started = perf_counter()
        caller.require_page("capacity")
        now = now_ms()

        def work() -> tuple[dict[str, Any], int | None]:
            stored = forecasts.load(caller.engine)
            ranked = list(plain(forecasts.ranking(stored.capacity, now), caller.viewer))
            advice = plain(forecasts.recommendations(stored.capacity, now), caller.viewer)
            return {"recommendations": advice, **page(ranked, limit, cursor)}, stored.newest_fit_ms

        data, newest = await run(caller.settings, work)
        return answer(request, data, started=started, newest_ms=newest, max_age_s=ttl())

    @routes.get("/forecasts/etas", summary="Completion estimates with their 80 % interval", response_model=Envelope)
    async def etas(request: Request, caller: Caller = reader) -> Response:
        started = perf_counter()
        caller.require_page("capacity")

        def work() -> tuple[dict[str, Any], int | None]:
            stored = forecasts.load(caller.engine)
            migration = forecasts.migration_etas_now(caller.engine, now_ms(), caller.settings)  # as the page: live
            return {"etas": plain(forecasts.etas(stored, migration), caller.viewer)}, stored.newest_fit_ms

        data, newest = await run(caller.settings, work)
        return answer(request, data, started=started, newest_ms=newest, max_age_s=ttl())

    return routes
