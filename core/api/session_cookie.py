"""The login cookie, set and cleared by the server: HttpOnly, so no script in the page can read it.

A Streamlit script has no HTTP response to put a header on, so after a login the page posts
the new session's signed cookie value here and the answer carries the ``Set-Cookie`` header
(core/ui/login.py). Written by the server, the cookie is ``HttpOnly``, ``SameSite=Strict``,
``Path=/`` and ``Secure`` behind HTTPS; it lands in one request right after the login
instead of waiting for a component frame to load, so a reload just after logging in keeps
the session.

Only a cookie naming a live session is set (nothing else can be planted in a browser), and
only for a same-origin request: a JSON body and the ``Origin`` check refuse other sites.
Errors name the problem in the API's error shape.
"""

from __future__ import annotations

import json
from urllib.parse import urlsplit

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from core.auth import sessions
from core.config import Settings, get_settings
from core.model import now_ms
from core.store import get_engine

MAX_BODY_BYTES = 4_096


class Refused(Exception):
    """A request this endpoint will not act on: ``status`` and a message naming the problem."""

    def __init__(self, status: int, code: str, message: str) -> None:
        super().__init__(message)
        self.status, self.code, self.message = status, code, message


def _error(refused: Refused) -> JSONResponse:
    return JSONResponse(
        {"status": "error", "error": {"code": refused.code, "message": refused.message, "details": []}},
        status_code=refused.status,
        headers={"Cache-Control": "no-store"},
    )


def _https(request: Request) -> bool:
    return request.headers.get("x-forwarded-proto", request.url.scheme).split(",")[0].strip() == "https"


def _same_origin(request: Request) -> None:
    """Browsers send ``Origin`` on every POST; another site's (or none) is refused."""
    origin = request.headers.get("origin")
    host = request.headers.get("x-forwarded-host", request.headers.get("host", ""))
    if origin is None or urlsplit(origin).netloc != host:
        raise Refused(403, "cross_origin", f"Origin {origin!r} is not this server ({host}); the cookie is not set")


async def _cookie_value(request: Request) -> str:
    if request.headers.get("content-type", "").split(";")[0].strip() != "application/json":
        raise Refused(415, "unsupported_media_type", "the body must be JSON (Content-Type: application/json)")
    body = await request.body()
    if len(body) > MAX_BODY_BYTES:
        raise Refused(413, "body_too_large", f"the body is {len(body)} bytes; at most {MAX_BODY_BYTES} are accepted")
    try:
        payload = json.loads(body)
    except ValueError as error:
        raise Refused(400, "invalid_json", f"the body is not JSON: {error}") from None
    value = payload.get("cookie") if isinstance(payload, dict) else None
    if not isinstance(value, str) or not value:
        raise Refused(400, "invalid_field", "field 'cookie' must be the signed session cookie, a non-empty string")
    return value


def _live_session_expiry(settings: Settings, value: str) -> int:
    """When the cookie should expire: its session's absolute timeout, capped by the cookie lifetime."""
    secret = sessions.decode_cookie(value, sessions.cookie_key(settings))
    session = (
        sessions.check(get_engine(settings), secret, idle_s=settings.auth_session_idle_timeout_s) if secret else None
    )
    if session is None:
        raise Refused(401, "no_session", "field 'cookie' does not name a live session (forged, expired or ended)")
    return min(session.expires_ms, now_ms() + int(settings.auth_cookie_expiry_days * 86_400_000))


async def set_cookie(request: Request) -> Response:
    """``POST /auth/session`` with ``{"cookie": value}``: 204 and the cookie, or the error that refused it."""
    settings = get_settings()
    try:
        _same_origin(request)
        value = await _cookie_value(request)
        if settings.auth_cookie_expiry_days <= 0:
            raise Refused(409, "cookies_off", "auth_cookie_expiry_days is 0: this installation keeps no login cookie")
        expires_ms = await run_in_threadpool(_live_session_expiry, settings, value)
    except Refused as refused:
        return _error(refused)
    response = Response(status_code=204, headers={"Cache-Control": "no-store"})
    response.set_cookie(
        sessions.COOKIE_NAME,
        value,
        max_age=max(0, (expires_ms - now_ms()) // 1000),
        path="/",
        secure=_https(request),
        httponly=True,
        samesite="strict",
    )
    return response


async def clear_cookie(request: Request) -> Response:
    """``POST /auth/logout``: 204 and an expired cookie (the session itself was ended by the page)."""
    try:
        _same_origin(request)
    except Refused as refused:
        return _error(refused)
    response = Response(status_code=204, headers={"Cache-Control": "no-store"})
    response.delete_cookie(sessions.COOKIE_NAME, path="/", secure=_https(request), httponly=True, samesite="strict")
    return response
