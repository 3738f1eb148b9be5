"""How the API answers while the store is locked, down, read-only or full: 202 when spooled, else 503, fast.

The contract (docs/api.md, "When the store is unavailable"): within about two seconds a
client gets JSON — never a traceback or a plain-text 500 after the 10 s SQLite busy
timeout. A valid batch that the API could keep on disk is *accepted* (202, stored later
by core.ingest.backlog's replay); one it could not keep is refused with 503 and
``Retry-After``, and nothing of it is stored, so the retry is safe.

Two things need the store before a batch is even read, and both degrade here rather
than fail: the bearer token (a token verified within ``api_token_grace_s`` is accepted
again while the store cannot be read — revocation cannot be read either, which
docs/security.md weighs), and idempotency keys (kept on this replica's disk, see
core/ingest/idempotency.py).
"""

from __future__ import annotations

import hashlib
import math
import threading
import time
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy.engine import Engine

from core.auth.tokens import Token
from core.config import Settings
from core.ingest.backlog import Backlog, Outcome, backlog_for
from core.ingest.writer import WriteResult
from core.model import Batch
from core.store import get_engine
from core.store.outage import Outage, store_label

KEY_HEADER = "idempotency-key"
MAX_KEY_CHARS = 255


def api_engine(settings: Settings) -> Engine:
    """The store as the API reaches it: waits at most ``api_store_timeout_s`` for a lock or a connection."""
    return get_engine(settings, lock_timeout_s=settings.api_store_timeout_s)


def retry_after_s(settings: Settings) -> int:
    """Seconds a refused client should wait: one replay interval, at least 1."""
    return max(1, math.ceil(settings.spool_retry_s))


def unavailable(
    outage: Outage | None, settings: Settings, *, reason: str = ""
) -> tuple[dict[str, Any], dict[str, str]]:
    """The 503 body and headers: the condition, what failed, and that nothing was stored."""
    wait = retry_after_s(settings)
    where = store_label(settings.resolved_database_url)
    what = outage.sentence(f"the store ({where})") if outage is not None else f"The store ({where}) is unavailable"
    detail = f"{what}. {reason + '. ' if reason else ''}Nothing was stored; retry after {wait} s."
    body = {
        "error": f"store unavailable: {outage.condition if outage else 'unavailable'}",
        "condition": outage.condition if outage else "unavailable",
        "detail": detail,
        "retry_after_s": wait,
        "problems": [],
    }
    return body, {"Retry-After": str(wait)}


@dataclass
class TokenGrace:
    """Tokens verified recently, by a hash of their header, to accept them while the store cannot be read."""

    _seen: dict[str, tuple[Token, float]] = field(default_factory=dict)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    @staticmethod
    def _key(header: str | None) -> str:
        return hashlib.sha256((header or "").strip().encode()).hexdigest()

    def remember(self, header: str | None, token: Token) -> None:
        """``token`` was just verified from ``header``."""
        with self._lock:
            self._seen[self._key(header)] = (token, time.monotonic())

    def recall(self, header: str | None, scope: str, grace_s: float) -> Token | None:
        """The token ``header`` carried if it was verified within ``grace_s``, grants ``scope`` and has not expired."""
        with self._lock:
            found = self._seen.get(self._key(header))
        if found is None or grace_s <= 0:
            return None
        token, at = found
        expired = token.expires_ms is not None and token.expires_ms <= time.time() * 1000
        return token if time.monotonic() - at <= grace_s and scope in token.scopes and not expired else None


GRACE = TokenGrace()


def idempotency_key(header: str | None) -> str | None:
    """The client's ``Idempotency-Key``, or None; ValueError when it is unusable."""
    if header is None:
        return None
    key = header.strip()
    if not key or len(key) > MAX_KEY_CHARS or not key.isprintable() or not key.isascii():
        raise ValueError(f"Idempotency-Key must be 1 to {MAX_KEY_CHARS} printable ASCII characters")
    return key


@dataclass(frozen=True)
class Reply:
    """Status, JSON body and headers of an ingest answer."""

    status: int
    body: dict[str, Any]
    headers: dict[str, str] = field(default_factory=dict)


def _counts(result: WriteResult) -> dict[str, Any]:
    return {
        "samples_written": result.samples_written,
        "series_created": result.series_created,
        "events_written": result.events_written,
        "events_duplicate": result.events_duplicate,
    }


def _reply(outcome: Outcome, batch: Batch, settings: Settings, extra: dict[str, Any]) -> Reply:
    if outcome.status == "stored" and outcome.result is not None:
        return Reply(200, {**_counts(outcome.result), **extra})
    if outcome.status == "refused":
        body, headers = unavailable(outcome.outage, settings, reason=outcome.reason)
        return Reply(503, body, headers)
    if outcome.outage is not None:
        why = outcome.outage.sentence(f"the store ({store_label(settings.resolved_database_url)})")
    else:
        why = "The store is back and is being given the batches accepted while it was down; this one queues behind them"
    kept = "was already accepted and waits" if outcome.status == "duplicate" else "is kept on disk"
    body = {
        "accepted": True,
        "stored": False,
        "duplicate": outcome.status == "duplicate",
        "condition": outcome.outage.condition if outcome.outage is not None else None,
        "detail": f"{why}. The batch {kept} and will be stored when the store takes writes again; "
        f"{outcome.waiting} batch(es) wait. Do not resend it.",
        "samples_accepted": len(batch.samples),
        "events_accepted": len(batch.events),
        "idempotency_key": outcome.key,
        **extra,
    }
    return Reply(202, body)


def accept(
    settings: Settings,
    batch: Batch,
    *,
    body: bytes,
    endpoint: str,
    feed: str,
    key: str | None,
    outage: Outage | None = None,
    extra: dict[str, Any] | None = None,
    backlog: Backlog | None = None,
) -> Reply:
    """Store ``batch`` (200), keep it for later (202) or refuse it (503); a repeated ``key`` gets its first answer.

    ``outage`` is one this request already met (the token check), so the store is not asked
    again and the answer stays within the time budget. Raises core.ingest.BatchRejected.
    """
    backlog = backlog or backlog_for(settings)
    extra = extra or {}
    if key is None:
        return _reply(backlog.submit(batch, feed=feed, outage=outage), batch, settings, extra)
    scoped = f"idem:{feed}:{key}"
    digest = hashlib.sha256(endpoint.encode() + b"\n" + body).hexdigest()
    with backlog.keys.claim(scoped):
        seen = backlog.keys.get(scoped)
        if seen is not None:
            if seen.digest != digest:
                return Reply(
                    409,
                    {
                        "error": "Idempotency-Key already used for another body",
                        "detail": f"the key {key!r} was first sent to {endpoint} with a different body; use a new key "
                        "for new data, or resend exactly the first body",
                        "problems": [],
                    },
                )
            return Reply(seen.status, {**seen.answer, "duplicate": True}, {"Idempotent-Replayed": "true"})
        reply = _reply(backlog.submit(batch, feed=feed, key=scoped, outage=outage), batch, settings, extra)
        if reply.status in (200, 202):
            backlog.keys.remember(scoped, digest, reply.status, reply.body)
        return reply
