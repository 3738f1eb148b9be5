"""The read API's wire format: the envelope, the error body, JSON-ready values, pagination and ETags.

Every read answer is ``{status, timestamp, data, metadata: {processing_time, data_freshness}}``
and every refusal ``{status: "error", error: {code, message, details}}``, so a client parses
one shape whatever it asked. Values come from the same dataclasses and polars frames the
pages draw; :func:`plain` turns them into JSON (NaN and infinities become null, times ISO
8601 UTC) and drops every key the caller's role may not see, at any depth, as
:func:`core.auth.access.redact` does for the pages. Lists are paged with an opaque
``cursor``; summaries carry an ``ETag`` over their data so a poller that sends
``If-None-Match`` gets ``304`` without a body.
"""

from __future__ import annotations

import base64
import dataclasses
import hashlib
import json
import math
from collections.abc import Mapping, Sequence
from datetime import UTC, date, datetime, time, timedelta
from time import perf_counter
from typing import Any

import polars as pl
from fastapi import Request, Response
from fastapi.responses import JSONResponse
from pydantic import BaseModel, Field

from core.auth.access import Viewer, hidden_by
from core.model import now_ms

MAX_LIMIT = 1000
DEFAULT_LIMIT = 100


class ReadError(Exception):
    """A read request that cannot be answered as asked; rendered as the error body with ``status``."""

    def __init__(
        self,
        status: int,
        code: str,
        message: str,
        details: Mapping[str, Any] | None = None,
        headers: Mapping[str, str] | None = None,
    ) -> None:
        super().__init__(message)
        self.status = status
        self.code = code
        self.message = message
        self.details = dict(details or {})
        self.headers = dict(headers or {})


class Metadata(BaseModel):
    """How the answer was made: milliseconds spent, seconds since the newest input it reads (null: none)."""

    processing_time: float = Field(description="milliseconds the server spent on this answer")
    data_freshness: float | None = Field(description="seconds since the newest input the answer reads; null: none")


class Envelope(BaseModel):
    """A successful read answer."""

    status: str = Field(description='always "success"')
    timestamp: str = Field(description="when the answer was made, ISO 8601 UTC")
    data: Any
    metadata: Metadata


class ErrorDetail(BaseModel):
    code: str = Field(description="a stable machine-readable code, e.g. bad_parameter, forbidden, not_found")
    message: str
    details: dict[str, Any]


class ErrorBody(BaseModel):
    """A refused read request."""

    status: str = Field(description='always "error"')
    error: ErrorDetail


ERROR_RESPONSES: dict[int | str, dict[str, Any]] = {
    status: {"model": ErrorBody, "description": text}
    for status, text in (
        (400, "a parameter is malformed; details.parameter names it"),
        (401, "no usable token"),
        (403, "the token lacks the scope, or its owner's role may not see this"),
        (404, "no such object"),
        (422, "a parameter fails validation; details.parameters names each"),
        (503, "the store cannot be read now"),
    )
}


def iso(ms: int) -> str:
    """Epoch milliseconds as ISO 8601 UTC with a ``Z``."""
    return datetime.fromtimestamp(ms / 1000, UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def _scalar(value: Any) -> Any:
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, datetime):
        aware = value if value.tzinfo else value.replace(tzinfo=UTC)
        return aware.astimezone(UTC).isoformat().replace("+00:00", "Z")
    if isinstance(value, date | time):
        return value.isoformat()
    if isinstance(value, timedelta):
        return value.total_seconds()
    return value


def plain(value: Any, viewer: Viewer | None = None) -> Any:
    """``value`` as JSON-ready data, without any key ``viewer`` may not see (None: everything).

    Dataclasses become objects of their fields, polars frames lists of row objects, pydantic
    models their JSON dump; a key is dropped when its name is a cost or per-person field the
    viewer's roles lack (core.auth.access.hidden_by), wherever it sits.
    """
    if value is None or isinstance(value, bool | int | str):
        return value
    if isinstance(value, pl.DataFrame):
        return [plain(row, viewer) for row in value.to_dicts()]
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return plain({f.name: getattr(value, f.name) for f in dataclasses.fields(value)}, viewer)
    if isinstance(value, BaseModel):
        return plain(value.model_dump(mode="json"), viewer)
    if isinstance(value, Mapping):
        return {
            str(key): plain(item, viewer)
            for key, item in value.items()
            if viewer is None or hidden_by(str(key), viewer) is None
        }
    if isinstance(value, Sequence | set | frozenset) and not isinstance(value, bytes):
        return [plain(item, viewer) for item in value]
    if isinstance(value, pl.Series):
        return [plain(item, viewer) for item in value.to_list()]
    return _scalar(value)


def encode_cursor(offset: int) -> str:
    """An opaque cursor for the item at ``offset`` of a list."""
    return base64.urlsafe_b64encode(json.dumps({"o": offset}).encode()).decode().rstrip("=")


def decode_cursor(cursor: str | None) -> int:
    """The offset a cursor from :func:`encode_cursor` stands for; a 400 naming ``cursor`` for anything else."""
    if not cursor:
        return 0
    try:
        padded = cursor + "=" * (-len(cursor) % 4)
        offset = json.loads(base64.urlsafe_b64decode(padded.encode()))["o"]
    except (ValueError, KeyError, TypeError, UnicodeDecodeError):
        offset = None
    if not isinstance(offset, int) or isinstance(offset, bool) or offset < 0:
        raise ReadError(
            400,
            "bad_parameter",
            "cursor is not one this API gave out; pass next_cursor of the previous page, or none",
            {"parameter": "cursor"},
        )
    return offset


def page(items: list[Any], limit: int, cursor: str | None) -> dict[str, Any]:
    """One page of ``items``: ``{items, next_cursor, total}`` (next_cursor null on the last page)."""
    offset = decode_cursor(cursor)
    chunk = items[offset : offset + limit]
    following = offset + limit
    return {
        "items": chunk,
        "next_cursor": encode_cursor(following) if following < len(items) else None,
        "total": len(items),
    }


def _settled(value: Any) -> Any:
    """``value`` with floats cut to 12 significant digits: polars' parallel sums and means can differ in the
    last bits from one call to the next over the same rows, and that noise must not change the tag."""
    if isinstance(value, float):
        return float(f"{value:.12g}")
    if isinstance(value, Mapping):
        return {key: _settled(item) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return [_settled(item) for item in value]
    return value


def etag_of(data: Any) -> str:
    """A strong ETag over the answer's data (not its timestamp), so an unchanged summary matches."""
    body = json.dumps(_settled(data), sort_keys=True, separators=(",", ":"), default=str)
    return '"' + hashlib.sha256(body.encode()).hexdigest()[:32] + '"'


def _matches(header: str | None, tag: str) -> bool:
    if not header:
        return False
    candidates = {part.strip().removeprefix("W/") for part in header.split(",")}
    return "*" in candidates or tag in candidates


def answer(
    request: Request,
    data: Any,
    *,
    started: float,
    newest_ms: int | None,
    max_age_s: int,
    cache: bool = True,
) -> Response:
    """The envelope for ``data`` (already :func:`plain`); with ``cache``, ETag and Cache-Control, and 304 on a match."""
    now = now_ms()
    headers: dict[str, str] = {}
    if cache:
        tag = etag_of(data)
        headers = {"ETag": tag, "Cache-Control": f"private, max-age={max(0, int(max_age_s))}"}
        if _matches(request.headers.get("if-none-match"), tag):
            return Response(status_code=304, headers=headers)
    else:
        headers = {"Cache-Control": "no-store"}
    body = {
        "status": "success",
        "timestamp": iso(now),
        "data": data,
        "metadata": {
            "processing_time": round((perf_counter() - started) * 1000, 2),
            "data_freshness": None if newest_ms is None else round(max(0, now - newest_ms) / 1000, 3),
        },
    }
    return JSONResponse(body, headers=headers)


def error_response(error: ReadError) -> JSONResponse:
    """The error body for ``error``."""
    return JSONResponse(
        {"status": "error", "error": {"code": error.code, "message": error.message, "details": error.details}},
        status_code=error.status,
        headers=error.headers or None,
    )
