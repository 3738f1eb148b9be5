"""``/api/v1/insights``: the Insights page's ranked findings, from core.insights as the page reads them.

The same view (core.insights.view.load_insights) for the same range, with the dismissals in
force applied the same way (core.insights.findings.split): dismissed findings are listed apart,
as the page shows them under "Dismissed".
"""

from __future__ import annotations

from collections.abc import Callable
from time import perf_counter
from typing import Annotated, Literal

from fastapi import APIRouter, Depends, Query, Request, Response

from core.api.caller import Caller, caller_dependency, run, span
from core.api.envelope import DEFAULT_LIMIT, ERROR_RESPONSES, MAX_LIMIT, Envelope, answer, page, plain
from core.config import Settings
from core.insights.findings import split, table
from core.insights.view import hidden, load_insights

TAG = "read"


def router(settings_provider: Callable[[], Settings]) -> APIRouter:
    """The insights endpoint."""
    reader = Depends(caller_dependency("read", settings_provider))
    routes = APIRouter(prefix="/v1", tags=[TAG], responses=ERROR_RESPONSES)

    @routes.get(
        "/insights",
        summary="Ranked findings (regressions, opportunities) as the Insights page lists them",
        response_model=Envelope,
    )
    async def insights(
        request: Request,
        timeframe: Literal["1h", "4h", "24h", "7d", "30d"] = "7d",
        limit: Annotated[int, Query(ge=1, le=MAX_LIMIT)] = DEFAULT_LIMIT,
        cursor: Annotated[str | None, Query(max_length=200)] = None,
        caller: Caller = reader,
    ) -> Response:
        started = perf_counter()
        caller.require_page("insights")
        start, end = span(timeframe, caller.settings)

        def work() -> tuple[dict[str, object], int | None]:
            view = load_insights(caller.engine, caller.settings, start, end)
            shown, dismissed = split(view.findings, hidden(caller.engine))
            rows = list(plain(table(shown), caller.viewer))
            data = {
                "window": {"start_ms": start, "end_ms": end},
                "baselines_ms": view.baselines_ms,
                "scores": plain(view.scores, caller.viewer),
                "dismissed": plain(table(dismissed), caller.viewer),
                **page(rows, limit, cursor),
            }
            return data, view.baselines_ms

        data, newest = await run(caller.settings, work)
        return answer(
            request, data, started=started, newest_ms=newest, max_age_s=int(caller.settings.query_cache_ttl_s)
        )

    return routes
