"""Server-side login sessions: the browser's cookie carries only a session id the store can revoke.

A signed cookie on its own cannot be taken back: one copied before a logout stays valid
until it expires. So a login creates a row in ``sessions`` and the cookie carries a random
256-bit session secret; every run of every page looks the row up (:func:`check`), and a
logout, a password change or an administrator's "End sessions" marks it revoked, which
ends that session everywhere at its next click. Sessions also end after
``auth_session_idle_timeout_s`` without a run and ``auth_session_absolute_timeout_s``
after the login, whatever the cookie says.

The store keeps only the secret's SHA-256 (like API tokens: 256 random bits leave nothing
to brute-force), so a copy of the database yields no usable session. The cookie wraps the
secret in a JWT signed with the installation's cookie key, so a forged or garbled cookie is
refused before the store is asked; :func:`decode_cookie` turns anything it cannot read into
"not logged in" instead of an exception, because a cookie is attacker input.

Times are epoch milliseconds and every function takes ``now``, so tests drive the clock.
"""

from __future__ import annotations

import hashlib
import logging
import os
import re
import secrets
from dataclasses import dataclass

import jwt
import polars as pl
import sqlalchemy as sa
from sqlalchemy.engine import Engine

from core.config import Settings
from core.model import now_ms
from core.store.schema import sessions

log = logging.getLogger(__name__)

COOKIE_NAME = "pulseboard_auth"  # the re-login cookie: this JWT, set HttpOnly by core/api/session_cookie.py

# A session's last-seen time is written at most once a minute: every page run checks the
# session, and one write per click would turn reads into writes for nothing (the idle
# timeout is at least a minute, see core.config).
TOUCH_GRANULARITY_MS = 60_000
SECRET = re.compile(r"[A-Za-z0-9_-]{43}")  # secrets.token_urlsafe(32)
MAX_COOKIE_CHARS = 4_096  # what browsers keep per cookie; anything longer is not ours
ALGORITHM = "HS256"


@dataclass(frozen=True)
class Session:
    """One login of one user in one browser (every tab of that browser shares it)."""

    id: str  # SHA-256 of the secret: what the store and the audit log name
    username: str
    created_ms: int
    last_seen_ms: int
    expires_ms: int  # the absolute timeout


def digest(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


def _session(row: sa.Row[tuple[object, ...]]) -> Session:
    m = row._mapping
    return Session(m["id"], m["username"], m["created_ms"], m["last_seen_ms"], m["expires_ms"])


def prune(engine: Engine, idle_s: float, now: int | None = None) -> int:
    """Delete sessions that can never be used again (revoked, idle or past their end); returns how many.

    Run at every login, so the table holds only live sessions plus those ended since the last
    login: its size follows the number of logged-in browsers, not the number of logins ever.
    """
    now = now_ms() if now is None else now
    dead = sa.or_(
        sessions.c.revoked_ms.is_not(None),
        sessions.c.expires_ms <= now,
        sessions.c.last_seen_ms <= now - int(idle_s * 1000),
    )
    with engine.begin() as connection:
        return int(connection.execute(sessions.delete().where(dead)).rowcount)


def start(
    engine: Engine,
    username: str,
    address: str | None = None,
    *,
    idle_s: float,
    absolute_s: float,
    now: int | None = None,
) -> tuple[Session, str]:
    """A new session for ``username``: the stored row and its secret, which only the cookie carries."""
    now = now_ms() if now is None else now
    prune(engine, idle_s, now)
    secret = secrets.token_urlsafe(32)
    session = Session(digest(secret), username, now, now, now + int(absolute_s * 1000))
    with engine.begin() as connection:
        connection.execute(
            sessions.insert().values(
                id=session.id,
                username=username,
                created_ms=now,
                last_seen_ms=now,
                expires_ms=session.expires_ms,
                address=None if address is None else address[:64],
            )
        )
    return session, secret


def check(engine: Engine, secret: str | None, *, idle_s: float, now: int | None = None) -> Session | None:
    """The live session ``secret`` opens, its last-seen time renewed; None when unknown, revoked, idle or over.

    The idle timeout counts from the last run of any page of the session (fragment reruns of
    live panels included), the absolute one from the login.
    """
    if not isinstance(secret, str) or not SECRET.fullmatch(secret):
        return None
    now = now_ms() if now is None else now
    with engine.connect() as connection:
        row = connection.execute(sa.select(sessions).where(sessions.c.id == digest(secret))).first()
    if row is None or row.revoked_ms is not None or row.expires_ms <= now:
        return None
    if row.last_seen_ms + int(idle_s * 1000) <= now:
        return None
    session = _session(row)
    if now - row.last_seen_ms >= TOUCH_GRANULARITY_MS:
        try:
            with engine.begin() as connection:
                connection.execute(
                    sessions.update()
                    .where(sessions.c.id == session.id, sessions.c.revoked_ms.is_(None), sessions.c.last_seen_ms < now)
                    .values(last_seen_ms=now)
                )
        except sa.exc.DBAPIError as error:
            # A store that takes no writes (read-only, disk full, locked) must not end a viewer's reading:
            # the session stays valid, only its idle clock is not renewed until writes come back.
            log.warning("session last-seen time not renewed, the store refused the write: %s", error.orig)
            return session
        session = Session(session.id, session.username, session.created_ms, now, session.expires_ms)
    return session


def end(engine: Engine, secret: str | None, actor: str, now: int | None = None) -> bool:
    """Revoke the session ``secret`` opens (a logout); True when a live one was ended."""
    if not isinstance(secret, str) or not SECRET.fullmatch(secret):
        return False
    now = now_ms() if now is None else now
    with engine.begin() as connection:
        changed = connection.execute(
            sessions.update()
            .where(sessions.c.id == digest(secret), sessions.c.revoked_ms.is_(None))
            .values(revoked_ms=now, revoked_by=actor[:64])
        ).rowcount
    return bool(changed)


def end_all(engine: Engine, username: str, actor: str, now: int | None = None) -> int:
    """Revoke every session of ``username`` (password change or reset, disabling, "End sessions"); returns how many.

    Auditing is the caller's: the action that ended them (password change, admin) names why.
    """
    now = now_ms() if now is None else now
    with engine.begin() as connection:
        return int(
            connection.execute(
                sessions.update()
                .where(sessions.c.username == username, sessions.c.revoked_ms.is_(None))
                .values(revoked_ms=now, revoked_by=actor[:64])
            ).rowcount
        )


def active_frame(engine: Engine, *, idle_s: float, now: int | None = None) -> pl.DataFrame:
    """Live sessions per user (``username``, ``sessions``, ``last_seen``), for the admin's users table."""
    now = now_ms() if now is None else now
    live = sa.and_(
        sessions.c.revoked_ms.is_(None),
        sessions.c.expires_ms > now,
        sessions.c.last_seen_ms > now - int(idle_s * 1000),
    )
    with engine.connect() as connection:
        rows = connection.execute(sa.select(sessions.c.username, sessions.c.last_seen_ms).where(live)).all()
    frame = pl.DataFrame(
        [(r.username, r.last_seen_ms) for r in rows],
        schema={"username": pl.String, "last_seen_ms": pl.Int64},
        orient="row",
    )
    return (
        frame.group_by("username")
        .agg(pl.len().cast(pl.Int64).alias("sessions"), pl.col("last_seen_ms").max())
        .with_columns(pl.from_epoch("last_seen_ms", time_unit="ms").dt.replace_time_zone("UTC").alias("last_seen"))
        .drop("last_seen_ms")
        .sort("username")
    )


def cookie_key(settings: Settings) -> str:
    """The installation's cookie-signing secret, created (mode 0600) on first use; replicas must share it."""
    if settings.cookie_key is not None:
        return settings.cookie_key.get_secret_value()
    path = settings.data_dir / "secrets" / "cookie_key"
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        return path.read_text().strip()
    with os.fdopen(fd, "w") as handle:
        handle.write(secrets.token_urlsafe(48))
    return path.read_text().strip()


def encode_cookie(secret: str, key: str, expires_ms: int) -> str:
    """The cookie value: ``secret`` in a JWT signed (HS256) with the installation's cookie key."""
    return jwt.encode({"sid": secret, "exp": expires_ms // 1000}, key, algorithm=ALGORITHM)


def decode_cookie(value: object, key: str) -> str | None:
    """The session secret a cookie carries, or None for anything else.

    None for a missing, oversized or garbled value, another algorithm (``alg: none``
    included: only HS256 is accepted), a wrong signature, a missing, non-numeric or past
    ``exp``, a missing or malformed ``sid``, and the cookies of earlier versions (which
    carried a user name, not a session). A cookie is attacker input, so nothing it contains
    may raise: whatever the decoder trips on means "not logged in".
    """
    if not isinstance(value, str) or not value or len(value) > MAX_COOKIE_CHARS:
        return None
    try:
        claims = jwt.decode(value, key, algorithms=[ALGORITHM], options={"require": ["exp", "sid"]})
    except Exception:  # noqa: BLE001 - see the docstring: unreadable means not logged in
        return None
    secret = claims.get("sid") if isinstance(claims, dict) else None
    return secret if isinstance(secret, str) and SECRET.fullmatch(secret) else None
