"""``/api/v1/reports``: generate a report as the Reports page does, follow it, download it.

``POST /reports/generate`` calls core.reports.generate.start_background with the same kind,
format, period and filters the page passes, and answers ``202`` with the report's id at once
(a 30-day PDF takes seconds); ``GET /reports/{id}`` gives its progress and ``GET
/reports/{id}/content`` the finished file. At most :data:`MAX_RUNNING` reports build at a time
(``429`` with ``Retry-After`` beyond), so a client looping on the endpoint cannot starve the server.
"""

from __future__ import annotations

from collections.abc import Callable
from time import perf_counter
from typing import Annotated, Any, Literal

import polars as pl
from fastapi import APIRouter, Depends, Path, Request, Response
from pydantic import BaseModel, ConfigDict, Field

from core.api.caller import Caller, caller_dependency, parse_time, run, span
from core.api.envelope import ERROR_RESPONSES, Envelope, ErrorBody, ReadError, answer, plain
from core.config import Settings
from core.model import now_ms
from core.reports import history
from core.reports.build import ReportError
from core.reports.deliver import filename
from core.reports.generate import start_background

TAG = "read"
MAX_RUNNING = 2
STALE_MS = 10 * 60_000
MIME = {"html": "text/html; charset=utf-8", "pdf": "application/pdf"}


class ReportRequest(BaseModel):
    """What to generate: the page's report kinds and formats, a period, the page's filters."""

    model_config = ConfigDict(extra="forbid")
    kind: Literal["executive", "technical", "sla", "qse", "migration"]
    format: Literal["html", "pdf"] = "pdf"
    timeframe: Literal["1h", "4h", "24h", "7d", "30d"] | None = Field(
        None, description="default 30d unless start given"
    )
    start: str | None = Field(None, max_length=40, description="epoch seconds or ISO 8601, instead of timeframe")
    end: str | None = Field(None, max_length=40, description="epoch seconds or ISO 8601; default now")
    component: str | None = Field(None, max_length=200)
    team: str | None = Field(None, max_length=200)
    repository: str | None = Field(None, max_length=200)


def status_of(stored: history.Stored) -> dict[str, Any]:
    """A history row as the API shows it (never the content)."""
    return {
        "id": stored.id,
        "kind": stored.kind,
        "format": stored.format,
        "start_ms": stored.start_ms,
        "end_ms": stored.end_ms,
        "scope": stored.scope,
        "requested_by": stored.requested_by,
        "requested_ms": stored.requested_ms,
        "status": stored.status,
        "progress": stored.progress,
        "message": stored.message,
        "size": stored.size,
        "filename": filename(stored.kind, stored.start_ms, stored.end_ms, stored.format),
    }


def router(settings_provider: Callable[[], Settings]) -> APIRouter:
    """Report generation, progress and download."""
    reader = Depends(caller_dependency("read", settings_provider))
    routes = APIRouter(prefix="/v1", tags=[TAG], responses=ERROR_RESPONSES)

    @routes.post(
        "/reports/generate",
        summary="Generate a report as the Reports page does; answers 202 with its id",
        status_code=202,
        response_model=Envelope,
        responses={429: {"model": ErrorBody, "description": "reports are being generated; retry later"}},
    )
    async def generate(request: Request, body: ReportRequest, caller: Caller = reader) -> Response:
        started = perf_counter()
        caller.require_page("reports")
        if body.start is not None:
            end = parse_time("end", body.end, span("1h", caller.settings)[1])
            start = parse_time("start", body.start, end)
            if start >= end:
                raise ReadError(422, "bad_body", "start: must be before end", {"parameter": "start"})
        else:
            start, end = span(body.timeframe or "30d", caller.settings)
        scope = {
            k: v for k, v in (("component", body.component), ("team", body.team), ("repository", body.repository)) if v
        }

        def work() -> dict[str, Any]:
            recent = now_ms() - STALE_MS  # a row left "running" by a stopped server must not block for ever
            running = (
                history.history(caller.engine)
                .filter((pl.col("status") == "running") & (pl.col("requested") >= recent))
                .height
            )
            if running >= MAX_RUNNING:
                raise ReadError(
                    429,
                    "busy",
                    f"{running} reports are being generated; retry when one is done",
                    {"running": running},
                    {"Retry-After": "10"},
                )
            try:
                report_id, _ = start_background(
                    caller.engine, caller.settings, body.kind, body.format, start, end, scope, caller.viewer.username
                )
            except ReportError as error:
                raise ReadError(422, "bad_body", str(error), {}) from None
            stored = history.get(caller.engine, report_id)
            assert stored is not None
            return status_of(stored)

        data = await run(caller.settings, work)
        reply = answer(request, data, started=started, newest_ms=None, max_age_s=0, cache=False)
        reply.status_code = 202
        reply.headers["Location"] = f"{request.scope.get('root_path', '')}/v1/reports/{data['id']}"
        return reply

    @routes.get("/reports/{report_id}", summary="A report's status and progress", response_model=Envelope)
    async def report_status(
        request: Request, report_id: Annotated[int, Path(ge=1, le=2**62)], caller: Caller = reader
    ) -> Response:
        started = perf_counter()
        caller.require_page("reports")
        stored = await run(caller.settings, lambda: history.get(caller.engine, report_id))
        if stored is None:
            raise ReadError(404, "not_found", f"no report {report_id}", {"report_id": report_id})
        return answer(request, plain(status_of(stored)), started=started, newest_ms=None, max_age_s=0, cache=False)

    @routes.get(
        "/reports/{report_id}/content",
        summary="The finished report file (HTML or PDF)",
        responses={
            200: {"content": {"text/html": {}, "application/pdf": {}}, "description": "the file"},
            409: {"model": ErrorBody, "description": "not finished (running or failed)"},
        },
        response_class=Response,
    )
    async def report_content(report_id: Annotated[int, Path(ge=1, le=2**62)], caller: Caller = reader) -> Response:
        caller.require_page("reports")
        stored = await run(caller.settings, lambda: history.get(caller.engine, report_id, content=True))
        if stored is None:
            raise ReadError(404, "not_found", f"no report {report_id}", {"report_id": report_id})
        if stored.status != "done" or stored.content is None:
            raise ReadError(
                409,
                "not_ready",
                f"report {report_id} is {stored.status}: {stored.message or ''}".strip(),
                {"status": stored.status},
            )
        name = filename(stored.kind, stored.start_ms, stored.end_ms, stored.format)
        return Response(
            stored.content,
            media_type=MIME[stored.format],
            headers={"Content-Disposition": f'attachment; filename="{name}"', "Cache-Control": "private, max-age=3600"},
        )

    return routes
