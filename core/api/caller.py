"""Who is asking the read API, and the parameters every read endpoint shares.

A token is checked for its scope (``read`` to look, ``admin`` to change alert state) and
then stands for its **owner**: the user who created it, with that user's current roles.
So a token made by a developer sees what the developer sees on the pages — the same page
guards (core.auth.access.may_open) and the same cost and per-person redaction — and a
disabled owner's token stops working with its owner. With ``PULSEBOARD_AUTH=off`` the caller
is the local admin, as on the pages.

Also here: time, list and filter parameters parsed into the values the domain functions take,
each refusal naming the parameter, and :func:`run`, which turns a store outage into 503.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any, TypeVar

import sqlalchemy as sa
from fastapi import Request
from sqlalchemy.engine import Engine
from starlette.concurrency import run_in_threadpool

from core.api.envelope import ReadError
from core.api.outage import api_engine, unavailable
from core.auth.access import Viewer, may_open
from core.auth.catalogue import page as page_spec
from core.auth.tokens import TokenRefused, authorize
from core.auth.users import get_user
from core.config import Settings
from core.ingest.health import note_failure
from core.model import now_ms
from core.query.timewindow import DAY_MS, HOUR_MS

T = TypeVar("T")
TIMEFRAMES: dict[str, int] = {"1h": HOUR_MS, "4h": 4 * HOUR_MS, "24h": DAY_MS, "7d": 7 * DAY_MS, "30d": 30 * DAY_MS}
LOCAL = Viewer.of("local", ["admin"], "Local user (no login)")
MAX_SPAN_MS = 400 * DAY_MS
DURATION = re.compile(r"^(\d+(?:\.\d+)?)(ms|s|m|h|d|w)?$")
UNIT_MS = {"ms": 1, "s": 1000, "m": 60_000, "h": HOUR_MS, "d": DAY_MS, "w": 7 * DAY_MS}


@dataclass(frozen=True)
class Caller:
    """The store, the settings and the viewer a token stands for."""

    engine: Engine
    settings: Settings
    viewer: Viewer

    def require_page(self, slug: str) -> None:
        """403 unless the viewer may open page ``slug`` (the endpoint serves that page's numbers)."""
        if not may_open(self.viewer, slug):
            roles = ", ".join(sorted(self.viewer.roles)) or "no role"
            allowed = ", ".join(page_spec(slug).roles)
            raise ReadError(
                403,
                "forbidden",
                f"{self.viewer.username} ({roles}) may not read the {page_spec(slug).title} page's data; "
                f"it is for: {allowed}",
                {"page": slug, "roles": sorted(self.viewer.roles)},
            )


def bad(parameter: str, message: str) -> ReadError:
    """A 400 naming ``parameter``."""
    return ReadError(400, "bad_parameter", f"{parameter}: {message}", {"parameter": parameter})


def _store_error(error: Exception, settings: Settings) -> ReadError | None:
    outage = note_failure(error)
    if outage is None:
        return None
    _, headers = unavailable(outage, settings)
    message = f"the store cannot be read now ({outage.condition}): {outage.detail}"
    return ReadError(503, "store_unavailable", message, {"condition": outage.condition}, headers)


async def run(caller_settings: Settings, work: Callable[[], T]) -> T:
    """``work()`` in a worker thread; a store outage becomes a 503 error body with Retry-After."""
    try:
        return await run_in_threadpool(work)
    except sa.exc.SQLAlchemyError as error:
        refused = _store_error(error, caller_settings)
        if refused is None:
            raise
        raise refused from None


def resolve_caller(settings: Settings, header: str | None, scope: str) -> Caller:
    """The caller a request's ``Authorization`` header stands for, given the scope the endpoint needs."""
    engine = api_engine(settings)
    if settings.auth == "off":
        return Caller(engine, settings, LOCAL)
    try:
        token = authorize(engine, header, scope)
    except TokenRefused as refused:
        code = "unauthorized" if refused.status == 401 else "forbidden"
        headers = {"WWW-Authenticate": f'Bearer scope="{scope}"'} if refused.status == 401 else None
        raise ReadError(refused.status, code, refused.message, {"scope": scope}, headers) from None
    owner = get_user(engine, token.created_by)
    if owner is None or owner.disabled:
        state = "no longer exists" if owner is None else "is disabled"
        raise ReadError(
            403,
            "forbidden",
            f"token {token.id} ({token.name}) reads as its owner {token.created_by!r}, who {state}; "
            "an active user must create the token",
            {"owner": token.created_by},
        )
    return Caller(engine, settings, owner.viewer())


def caller_dependency(scope: str, settings_provider: Callable[[], Settings]) -> Callable[[Request], Any]:
    """A FastAPI dependency giving the :class:`Caller` of a request that holds ``scope``."""

    async def dependency(request: Request) -> Caller:
        settings = settings_provider()
        header = request.headers.get("authorization")
        return await run(settings, lambda: resolve_caller(settings, header, scope))

    return dependency


def parse_time(parameter: str, text: str | None, default_ms: int) -> int:
    """Epoch seconds (fractions allowed) or ISO 8601 with a zone, as epoch ms; ``default_ms`` when absent."""
    if text is None or not text.strip():
        return default_ms
    text = text.strip()
    try:
        seconds = float(text)
    except ValueError:
        try:
            when = datetime.fromisoformat(text.replace("Z", "+00:00"))
        except ValueError:
            raise bad(parameter, f"{text!r} is neither epoch seconds nor ISO 8601 (2025-08-17T06:23:14Z)") from None
        if when.tzinfo is None:
            raise bad(parameter, f"{text!r} has no time zone; add Z or an offset such as +02:00") from None
        return int(when.timestamp() * 1000)
    if not math.isfinite(seconds) or not 0 <= seconds < 10**11:
        raise bad(parameter, f"{text!r} is not a time in epoch seconds")
    return int(seconds * 1000)


def parse_duration(parameter: str, text: str | None) -> int | None:
    """``300``, ``300s``, ``5m``, ``1h`` … as milliseconds; None when absent."""
    if text is None or not text.strip():
        return None
    found = DURATION.match(text.strip())
    if not found:
        raise bad(parameter, f"{text!r} is not a duration; use seconds (300) or 30s, 5m, 1h, 1d")
    ms = int(float(found.group(1)) * UNIT_MS[found.group(2) or "s"])
    if ms < 1000:
        raise bad(parameter, f"{text!r} is shorter than one second")
    return ms


def span(timeframe: str, settings: Settings, now: int | None = None) -> tuple[int, int]:
    """``[start, end)`` of a timeframe key ending now, the end rounded down to the query cache's lifetime.

    Rounded so that repeated polls within one cache lifetime get the same answer and its ETag
    matches; the same lifetime is the answer's Cache-Control max-age.
    """
    end = now_ms() if now is None else now
    quantum = max(1000, int(settings.query_cache_ttl_s * 1000))
    end -= end % quantum
    return end - TIMEFRAMES[timeframe], end


def listed(parameter: str, text: str | None, allowed: tuple[str, ...] | None = None) -> list[str]:
    """A comma-separated parameter as a list (empty when absent); with ``allowed``, anything else is refused."""
    items = [part.strip() for part in (text or "").split(",") if part.strip()]
    if allowed is not None:
        unknown = [item for item in items if item not in allowed]
        if unknown:
            raise bad(parameter, f"unknown value(s) {', '.join(unknown)}; use some of {', '.join(allowed)}")
    return items


def filters_of(**given: str | None) -> dict[str, str]:
    """The page filters that were given (component, team, repository …), as the pages pass them."""
    return {name: value for name, value in given.items() if value}
