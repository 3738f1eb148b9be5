"""Users in the store: bcrypt password hashes, roles, disabling, lock-out and first run.

Users live in the database rather than a YAML file so that several replicas on one
Postgres share them, and a disabled user is refused by every replica at its next
check. Failed logins and failed change-password checks are counted per username in
``login_failures`` (core/auth/lockout.py, before the password is checked); past
``free_attempts`` each further failure locks the name for a doubling delay (2 s,
4 s, 8 s, ... up to ``max_delay_s``), during which no password is even checked.
Logins are kept as server-side sessions (core/auth/sessions.py) that a password change,
a reset or disabling the user ends.

Longer than most modules: passwords, lock-out, first run and user administration share one
table and its invariants (never zero admins, never a plain password), kept in one place.
"""

from __future__ import annotations

import functools
import logging
import os
import re
import secrets
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

import bcrypt
import polars as pl
import sqlalchemy as sa
from sqlalchemy.engine import Engine

from core.auth import audit, lockout, sessions
from core.auth.access import Viewer
from core.auth.catalogue import ROLES
from core.model import now_ms
from core.store.schema import users

log = logging.getLogger("pulseboard.auth")

USERNAME = re.compile(r"^[a-z0-9][a-z0-9._-]{0,63}$")
MIN_PASSWORD_CHARS = 12
MAX_PASSWORD_BYTES = 72  # bcrypt ignores (5.x: refuses) anything longer
BCRYPT_ROUNDS = 12
FIRST_ADMIN = "admin"
FIRST_PASSWORD_FILE = "admin-password.txt"  # under data_dir; gitignored


# Checked against unknown usernames so that a miss takes as long as a wrong password.
@functools.cache
def _dummy_hash() -> bytes:
    """A hash to check unknown users against, so they take as long as known ones; made on first use, not at import."""
    return bcrypt.hashpw(b"pulseboard-no-such-user", bcrypt.gensalt(BCRYPT_ROUNDS))


class UserError(ValueError):
    """A request about users that cannot be done; the message says why."""


@dataclass(frozen=True)
class User:
    """A stored user, without the password hash."""

    username: str
    display_name: str
    email: str
    roles: tuple[str, ...]
    disabled: bool
    must_change_password: bool
    created_ms: int
    updated_ms: int

    def viewer(self) -> Viewer:
        return Viewer.of(self.username, self.roles, self.display_name, self.must_change_password)


@dataclass(frozen=True)
class LoginResult:
    """The outcome of one login attempt: ``user`` when it succeeded, else why not."""

    user: User | None
    reason: str = ""  # "invalid", "disabled" or "locked"
    retry_after_s: float = 0.0

    @property
    def ok(self) -> bool:
        return self.user is not None


def normalise(username: str) -> str:
    return username.strip().lower()


def password_problem(password: str) -> str | None:
    """Why ``password`` is not acceptable, or None when it is."""
    if len(password) < MIN_PASSWORD_CHARS:
        return f"Password must have at least {MIN_PASSWORD_CHARS} characters."
    if len(password.encode()) > MAX_PASSWORD_BYTES:
        return f"Password must be at most {MAX_PASSWORD_BYTES} bytes long."
    if password.strip() != password:
        return "Password must not start or end with spaces."
    return None


def hash_password(password: str) -> str:
    """A bcrypt hash of ``password`` (which must pass :func:`password_problem`)."""
    problem = password_problem(password)
    if problem:
        raise UserError(problem)
    return bcrypt.hashpw(password.encode(), bcrypt.gensalt(BCRYPT_ROUNDS)).decode()


def random_password() -> str:
    """A 24-character random password (144 bits)."""
    return secrets.token_urlsafe(18)


def _check_roles(roles: Iterable[str]) -> list[str]:
    chosen = sorted(set(roles))
    unknown = [role for role in chosen if role not in ROLES]
    if unknown:
        raise UserError(f"unknown role(s) {unknown}; choose from {', '.join(ROLES)}")
    if not chosen:
        raise UserError("a user needs at least one role")
    return chosen


def _user(row: sa.Row[tuple[object, ...]]) -> User:
    m = row._mapping
    return User(
        m["username"],
        m["display_name"],
        m["email"],
        tuple(m["roles"]),
        bool(m["disabled"]),
        bool(m["must_change_password"]),
        m["created_ms"],
        m["updated_ms"],
    )


def create_user(
    engine: Engine,
    username: str,
    password: str,
    roles: Iterable[str],
    display_name: str = "",
    email: str = "",
    must_change_password: bool = True,
    actor: str = "system",
    address: str | None = None,
) -> User:
    """Store a new user; refuses a taken or malformed name, unknown roles or a weak password."""
    name = normalise(username)
    if not USERNAME.match(name):
        raise UserError("username: 1-64 characters, lower-case letters, digits, '.', '_' or '-'")
    chosen, digest, now = _check_roles(roles), hash_password(password), now_ms()
    try:
        with engine.begin() as connection:
            connection.execute(
                users.insert().values(
                    username=name,
                    display_name=display_name.strip() or name,
                    email=email.strip(),
                    password_hash=digest,
                    roles=chosen,
                    disabled=False,
                    must_change_password=must_change_password,
                    created_ms=now,
                    updated_ms=now,
                )
            )
    except sa.exc.IntegrityError:
        raise UserError(f"user {name!r} already exists") from None
    audit.record(engine, actor, audit.USER_CREATED, name, {"roles": chosen}, address)
    user = get_user(engine, name)
    assert user is not None
    return user


def get_user(engine: Engine, username: str) -> User | None:
    with engine.connect() as connection:
        row = connection.execute(sa.select(users).where(users.c.username == normalise(username))).first()
    return None if row is None else _user(row)


def list_users(engine: Engine) -> list[User]:
    with engine.connect() as connection:
        return [_user(row) for row in connection.execute(sa.select(users).order_by(users.c.username))]


def count_users(engine: Engine) -> int:
    with engine.connect() as connection:
        return int(connection.execute(sa.select(sa.func.count()).select_from(users)).scalar_one())


def update_user(
    engine: Engine,
    username: str,
    *,
    roles: Iterable[str] | None = None,
    disabled: bool | None = None,
    display_name: str | None = None,
    email: str | None = None,
    actor: str = "system",
    address: str | None = None,
) -> User:
    """Change roles, disabled flag or contact fields; the change is audited."""
    name = normalise(username)
    values: dict[str, object] = {}
    if roles is not None:
        values["roles"] = _check_roles(roles)
    if disabled is not None:
        values["disabled"] = disabled
    if display_name is not None:
        values["display_name"] = display_name.strip() or name
    if email is not None:
        values["email"] = email.strip()
    if not values:
        raise UserError("nothing to change")
    if name == actor and (values.get("disabled") or ("roles" in values and "admin" not in values["roles"])):  # type: ignore[operator]
        raise UserError("you cannot disable yourself or remove your own admin role")
    with engine.begin() as connection:
        if (
            connection.execute(
                users.update().where(users.c.username == name).values(**values, updated_ms=now_ms())
            ).rowcount
            == 0
        ):
            raise UserError(f"no user {name!r}")
    if values.get("disabled"):  # refused at the next click anyway; ending the sessions says so in the store
        values["sessions_ended"] = sessions.end_all(engine, name, actor)
    audit.record(engine, actor, audit.USER_UPDATED, name, values, address)
    user = get_user(engine, name)
    assert user is not None
    return user


def set_password(
    engine: Engine, username: str, password: str, must_change: bool, actor: str, address: str | None = None
) -> None:
    """Replace a password without checking the old one (an admin's reset, scripts); ends the user's sessions.

    A reset usually answers a suspected compromise, so every browser logged in as the user
    must log in again with the new password.
    """
    name = normalise(username)
    with engine.begin() as connection:
        changed = connection.execute(
            users.update()
            .where(users.c.username == name)
            .values(password_hash=hash_password(password), must_change_password=must_change, updated_ms=now_ms())
        ).rowcount
    if not changed:
        raise UserError(f"no user {name!r}")
    ended = sessions.end_all(engine, name, actor)
    action = audit.PASSWORD_CHANGED if actor == name else audit.USER_PASSWORD_RESET
    audit.record(engine, actor, action, name, {"must_change": must_change, "sessions_ended": ended}, address)


def store_password_hash(engine: Engine, username: str, password_hash: str, address: str | None = None) -> None:
    """Save a bcrypt hash made elsewhere (scripts, tests); clears must-change and ends the user's sessions.

    Forms never call this: a person changing their password goes through :func:`change_password`,
    which checks the current password under the lock-out.
    """
    if not password_hash.startswith("$2"):
        raise UserError("not a bcrypt hash")
    name = normalise(username)
    with engine.begin() as connection:
        connection.execute(
            users.update()
            .where(users.c.username == name)
            .values(password_hash=password_hash, must_change_password=False, updated_ms=now_ms())
        )
    ended = sessions.end_all(engine, name, name)
    audit.record(engine, name, audit.PASSWORD_CHANGED, name, {"sessions_ended": ended}, address)


def check_password(engine: Engine, username: str, password: str) -> bool:
    """True when ``password`` is ``username``'s current one (no lock-out bookkeeping)."""
    with engine.connect() as connection:
        digest = connection.execute(
            sa.select(users.c.password_hash).where(users.c.username == normalise(username))
        ).scalar()
    candidate = password.encode()[:MAX_PASSWORD_BYTES]
    return bcrypt.checkpw(candidate, digest.encode() if digest else _dummy_hash()) and digest is not None


def lockout_delay_s(failures: int, free_attempts: int, max_delay_s: float) -> float:
    """Seconds a name stays locked after its ``failures``-th consecutive failure."""
    return lockout.delay_s(failures, free_attempts, max_delay_s)


def locked_for_s(engine: Engine, username: str, now: int | None = None) -> float:
    """Seconds until ``username`` may try again (0 when not locked)."""
    return lockout.locked_for_s(engine, lockout.key_for(engine, normalise(username)[:64]), now)


def _guarded_check(
    engine: Engine,
    name: str,
    password: str,
    address: str | None,
    via: str,
    free_attempts: int,
    max_delay_s: float,
    now: int,
) -> tuple[User | None, LoginResult | None]:
    """Check ``password`` for ``name`` only if the lock-out grants an attempt; the one path every form takes.

    Returns the user when the password is right (and the count cleared), else the refusal to
    give back. The attempt is counted before bcrypt runs (:func:`core.auth.lockout.claim`), so
    parallel requests cannot get more than ``free_attempts`` guesses past an unlocked name.
    """
    user = get_user(engine, name) if name else None
    key = name if user is not None else lockout.key_for(engine, name)
    attempt = lockout.claim(engine, key, now, free_attempts, max_delay_s)
    actor = name or "?"
    if not attempt.granted:
        detail = {"retry_after_s": round(attempt.delay_s, 1), "via": via}
        audit.record(engine, actor, audit.LOGIN_LOCKED, name, detail, address, now)
        return None, LoginResult(None, "locked", attempt.delay_s)
    correct = check_password(engine, name, password)
    if user is not None and correct and not user.disabled:
        lockout.clear(engine, key)
        return user, None
    reason = "disabled" if user is not None and correct else "invalid"
    detail = {"reason": reason, "locked_s": attempt.delay_s, "via": via}
    audit.record(engine, actor, audit.LOGIN_FAILED, name, detail, address, now)
    lockout.prune(engine, now)
    return None, LoginResult(None, reason, attempt.delay_s)


def authenticate(
    engine: Engine,
    username: str,
    password: str,
    address: str | None = None,
    *,
    free_attempts: int = 3,
    max_delay_s: float = 900.0,
    now: int | None = None,
) -> LoginResult:
    """Check a login, honouring and extending the lock-out; every outcome is audited."""
    name, now = normalise(username)[:64], now_ms() if now is None else now
    user, refused = _guarded_check(engine, name, password, address, "login", free_attempts, max_delay_s, now)
    if user is None:
        assert refused is not None
        return refused
    audit.record(engine, name, audit.LOGIN, name, {}, address, now)
    return LoginResult(user)


def change_problem(new_password: str, repeat: str) -> str | None:
    """Why a new password typed twice cannot be taken (checked before the current one is even looked at)."""
    if new_password != repeat:
        return "The new passwords do not match."
    return password_problem(new_password)


def change_password(
    engine: Engine,
    username: str,
    current: str,
    new_password: str,
    address: str | None = None,
    *,
    free_attempts: int = 3,
    max_delay_s: float = 900.0,
    now: int | None = None,
) -> LoginResult:
    """The owner's password change: the current password is checked under the same lock-out as a login.

    Without that, the change-password form of a logged-in browser (or of a stolen session)
    would be an unthrottled oracle for the password. On success the new hash is stored,
    must-change is cleared and every session of the user is ended (the caller starts a new
    one for the browser that made the change); a weak new password raises :class:`UserError`
    before anything is counted.
    """
    problem = password_problem(new_password)
    if problem:
        raise UserError(problem)
    name, now = normalise(username)[:64], now_ms() if now is None else now
    user, refused = _guarded_check(engine, name, current, address, "change_password", free_attempts, max_delay_s, now)
    if user is None:
        assert refused is not None
        return refused
    digest = hash_password(new_password)
    with engine.begin() as connection:
        connection.execute(
            users.update()
            .where(users.c.username == name)
            .values(password_hash=digest, must_change_password=False, updated_ms=now)
        )
    ended = sessions.end_all(engine, name, name, now)
    audit.record(engine, name, audit.PASSWORD_CHANGED, name, {"sessions_ended": ended}, address, now)
    refreshed = get_user(engine, name)
    return LoginResult(refreshed)


def session_user(engine: Engine, secret: str | None, *, idle_s: float, now: int | None = None) -> User | None:
    """The user a live session belongs to, if that user still exists and is enabled; else None.

    What every page run asks (core.ui.login): the session row must be live (not revoked,
    idle or past its absolute end) and the account usable, so revoking either logs the
    browser out at its next click.
    """
    session = sessions.check(engine, secret, idle_s=idle_s, now=now)
    if session is None:
        return None
    user = get_user(engine, session.username)
    return None if user is None or user.disabled else user


def end_sessions(engine: Engine, username: str, actor: str, address: str | None = None) -> int:
    """An administrator's "End sessions": every browser logged in as ``username`` must log in again."""
    name = normalise(username)
    ended = sessions.end_all(engine, name, actor)
    audit.record(engine, actor, audit.SESSIONS_ENDED, name, {"sessions_ended": ended}, address)
    return ended


def ensure_first_admin(engine: Engine, data_dir: Path) -> str | None:
    """On an empty users table create ``admin`` with a random password; return it, else None.

    The password is logged once and written to ``data_dir/admin-password.txt`` (mode
    0600); the first login must replace it. With several replicas starting at once,
    only the one whose insert wins creates the user and the file.
    """
    if count_users(engine):
        return None
    password = random_password()
    try:
        create_user(engine, FIRST_ADMIN, password, ["admin"], "Administrator", must_change_password=True)
    except UserError:
        return None
    path = data_dir / FIRST_PASSWORD_FILE
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as handle:
        handle.write(password + "\n")
    os.chmod(path, 0o600)
    log.warning(
        "First run: created user %r with password %s (also in %s, mode 0600). "
        "Log in and choose a new password; this one works until then.",
        FIRST_ADMIN,
        password,
        path,
    )
    return password


def forget_first_password(data_dir: Path) -> None:
    """Delete the first-run password file once it no longer works."""
    (data_dir / FIRST_PASSWORD_FILE).unlink(missing_ok=True)


def credentials(engine: Engine) -> dict[str, dict[str, dict[str, object]]]:
    """Enabled users in streamlit-authenticator's ``credentials`` shape (bcrypt hashes)."""
    with engine.connect() as connection:
        rows = connection.execute(sa.select(users).where(users.c.disabled == sa.false())).all()
    return {
        "usernames": {
            row.username: {
                "name": row.display_name,
                "email": row.email,
                "password": row.password_hash,
                "roles": list(row.roles),
            }
            for row in rows
        }
    }


def users_frame(engine: Engine, idle_s: float | None = None) -> pl.DataFrame:
    """Users as a table for the admin page (no hashes); with ``idle_s``, their live sessions too.

    ``sessions`` (how many browsers are logged in) and ``last_seen`` tell an administrator whom
    "End sessions" would log out.
    """
    rows = [
        {
            "username": u.username,
            "name": u.display_name,
            "email": u.email,
            "roles": ", ".join(u.roles),
            "disabled": u.disabled,
            "must_change_password": u.must_change_password,
            "created_ms": u.created_ms,
            "updated_ms": u.updated_ms,
        }
        for u in list_users(engine)
    ]
    schema = {
        "username": pl.String,
        "name": pl.String,
        "email": pl.String,
        "roles": pl.String,
        "disabled": pl.Boolean,
        "must_change_password": pl.Boolean,
        "created_ms": pl.Int64,
        "updated_ms": pl.Int64,
    }
    frame = pl.DataFrame(rows, schema=schema)
    frame = frame.with_columns(
        [
            pl.from_epoch(c, time_unit="ms").dt.replace_time_zone("UTC").alias(c.removesuffix("_ms"))
            for c in ("created_ms", "updated_ms")
        ]
    ).drop("created_ms", "updated_ms")
    if idle_s is None:
        return frame
    live = sessions.active_frame(engine, idle_s=idle_s)
    return frame.join(live, on="username", how="left").with_columns(pl.col("sessions").fill_null(0))
