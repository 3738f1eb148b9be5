"""Alerts and silences over the read API: the Alerts page's active list, acknowledging, silences.

Reading needs a token with scope ``read``; acknowledging and creating or expiring silences
change what others see and get notified about, so they need scope ``admin`` as well as the
permission the page asks of the token's owner (core.alerts.permissions: ``acknowledge_alerts``,
``acknowledge_quality_alerts`` for quality alerts, ``edit_rules`` for silences).
"""

from __future__ import annotations

import json
from collections.abc import Callable
from time import perf_counter
from typing import Annotated, Any, Literal

import polars as pl
from fastapi import APIRouter, Body, Depends, Path, Query, Request, Response
from pydantic import BaseModel, ConfigDict, Field

from core.alerts import objects, store, views
from core.alerts.permissions import AlertPermissionError
from core.alerts.silences import Silence, parse_matchers
from core.api.caller import Caller, caller_dependency, parse_time, run
from core.api.envelope import (
    DEFAULT_LIMIT,
    ERROR_RESPONSES,
    MAX_LIMIT,
    Envelope,
    ErrorBody,
    ReadError,
    answer,
    page,
    plain,
)
from core.config import Settings
from core.model import now_ms

TAG = "read"
HOUR_MS = 3_600_000
COLUMNS = (
    "fingerprint",
    "rule",
    "severity",
    "state",
    "summary",
    "labels",
    "age_min",
    "active_since",
    "fired_at",
    "resolved_at",
    "acknowledged_by",
    "acknowledged_at",
    "ack_comment",
    "suppressed",
    "root_cause",
    "group_key",
    "last_value",
)
Severity = Literal["critical", "error", "warning", "info"]
Status = Literal["active", "firing", "pending", "acknowledged", "resolved"]


class AckBody(BaseModel):
    """Why the alert is acknowledged (optional)."""

    model_config = ConfigDict(extra="forbid")
    comment: str = Field("", max_length=1000)


class SilenceBody(BaseModel):
    """A silence: label matchers in braces, a reason, and an end (``ends_at`` or ``duration_h``)."""

    model_config = ConfigDict(extra="forbid")
    matchers: str = Field(min_length=3, max_length=1000, examples=['{alertname="high_queue_depth"}'])
    reason: str = Field(min_length=1, max_length=1000)
    starts_at: str | None = Field(None, max_length=40, description="epoch seconds or ISO 8601; default now")
    ends_at: str | None = Field(None, max_length=40, description="epoch seconds or ISO 8601")
    duration_h: float | None = Field(None, gt=0, le=24 * 366, description="hours from the start, if no ends_at")


def alert_rows(frame: pl.DataFrame, now: int, severity: str | None, status: str | None) -> list[dict[str, Any]]:
    """The Alerts page's active table (core.alerts.views.active_table) filtered by severity and status."""
    table = views.active_table(frame, now)
    if table.is_empty():
        return []
    if severity:
        table = table.filter(pl.col("severity") == severity)
    if status == "active":
        table = table.filter(pl.col("state").is_in(["firing", "pending"]))
    elif status == "acknowledged":
        table = table.filter(pl.col("acknowledged_by").is_not_null() & (pl.col("state") != "resolved"))
    elif status:
        table = table.filter(pl.col("state") == status)
    rows = plain(table.select([c for c in COLUMNS if c in table.columns]))
    for row in rows:
        row["labels"] = json.loads(row["labels"]) if isinstance(row.get("labels"), str) else row.get("labels")
    return list(rows)


def silence_row(silence: Silence, now: int) -> dict[str, Any]:
    return {**plain(silence), "active": silence.active(now)}


def router(settings_provider: Callable[[], Settings]) -> APIRouter:
    """Alerts, acknowledging, silences."""
    reader = Depends(caller_dependency("read", settings_provider))
    changer = Depends(caller_dependency("admin", settings_provider))
    routes = APIRouter(prefix="/v1", tags=[TAG], responses=ERROR_RESPONSES)

    @routes.get(
        "/alerts",
        summary="Pending, firing and recently resolved alerts, as the Alerts page lists them",
        response_model=Envelope,
    )
    async def alerts(
        request: Request,
        severity: Severity | None = None,
        status: Status | None = None,
        limit: Annotated[int, Query(ge=1, le=MAX_LIMIT)] = DEFAULT_LIMIT,
        cursor: Annotated[str | None, Query(max_length=200)] = None,
        caller: Caller = reader,
    ) -> Response:
        started = perf_counter()
        caller.require_page("alerts")
        now = now_ms()
        rows = await run(caller.settings, lambda: alert_rows(store.alerts_frame(caller.engine), now, severity, status))
        data = plain(page(rows, limit, cursor), caller.viewer)
        return answer(request, data, started=started, newest_ms=None, max_age_s=0, cache=False)

    @routes.post(
        "/alerts/{fingerprint}/acknowledge",
        summary="Acknowledge a firing alert (scope admin)",
        response_model=Envelope,
        responses={409: {"model": ErrorBody, "description": "the alert is not firing"}},
    )
    async def acknowledge(
        request: Request,
        fingerprint: Annotated[str, Path(min_length=1, max_length=64)],
        body: Annotated[AckBody | None, Body()] = None,
        caller: Caller = changer,
    ) -> Response:
        started = perf_counter()
        caller.require_page("alerts")
        comment = body.comment if body else ""

        def work() -> dict[str, Any]:
            labels = store.alert_labels(caller.engine, fingerprint)
            if labels is None:
                raise ReadError(404, "not_found", f"no alert {fingerprint!r}", {"fingerprint": fingerprint})
            try:
                done = store.acknowledge(caller.engine, fingerprint, caller.viewer, comment)
            except AlertPermissionError as error:
                raise ReadError(403, "forbidden", str(error), {"fingerprint": fingerprint}) from None
            if not done:
                raise ReadError(
                    409,
                    "not_firing",
                    f"alert {fingerprint!r} is not firing; only firing alerts are acknowledged",
                    {"fingerprint": fingerprint},
                )
            rows = [
                r
                for r in alert_rows(store.alerts_frame(caller.engine), now_ms(), None, None)
                if r["fingerprint"] == fingerprint
            ]
            return rows[0] if rows else {"fingerprint": fingerprint}

        data = plain(await run(caller.settings, work), caller.viewer)
        return answer(request, data, started=started, newest_ms=None, max_age_s=0, cache=False)

    @routes.get("/silences", summary="Silences that are active or still to come", response_model=Envelope)
    async def silences(
        request: Request,
        limit: Annotated[int, Query(ge=1, le=MAX_LIMIT)] = DEFAULT_LIMIT,
        cursor: Annotated[str | None, Query(max_length=200)] = None,
        caller: Caller = reader,
    ) -> Response:
        started = perf_counter()
        caller.require_page("alerts")
        now = now_ms()
        found = await run(caller.settings, lambda: objects.silences(caller.engine, since_ms=now))
        data = page([silence_row(s, now) for s in found], limit, cursor)
        return answer(request, data, started=started, newest_ms=None, max_age_s=0, cache=False)

    @routes.post(
        "/silences",
        summary="Create a silence (scope admin; the owner needs edit_rules)",
        response_model=Envelope,
        status_code=201,
    )
    async def create_silence(request: Request, body: SilenceBody, caller: Caller = changer) -> Response:
        started = perf_counter()
        caller.require_page("alerts")
        now = now_ms()
        starts = parse_time("starts_at", body.starts_at, now)
        if body.ends_at is not None:
            ends = parse_time("ends_at", body.ends_at, now)
        elif body.duration_h is not None:
            ends = starts + int(body.duration_h * HOUR_MS)
        else:
            raise ReadError(
                422, "bad_body", "ends_at or duration_h: give one, so the silence ends", {"parameter": "ends_at"}
            )

        try:
            parse_matchers(body.matchers)
        except ValueError as error:
            raise ReadError(422, "bad_body", f"matchers: {error}", {"parameter": "matchers"}) from None
        if ends <= starts:
            raise ReadError(422, "bad_body", "ends_at: the silence must end after it starts", {"parameter": "ends_at"})
        if not body.reason.strip():
            raise ReadError(422, "bad_body", "reason: say why these alerts are quiet", {"parameter": "reason"})

        def work() -> dict[str, Any]:
            try:
                silence_id = objects.add_silence(caller.engine, body.matchers, starts, ends, body.reason, caller.viewer)
            except AlertPermissionError as error:
                raise ReadError(403, "forbidden", str(error), {}) from None
            made = next(s for s in objects.silences(caller.engine) if s.id == silence_id)
            return silence_row(made, now_ms())

        data = await run(caller.settings, work)
        response = answer(request, data, started=started, newest_ms=None, max_age_s=0, cache=False)
        response.status_code = 201
        return response

    @routes.delete("/silences/{silence_id}", summary="Expire a silence now (scope admin)", response_model=Envelope)
    async def expire_silence(
        request: Request,
        silence_id: Annotated[int, Path(ge=1, le=2**62)],
        caller: Caller = changer,
    ) -> Response:
        started = perf_counter()
        caller.require_page("alerts")

        def work() -> dict[str, Any]:
            known = next((s for s in objects.silences(caller.engine) if s.id == silence_id), None)
            if known is None:
                raise ReadError(404, "not_found", f"no silence {silence_id}", {"silence_id": silence_id})
            try:
                objects.expire_silence(caller.engine, silence_id, caller.viewer)
            except AlertPermissionError as error:
                raise ReadError(403, "forbidden", str(error), {}) from None
            ended = next(s for s in objects.silences(caller.engine) if s.id == silence_id)
            return silence_row(ended, now_ms())

        data = await run(caller.settings, work)
        return answer(request, data, started=started, newest_ms=None, max_age_s=0, cache=False)

    return routes
