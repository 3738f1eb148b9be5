"""API tokens: shown once, stored as a SHA-256 hash, scoped, expiring, revocable.

A token is ``pb_`` followed by 43 URL-safe characters (256 random bits), so a plain
SHA-256 is a sufficient hash: nothing is left to brute-force. :func:`authorize`
answers whether a request's ``Authorization`` header grants a scope, with a status
(401: no valid token; 403: valid token without the scope) and a message saying why.
"""

from __future__ import annotations

import hashlib
import secrets
from collections.abc import Iterable
from dataclasses import dataclass

import polars as pl
import sqlalchemy as sa
from sqlalchemy.engine import Engine

from core.auth import audit
from core.model import now_ms
from core.store.schema import api_tokens

SCOPES = ("ingest", "read", "admin")  # admin: change state through the API (acknowledge, silences)
PREFIX = "pb_"
LAST_USED_GRANULARITY_MS = 60_000  # at most one last-used write per token per minute


class TokenRefused(Exception):
    """A request without a usable token (401) or without the needed scope (403)."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.message = message


@dataclass(frozen=True)
class Token:
    """A stored token (never the secret itself)."""

    id: str
    name: str
    scopes: tuple[str, ...]
    created_by: str
    created_ms: int
    expires_ms: int | None
    last_used_ms: int | None
    revoked_ms: int | None


def digest(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


def create_token(
    engine: Engine,
    name: str,
    scopes: Iterable[str],
    created_by: str,
    expires_ms: int | None = None,
    address: str | None = None,
) -> tuple[Token, str]:
    """Store a new token; returns it and its secret, which is never retrievable again."""
    chosen = sorted(set(scopes))
    unknown = [scope for scope in chosen if scope not in SCOPES]
    if unknown or not chosen:
        raise ValueError(f"scopes must be some of {', '.join(SCOPES)}; got {chosen}")
    if not name.strip():
        raise ValueError("a token needs a name saying who uses it")
    secret, token_id, now = PREFIX + secrets.token_urlsafe(32), secrets.token_hex(8), now_ms()
    with engine.begin() as connection:
        connection.execute(
            api_tokens.insert().values(
                id=token_id,
                name=name.strip()[:200],
                token_hash=digest(secret),
                scopes=chosen,
                created_by=created_by,
                created_ms=now,
                expires_ms=expires_ms,
            )
        )
    audit.record(
        engine,
        created_by,
        audit.TOKEN_CREATED,
        token_id,
        {"name": name.strip(), "scopes": chosen, "expires_ms": expires_ms},
        address,
    )
    return Token(token_id, name.strip(), tuple(chosen), created_by, now, expires_ms, None, None), secret


def revoke_token(engine: Engine, token_id: str, actor: str, address: str | None = None) -> None:
    """Refuse the token from now on (kept for the record)."""
    with engine.begin() as connection:
        changed = connection.execute(
            api_tokens.update()
            .where(api_tokens.c.id == token_id, api_tokens.c.revoked_ms.is_(None))
            .values(revoked_ms=now_ms())
        ).rowcount
    if not changed:
        raise ValueError(f"no active token {token_id!r}")
    audit.record(engine, actor, audit.TOKEN_REVOKED, token_id, {}, address)


def list_tokens(engine: Engine) -> list[Token]:
    with engine.connect() as connection:
        rows = connection.execute(sa.select(api_tokens).order_by(api_tokens.c.created_ms.desc())).all()
    return [
        Token(r.id, r.name, tuple(r.scopes), r.created_by, r.created_ms, r.expires_ms, r.last_used_ms, r.revoked_ms)
        for r in rows
    ]


def tokens_frame(engine: Engine) -> pl.DataFrame:
    """Tokens as a table for the admin page (times as UTC datetimes)."""
    rows = [
        {
            "id": t.id,
            "name": t.name,
            "scopes": ", ".join(t.scopes),
            "created_by": t.created_by,
            "created_ms": t.created_ms,
            "expires_ms": t.expires_ms,
            "last_used_ms": t.last_used_ms,
            "revoked_ms": t.revoked_ms,
        }
        for t in list_tokens(engine)
    ]
    schema = {
        "id": pl.String,
        "name": pl.String,
        "scopes": pl.String,
        "created_by": pl.String,
        "created_ms": pl.Int64,
        "expires_ms": pl.Int64,
        "last_used_ms": pl.Int64,
        "revoked_ms": pl.Int64,
    }
    frame = pl.DataFrame(rows, schema=schema)
    times = [
        pl.from_epoch(c, time_unit="ms").dt.replace_time_zone("UTC").alias(c.removesuffix("_ms"))
        for c in ("created_ms", "expires_ms", "last_used_ms", "revoked_ms")
    ]
    return frame.with_columns(times).select(
        "id", "name", "scopes", "created_by", "created", "expires", "last_used", "revoked"
    )


def authorize(engine: Engine, header: str | None, scope: str, now: int | None = None) -> Token:
    """The token in an ``Authorization: Bearer`` header if it grants ``scope``; else TokenRefused."""
    if scope not in SCOPES:
        raise ValueError(f"unknown scope {scope!r}")
    if not header:
        raise TokenRefused(401, f"missing bearer token: send 'Authorization: Bearer <token>' with scope '{scope}'")
    kind, _, secret = header.strip().partition(" ")
    if kind.lower() != "bearer" or not secret.strip():
        raise TokenRefused(401, "malformed Authorization header: expected 'Bearer <token>'")
    now = now_ms() if now is None else now
    with engine.connect() as connection:
        row = connection.execute(sa.select(api_tokens).where(api_tokens.c.token_hash == digest(secret.strip()))).first()
    if row is None:
        raise TokenRefused(401, "invalid token: no such token")
    if row.revoked_ms is not None:
        raise TokenRefused(401, f"token {row.id} ({row.name}) was revoked")
    if row.expires_ms is not None and row.expires_ms <= now:
        raise TokenRefused(401, f"token {row.id} ({row.name}) has expired")
    if scope not in row.scopes:
        raise TokenRefused(403, f"token {row.id} ({row.name}) lacks scope '{scope}' (it has: {', '.join(row.scopes)})")
    if row.last_used_ms is None or now - row.last_used_ms >= LAST_USED_GRANULARITY_MS:
        with engine.begin() as connection:
            connection.execute(api_tokens.update().where(api_tokens.c.id == row.id).values(last_used_ms=now))
    return Token(row.id, row.name, tuple(row.scopes), row.created_by, row.created_ms, row.expires_ms, now, None)
