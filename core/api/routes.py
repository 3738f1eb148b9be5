"""The HTTP API under ``/api``: ingest, health and readiness, documented by OpenAPI.

FastAPI gives pydantic validation and ``/api/openapi.json`` for free; the handlers
stay thin and call :mod:`core.ingest`, so the API, collectors and file watchers
share one validation and one write path. Error bodies are JSON and list every bad
item, so a client can fix a batch in one round trip. When the store is locked, down,
read-only or full the API still answers within about two seconds: 202 for a batch it
kept on disk, else 503 with ``Retry-After`` (core/api/outage.py).
"""

from __future__ import annotations

import contextlib
import logging
import time
from collections.abc import Callable
from dataclasses import replace
from typing import Any

import sqlalchemy as sa
from fastapi import Depends, FastAPI, Request
from fastapi.responses import JSONResponse
from starlette.concurrency import run_in_threadpool

from core.api.outage import GRACE, KEY_HEADER, accept, api_engine, idempotency_key, unavailable
from core.api.read import install as install_read_api
from core.auth.tokens import TokenRefused, authorize
from core.config import Settings, get_settings
from core.ingest import BatchRejected
from core.ingest.backlog import backlog_for
from core.ingest.health import note_failure
from core.ingest.jsonbody import BatchTooLong, BodyError, decode_events, decode_samples
from core.ingest.junit import XML_CONTENT_TYPES, JunitError, receive_junit
from core.ingest.promtext import parse_prometheus
from core.ingest.validate import MAX_PROBLEMS, Limits, Problem, check_batch
from core.model import Batch, now_ms
from core.store import current_revision, get_engine, head_revision
from core.store.leases import OWNER, leases
from core.store.outage import Outage

log = logging.getLogger(__name__)

JSON_TYPES = ("application/json",)
PROMETHEUS_TYPES = ("text/plain", "application/openmetrics-text")


class ApiError(Exception):
    """An error a client caused; rendered as ``{"error": ..., "problems": [...]}``."""

    def __init__(
        self,
        status: int,
        message: str,
        problems: list[dict[str, Any]] | None = None,
        headers: dict[str, str] | None = None,
        extra: dict[str, Any] | None = None,
    ) -> None:
        super().__init__(message)
        self.status = status
        self.message = message
        self.problems = problems or []
        self.headers = headers
        self.extra = extra or {}


class StoreUnavailable(ApiError):
    """503 with ``Retry-After``: the store cannot be reached, read or written now; nothing was stored."""

    def __init__(self, outage: Outage | None, settings: Settings, reason: str = "") -> None:
        body, headers = unavailable(outage, settings, reason=reason)
        super().__init__(503, body["error"], headers=headers, extra=body)


def _media_type(request: Request) -> str:
    return request.headers.get("content-type", "").split(";")[0].strip().lower()


async def read_body(request: Request, settings: Settings) -> bytes:
    """The request body, refused with 413 as soon as it passes the size limit."""
    limit = settings.max_body_bytes
    declared = request.headers.get("content-length")
    if declared and declared.isdigit() and int(declared) > limit:
        raise ApiError(413, f"body of {declared} bytes exceeds the limit of {limit} bytes (PULSEBOARD_MAX_BODY_BYTES)")
    chunks, size = [], 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            raise ApiError(413, f"body exceeds the limit of {limit} bytes (PULSEBOARD_MAX_BODY_BYTES)")
        chunks.append(chunk)
    body = b"".join(chunks)
    if not body.strip():
        raise ApiError(400, "body is empty")
    return body


def _require_type(request: Request, allowed: tuple[str, ...]) -> str:
    media = _media_type(request)
    if media not in allowed:
        raise ApiError(415, f"unsupported Content-Type {media or '(none)'!r}; send one of: {', '.join(allowed)}")
    return media


def feed_of(request: Request) -> str:
    """The feed a pushed batch renews: ``api:<token name>`` (one per client that has its own token), else ``api``.

    Per token rather than one ``api`` feed, because one busy client must not hide another that
    went quiet; the name is the one an admin gave the token, so it says who stopped sending.
    """
    token = getattr(request.state, "token", None)
    return f"api:{token.name}" if token is not None else "api"


async def _accept(
    request: Request, settings: Settings, batch: Batch, body: bytes, extra: dict[str, Any]
) -> JSONResponse:
    """Store the batch, keep it for later while the store is out (202) or refuse it (503): core/api/outage.py."""
    try:
        key = idempotency_key(request.headers.get(KEY_HEADER))
    except ValueError as error:
        raise ApiError(400, str(error)) from None
    try:
        reply = await run_in_threadpool(
            accept,
            settings,
            batch,
            body=body,
            endpoint=request.url.path,
            feed=feed_of(request),
            key=key,
            outage=getattr(request.state, "store_outage", None),
            extra=extra,
        )
    except BatchRejected as rejected:
        status = 413 if rejected.too_large else 422
        raise ApiError(status, "batch rejected; nothing was stored", [p.as_dict() for p in rejected.problems]) from None
    return JSONResponse(reply.body, status_code=reply.status, headers=reply.headers)


def _reject_with_all_problems(
    batch: Batch, positions: list[int], shape_problems: list[Problem], settings: Settings
) -> None:
    """Refuse a body with malformed items, also listing what is wrong with the well-formed ones."""
    if not shape_problems:
        return
    remapped = [
        replace(p, index=positions[p.index]) for p in check_batch(batch, Limits.from_settings(settings)) if p.index >= 0
    ]
    problems = sorted(shape_problems + remapped, key=lambda p: (p.index, p.field))
    raise ApiError(422, "batch rejected; nothing was stored", [p.as_dict() for p in problems[:MAX_PROBLEMS]])


def _decode_json(body: bytes, settings: Settings, kind: str) -> Batch:
    try:
        if kind == "samples":
            samples, problems = decode_samples(body, now_ms(), settings.max_batch_items)
            positions, batch = [i for i, _ in samples], Batch(samples=tuple(s for _, s in samples))
        else:
            events, problems = decode_events(body, settings.max_batch_items)
            positions, batch = [i for i, _ in events], Batch(events=tuple(e for _, e in events))
    except BatchTooLong as error:
        raise ApiError(413, str(error)) from None
    except BodyError as error:
        raise ApiError(400, str(error)) from None
    _reject_with_all_problems(batch, positions, problems, settings)
    return batch


def _decode_prometheus(body: bytes) -> tuple[Batch, dict[str, int]]:
    try:
        text = body.decode("utf-8")
    except UnicodeDecodeError as error:
        raise ApiError(400, f"body is not UTF-8 text: {error}") from None
    parsed = parse_prometheus(text, now_ms())
    if parsed.errors:
        problems = [
            {"kind": "line", "index": line, "field": "", "message": msg} for line, msg in parsed.errors[:MAX_PROBLEMS]
        ]
        raise ApiError(400, "Prometheus text could not be parsed; nothing was stored", problems)
    return Batch(tuple(parsed.samples)), {"skipped_nan": parsed.skipped_nan}


def bearer(
    scope: str, settings_provider: Callable[[], Settings], open_if: Callable[[Settings], bool] | None = None
) -> Any:
    """A dependency requiring a token with ``scope`` (401: none or unusable, 403: scope missing)."""

    async def check(request: Request) -> None:
        settings = settings_provider()
        if settings.auth == "off" or (open_if is not None and open_if(settings)):
            return
        header = request.headers.get("authorization")
        try:
            request.state.token = await run_in_threadpool(lambda: authorize(api_engine(settings), header, scope))
        except TokenRefused as refused:
            challenge = {"WWW-Authenticate": f'Bearer scope="{scope}"'} if refused.status == 401 else None
            raise ApiError(refused.status, refused.message, headers=challenge) from None
        except Exception as error:
            outage = note_failure(error)
            if outage is None:
                raise
            # The store cannot say whether the token is valid; one verified a moment ago still is (docs/security.md).
            token = GRACE.recall(header, scope, settings.api_token_grace_s)
            if token is None:
                raise StoreUnavailable(outage, settings, "The API token cannot be checked") from None
            request.state.token, request.state.store_outage = token, outage
            return
        GRACE.remember(header, request.state.token)

    return Depends(check)


def create_api(settings_provider: Callable[[], Settings] = get_settings) -> FastAPI:
    """The FastAPI application mounted by app.py at ``/api``."""
    api = FastAPI(
        title="Pulseboard API",
        version="1",
        description="Ingest samples and events, push test reports, check health, read what the pages show. "
        "See docs/api.md.",
        docs_url=None,  # FastAPI's Swagger UI loads from a CDN; /api/docs is core/api/docs_page.py
        redoc_url=None,
    )

    @api.exception_handler(ApiError)
    async def _api_error(_request: Request, error: ApiError) -> JSONResponse:
        return JSONResponse(
            {"error": error.message, "problems": error.problems, **error.extra},
            status_code=error.status,
            headers=error.headers,
        )

    @api.exception_handler(sa.exc.SQLAlchemyError)
    async def _store_error(request: Request, error: sa.exc.SQLAlchemyError) -> JSONResponse:
        """Any route that meets a store outage answers 503 JSON; any other database error stays a server error."""
        outage = note_failure(error)
        if outage is None:
            raise error
        log.warning("%s %s: store %s (%s)", request.method, request.url.path, outage.condition, outage.detail)
        return await _api_error(request, StoreUnavailable(outage, settings_provider()))

    ingest_scope = bearer("ingest", settings_provider)
    health_scope = bearer("read", settings_provider, open_if=lambda settings: settings.api_auth_open_health)

    @api.post("/v1/metrics", summary="Store a batch of samples (JSON or Prometheus text)", dependencies=[ingest_scope])
    async def post_metrics(request: Request) -> JSONResponse:
        settings = settings_provider()
        media = _require_type(request, JSON_TYPES + PROMETHEUS_TYPES)
        body = await read_body(request, settings)
        batch, extra = (
            (_decode_json(body, settings, "samples"), {}) if media in JSON_TYPES else _decode_prometheus(body)
        )
        return await _accept(request, settings, batch, body, extra)

    @api.post(
        "/v1/events", summary="Store a batch of events; repeated ids are accepted once", dependencies=[ingest_scope]
    )
    async def post_events(request: Request) -> JSONResponse:
        settings = settings_provider()
        _require_type(request, JSON_TYPES)
        body = await read_body(request, settings)
        batch = _decode_json(body, settings, "events")
        return await _accept(request, settings, batch, body, {})

    @api.post(
        "/v1/junit", summary="Store a JUnit XML report as a test run", status_code=201, dependencies=[ingest_scope]
    )
    async def post_junit(
        request: Request, suite: str = "", component: str = "", phase: str = "", commit: str = ""
    ) -> JSONResponse:
        settings = settings_provider()
        media = _require_type(request, XML_CONTENT_TYPES)
        body = await read_body(request, settings)
        labels = {"suite": suite, "component": component, "phase": phase, "commit": commit}
        try:
            result = await run_in_threadpool(
                lambda: receive_junit(
                    api_engine(settings), body, media, labels, settings.max_body_bytes, feed_of(request)
                )
            )
        except JunitError as error:
            raise ApiError(error.status, str(error)) from None
        return JSONResponse(result, status_code=201)

    @api.get("/v1/health", summary="The process is alive", dependencies=[health_scope])
    async def health() -> dict[str, object]:
        backlog_for(settings_provider())  # replays what a previous run accepted and could not store
        return {"status": "ok", "time_ms": now_ms()}

    @api.get(
        "/v1/ready",
        summary="Database reachable, migrations current, background jobs running",
        dependencies=[health_scope],
    )
    async def ready(request: Request) -> JSONResponse:
        settings = settings_provider()
        report = await run_in_threadpool(readiness, settings, getattr(request.app.state, "scheduler", None))
        status = 200 if report["ready"] else 503
        if not await run_in_threadpool(may_see_checks, settings, request):
            report = {"ready": report["ready"]}
        return JSONResponse(report, status_code=status)

    install_read_api(api, settings_provider)
    return api


def may_see_checks(settings: Settings, request: Request) -> bool:
    """Whether a /ready caller may see the checks, not just ready or not: with a ``read`` token, or no login at all.

    The checks carry error texts (a database driver's message, a job's last exception) that
    can name hosts, paths and queries, so an anonymous probe learns ready/not ready only.
    Not by client address: behind a reverse proxy on the same host every request comes from
    localhost. A refused token, or a store too broken to check it, just means no details.
    """
    if settings.auth == "off" or getattr(request.state, "token", None) is not None:
        return True
    header = request.headers.get("authorization")
    if not header:
        return False
    try:
        authorize(get_engine(settings), header, "read")
    except (TokenRefused, sa.exc.SQLAlchemyError, OSError):
        return False
    return True


def readiness(settings: Settings, scheduler: Any) -> dict[str, Any]:
    """Whether this replica can serve: store reachable and migrated, jobs alive.

    The jobs check also lists every store-wide job's lease (which replica holds it, its fencing
    token, when it expires), so an operator sees from any replica where each job runs.
    """
    checks: dict[str, Any] = {}
    started = time.perf_counter()
    try:
        with get_engine(settings).connect() as connection:
            connection.execute(sa.text("SELECT 1"))
            revision = current_revision(connection)
        checks["database"] = {"ok": True, "latency_ms": round((time.perf_counter() - started) * 1000, 2)}
        head = head_revision()
        checks["migrations"] = {"ok": revision == head, "current": revision, "head": head}
    except Exception as error:  # noqa: BLE001 - any failure to reach the store means not ready
        checks["database"] = {"ok": False, "error": f"{type(error).__name__}: {error}"}
        checks["migrations"] = {"ok": False}
    if settings.collectors:
        jobs = scheduler.status() if scheduler is not None else {}
        checks["collectors"] = {
            "ok": scheduler is not None and scheduler.running,
            "jobs": {name: status.as_dict() for name, status in jobs.items()},
            "replica": OWNER,
        }
        if checks["database"]["ok"]:
            with contextlib.suppress(sa.exc.SQLAlchemyError):
                checks["collectors"]["leases"] = {
                    lease.job: {
                        "owner": lease.owner,
                        "token": lease.token,
                        "expires_ms": lease.expires_ms,
                        "last_run_ms": lease.last_run_ms,
                        "mine": lease.owner == OWNER,
                    }
                    for lease in leases(get_engine(settings))
                }
    return {"ready": all(check["ok"] for check in checks.values()), "checks": checks}
