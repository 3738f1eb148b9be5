"""The Prometheus-compatible HTTP API under ``/prometheus``: PromQL queries and a remote_write receiver.

Grafana's Prometheus data source (and any tool that speaks Prometheus' HTTP API) points at
``<pulseboard>/prometheus`` and gets ``/api/v1/query``, ``query_range``, ``series``,
``labels`` and ``label/<name>/values`` with Prometheus' exact JSON and error shapes
(``{"status":"error","errorType":"bad_data","error":"…"}``); GET and POST form bodies alike.
Queries are evaluated by :mod:`core.query.promql`; answers are rendered by
:mod:`core.api.promjson`.

``POST /api/v1/write`` takes Prometheus remote_write (snappy + protobuf) through
:func:`core.ingest.ingest` with the same validation and the same outage handling as
``/api/v1/metrics``: 204 when stored, 202 when kept on disk during a store outage.

Tokens: queries need the ``read`` scope, remote_write the ``ingest`` scope. Besides
``Authorization: Bearer <token>``, HTTP basic auth with the token as the password (any user
name) is accepted, because that is what Grafana's and Prometheus' basic-auth settings send.
"""

from __future__ import annotations

import base64
import binascii
import json
import logging
import math
import re
from collections.abc import Callable
from datetime import datetime
from typing import Any
from urllib.parse import parse_qsl

import numpy as np
import sqlalchemy as sa
from fastapi import FastAPI, Request
from fastapi.responses import Response
from starlette.concurrency import run_in_threadpool

from core.api import promjson
from core.api.outage import accept, api_engine, unavailable
from core.api.routes import feed_of
from core.auth.tokens import TokenRefused, authorize
from core.config import Settings, get_settings
from core.ingest import BatchRejected
from core.ingest.health import note_failure
from core.ingest.remote_write import RemoteWriteError, decode
from core.model import Batch, now_ms
from core.query.promql import PromQLError, evaluate, parse, selector_of
from core.query.promql_values import Scalar, Vector
from core.query.selectors import Selector
from core.query.series import find_series, metric_names
from core.store import schema

log = logging.getLogger(__name__)
JSON = "application/json"
FORM = "application/x-www-form-urlencoded"
PROTOBUF = "application/x-protobuf"


class PromError(Exception):
    """An answer in Prometheus' error shape with an HTTP status."""

    def __init__(self, status: int, kind: str, message: str, headers: dict[str, str] | None = None) -> None:
        super().__init__(message)
        self.status, self.kind, self.message, self.headers = status, kind, message, headers


def _bad(message: str) -> PromError:
    return PromError(400, "bad_data", message)


LIMIT_S = 9_000_000_000_000  # ± 285,000 years: beyond it epoch milliseconds leave a 64-bit column


def parse_time(text: str | None, name: str, default: int | None = None) -> int:
    """Epoch ms from Prometheus' forms: Unix seconds (may be fractional) or RFC 3339."""
    if text is None or text == "":
        if default is not None:
            return default
        raise _bad(f'invalid parameter "{name}": cannot parse "" to a valid timestamp')
    try:
        seconds = float(text)
        if not math.isfinite(seconds) or abs(seconds) > LIMIT_S:
            raise ValueError(text)
        return round(seconds * 1000)
    except ValueError:
        pass
    try:
        moment = datetime.fromisoformat(text.replace("Z", "+00:00").replace("z", "+00:00"))
        if moment.tzinfo is None:
            raise ValueError(text)
        return round(moment.timestamp() * 1000)
    except ValueError:
        raise _bad(f'invalid parameter "{name}": cannot parse "{text[:100]}" to a valid timestamp') from None


DURATION_RE = re.compile(r"(?:(\d+)(ms|s|m|h|d|w|y))+")
UNIT_MS = {"ms": 1, "s": 1_000, "m": 60_000, "h": 3_600_000, "d": 86_400_000, "w": 604_800_000, "y": 31_536_000_000}


def parse_step(text: str | None) -> int:
    """Step in ms from seconds (``15``, ``0.5``) or a Prometheus duration (``1m``, ``1h30m``)."""
    refused = _bad(f'invalid parameter "step": cannot parse "{(text or "")[:100]}" to a valid duration')
    if not text:
        raise refused
    try:
        seconds = float(text)
    except ValueError:
        if not DURATION_RE.fullmatch(text):
            raise refused from None
        total = sum(int(n) * UNIT_MS[unit] for n, unit in re.findall(r"(\d+)(ms|s|m|h|d|w|y)", text))
        if total > LIMIT_S * 1000:
            raise refused from None
        return total
    if not math.isfinite(seconds) or abs(seconds) > LIMIT_S:
        raise refused
    return round(seconds * 1000)


async def params(request: Request) -> list[tuple[str, str]]:
    """Query-string parameters, plus the form body of a POST (as Prometheus accepts both)."""
    pairs = list(request.query_params.multi_items())
    if request.method == "POST":
        media = request.headers.get("content-type", "").split(";")[0].strip().lower()
        if media != FORM:
            raise PromError(415, "bad_data", f"unsupported Content-Type {media or '(none)'!r}; send {FORM}")
        body = await request.body()
        try:
            pairs += parse_qsl(body.decode("utf-8"), keep_blank_values=True, strict_parsing=False)
        except UnicodeDecodeError:
            raise _bad("form body is not UTF-8") from None
    return pairs


def _one(pairs: list[tuple[str, str]], name: str) -> str | None:
    values = [v for k, v in pairs if k == name]
    return values[-1] if values else None


def _matchers(pairs: list[tuple[str, str]], settings: Settings, required: bool) -> list[Selector]:
    texts = [v for k, v in pairs if k == "match[]"]
    if required and not texts:
        raise _bad("no match[] parameter provided")
    selectors = []
    for text in texts:
        try:
            node = parse(text)
        except PromQLError as error:
            raise _bad(f'invalid parameter "match[]": {error}') from None
        if type(node).__name__ != "VectorSelector":
            raise _bad(f'invalid parameter "match[]": {text[:100]!r} is not a series selector')
        try:
            selectors.append(selector_of(node, settings))
        except PromQLError as error:
            raise _bad(f'invalid parameter "match[]": {error}') from None
    return selectors


def _series(engine: Any, selectors: list[Selector]) -> list[dict[str, str]]:
    seen: dict[str, dict[str, str]] = {}
    for selector in selectors:
        try:
            found = find_series(engine, selector)
        except ValueError as error:
            raise PromError(422, "execution", str(error)) from None
        for name, labels in found.select("name", "labels").iter_rows():
            seen[f"{name}{labels}"] = {"__name__": name, **json.loads(labels)}
    return [seen[key] for key in sorted(seen)]


def _all_series(engine: Any) -> list[dict[str, str]]:
    with engine.connect() as connection:
        rows = connection.execute(sa.select(schema.series.c.name, schema.series.c.labels)).all()
    return [{"__name__": name, **json.loads(labels)} for name, labels in rows]


def _authorize(settings: Settings, request: Request, scope: str) -> None:
    if settings.auth == "off":
        return
    header = request.headers.get("authorization")
    kind, _, credentials = (header or "").strip().partition(" ")
    if kind.lower() == "basic":
        try:
            _user, _, password = base64.b64decode(credentials, validate=True).decode("utf-8").partition(":")
        except (binascii.Error, UnicodeDecodeError):
            raise PromError(401, "unauthorized", "malformed basic credentials: expected base64 of user:token") from None
        header = f"Bearer {password}"
    try:
        request.state.token = authorize(api_engine(settings), header, scope)
    except TokenRefused as refused:
        challenge = {"WWW-Authenticate": f'Bearer scope="{scope}"'} if refused.status == 401 else None
        kind_ = "unauthorized" if refused.status == 401 else "forbidden"
        raise PromError(refused.status, kind_, refused.message, challenge) from None


def create_prometheus_api(settings_provider: Callable[[], Settings] = get_settings) -> FastAPI:
    """The application app.py mounts at ``/prometheus``."""
    app = FastAPI(title="Pulseboard Prometheus-compatible API", docs_url=None, redoc_url=None, openapi_url=None)

    def reply(body: bytes, status: int = 200, headers: dict[str, str] | None = None) -> Response:
        return Response(body, status_code=status, media_type=JSON, headers=headers)

    @app.exception_handler(PromError)
    async def _prom_error(_request: Request, error: PromError) -> Response:
        return reply(promjson.error_json(error.kind, error.message), error.status, error.headers)

    @app.exception_handler(sa.exc.SQLAlchemyError)
    async def _store_error(request: Request, error: sa.exc.SQLAlchemyError) -> Response:
        outage = note_failure(error)
        if outage is None:
            raise error
        body, headers = unavailable(outage, settings_provider())
        log.warning("%s %s: store %s (%s)", request.method, request.url.path, outage.condition, outage.detail)
        return reply(promjson.error_json("unavailable", body["error"]), 503, headers)

    async def check(request: Request, scope: str) -> Settings:
        settings = settings_provider()
        await run_in_threadpool(_authorize, settings, request, scope)
        return settings

    def run_query(settings: Settings, query: str, start: int, end: int, step: int) -> Any:
        try:
            return evaluate(api_engine(settings), query, start, end, step, settings=settings)
        except PromQLError as error:
            raise PromError(400 if error.kind == "bad_data" else 422, error.kind, str(error)) from None

    async def answer(request: Request, work: Callable[[Settings, list[tuple[str, str]]], bytes]) -> Response:
        """Authorize a read, then ``work(settings, parameters)`` in a worker thread: one thread for a GET.

        Why one: every hop between the event loop and a thread waits for the scheduler, and on a
        busy host three hops cost more than a small query itself. A GET carries everything in its
        URL, so the token check, the evaluation and the rendering share one thread; a POST's form
        body is read only after its token is accepted, so it takes two.
        """
        settings = settings_provider()
        if request.method == "POST":
            await run_in_threadpool(_authorize, settings, request, "read")
            pairs = await params(request)
            return reply(await run_in_threadpool(work, settings, pairs))
        pairs = await params(request)  # the query string alone

        def authorized() -> bytes:
            _authorize(settings, request, "read")
            return work(settings, pairs)

        return reply(await run_in_threadpool(authorized))

    def instant_answer(settings: Settings, pairs: list[tuple[str, str]]) -> bytes:
        text = _one(pairs, "query") or ""
        at = parse_time(_one(pairs, "time"), "time", default=now_ms())
        return promjson.instant_json(run_query(settings, text, at, at, 1), at)

    def range_answer(settings: Settings, pairs: list[tuple[str, str]]) -> bytes:
        text = _one(pairs, "query") or ""
        start = parse_time(_one(pairs, "start"), "start")
        end = parse_time(_one(pairs, "end"), "end")
        step = parse_step(_one(pairs, "step"))
        value = run_query(settings, text, start, end, step)
        if not isinstance(value, Vector | Scalar):
            raise _bad(
                f"invalid expression type {type(value).__name__.lower()!r} for range query, "
                "must be Scalar or instant Vector"
            )
        return promjson.matrix_json(value, np.arange(start, end + 1, step, dtype=np.int64))

    @app.api_route("/api/v1/query", methods=["GET", "POST"])
    async def query(request: Request) -> Response:
        return await answer(request, instant_answer)

    @app.api_route("/api/v1/query_range", methods=["GET", "POST"])
    async def query_range(request: Request) -> Response:
        return await answer(request, range_answer)

    @app.api_route("/api/v1/series", methods=["GET", "POST"])
    async def series(request: Request) -> Response:
        settings = await check(request, "read")
        selectors = _matchers(await params(request), settings, required=True)
        found = await run_in_threadpool(_series, api_engine(settings), selectors)
        return reply(promjson.data_json(found))

    @app.api_route("/api/v1/labels", methods=["GET", "POST"])
    async def labels(request: Request) -> Response:
        settings = await check(request, "read")
        selectors = _matchers(await params(request), settings, required=False)
        engine = api_engine(settings)
        found = (
            await run_in_threadpool(_series, engine, selectors)
            if selectors
            else await run_in_threadpool(_all_series, engine)
        )
        return reply(promjson.data_json(sorted({key for labels in found for key in labels})))

    @app.get("/api/v1/label/{name}/values")
    async def label_values(request: Request, name: str) -> Response:
        settings = await check(request, "read")
        selectors = _matchers(await params(request), settings, required=False)
        engine = api_engine(settings)
        if name == "__name__" and not selectors:
            return reply(promjson.data_json(await run_in_threadpool(metric_names, engine)))
        found = (
            await run_in_threadpool(_series, engine, selectors)
            if selectors
            else await run_in_threadpool(_all_series, engine)
        )
        return reply(promjson.data_json(sorted({labels[name] for labels in found if labels.get(name)})))

    @app.post("/api/v1/write", status_code=204)
    async def remote_write(request: Request) -> Response:
        settings = await check(request, "ingest")
        media = request.headers.get("content-type", "").split(";")[0].strip().lower()
        if media != PROTOBUF:
            raise PromError(415, "bad_data", f"unsupported Content-Type {media or '(none)'!r}; send {PROTOBUF}")
        encoding = request.headers.get("content-encoding", "").strip().lower()
        if encoding != "snappy":
            raise PromError(415, "bad_data", f"unsupported Content-Encoding {encoding or '(none)'!r}; send snappy")
        body = await _read_body(request, settings.max_body_bytes)
        try:
            decoded = decode(body, settings.max_body_bytes * 8)
        except RemoteWriteError as error:
            raise _bad(f"remote_write body rejected; nothing was stored: {error}") from None
        if not decoded.samples:
            return Response(status_code=204)
        try:
            answer = await run_in_threadpool(
                lambda: accept(
                    settings,
                    Batch(decoded.samples),
                    body=body,
                    endpoint=request.url.path,
                    feed=feed_of(request),
                    key=None,
                    extra={"skipped_nan": decoded.skipped_nan},
                )
            )
        except BatchRejected as rejected:
            first = rejected.problems[0]
            sample = decoded.samples[first.index] if 0 <= first.index < len(decoded.samples) else None
            where = f" (series {sample.name}{dict(sample.labels)})" if sample is not None else ""
            raise PromError(
                413 if rejected.too_large else 400,
                "bad_data",
                f"remote_write batch rejected; nothing was stored: {len(rejected.problems)} problem(s), first: "
                f"sample[{first.index}].{first.field}{where}: {first.message}",
            ) from None
        if answer.status == 200:
            return Response(status_code=204)
        return reply(json.dumps(answer.body).encode(), answer.status, answer.headers)

    return app


async def _read_body(request: Request, limit: int) -> bytes:
    declared = request.headers.get("content-length")
    if declared and declared.isdigit() and int(declared) > limit:
        raise PromError(413, "bad_data", f"body of {declared} bytes exceeds the limit of {limit} bytes")
    chunks, size = [], 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            raise PromError(413, "bad_data", f"body exceeds the limit of {limit} bytes")
        chunks.append(chunk)
    body = b"".join(chunks)
    if not body:
        raise _bad("body is empty")
    return body
