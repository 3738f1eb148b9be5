"""Lock-out after failed password checks, counted atomically in the store.

Every check of a password against a stored hash — the login form and the change-password
form alike — first *claims* an attempt with :func:`claim`: one conditional UPDATE adds
the attempt to the name's count, but only while the name is not locked, and the same
transaction sets the lock the new count earns. Only a claimed attempt may check the
password. Counting before checking is what makes it hold under concurrency: twenty
requests racing for one name are serialised on its row (a row lock on Postgres, the
write lock on SQLite), and once the claim that reaches ``free_attempts`` has committed
every later one finds the name locked. Checking first and counting afterwards, as before,
let N parallel guesses through before the first failure was written. A success
:func:`clear`\\ s the count.

Names that belong to no user share :data:`UNKNOWN_BUCKETS` rows (``?00`` … ``?ff``,
chosen by a hash of the name; ``?`` cannot start a username), so a spray of random names
adds at most that many rows; each still locks after the same number of misses. Rows
whose lock has run out and which saw no failure for :data:`MEMORY_MS` are pruned after
each failure, so the table holds recent trouble only: at most one row per user plus the
buckets.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass

import sqlalchemy as sa
from sqlalchemy.engine import Engine

from core.model import now_ms
from core.store.schema import login_failures, users

UNKNOWN_BUCKETS = 256
# A name's failures are forgotten a day after the last one (once unlocked). Waiting a day
# earns a guesser three fresh attempts, far fewer than the ~100 a day the cap allows.
MEMORY_MS = 86_400_000
KEY_LENGTH = 64  # login_failures.username


@dataclass(frozen=True)
class Attempt:
    """The answer to :func:`claim`: whether the password may be checked, and the lock that follows."""

    granted: bool
    # granted: seconds the name is locked from now on should this attempt fail (0 within the
    # free attempts); refused: seconds until the name may try again.
    delay_s: float
    count: int = 0


def delay_s(failures: int, free_attempts: int, max_delay_s: float) -> float:
    """Seconds a name stays locked after its ``failures``-th consecutive failure."""
    if failures < free_attempts:
        return 0.0
    return float(min(2 ** (failures - free_attempts + 1), max_delay_s))


def key_for(engine: Engine, name: str) -> str:
    """The ``login_failures`` row counting ``name``: the name of a user, else its bucket of unknown names."""
    with engine.connect() as connection:
        known = name and connection.execute(sa.select(users.c.username).where(users.c.username == name)).first()
    if known:
        return name[:KEY_LENGTH]
    bucket = int.from_bytes(hashlib.sha256(name.encode()).digest()[:2], "big") % UNKNOWN_BUCKETS
    return f"?{bucket:02x}"


def claim(engine: Engine, key: str, now: int, free_attempts: int, max_delay_s: float) -> Attempt:
    """Count one attempt for ``key`` unless it is locked; granted attempts may check a password.

    The attempt is counted as a failure up front and the lock it earns is set in the same
    transaction, so concurrent claims cannot all see the name unlocked; :func:`clear` undoes
    the count when the password turns out right.
    """
    where = login_failures.c.username == key
    for _ in range(3):  # another request may insert the row between our update and insert
        with engine.begin() as connection:
            claimed = connection.execute(
                login_failures.update()
                .where(where, login_failures.c.locked_until_ms <= now)
                .values(count=login_failures.c.count + 1, last_failure_ms=now)
            ).rowcount
            if claimed:  # the row is ours (locked) until commit: read the new count, set its lock
                count = int(connection.execute(sa.select(login_failures.c.count).where(where)).scalar_one())
                delay = delay_s(count, free_attempts, max_delay_s)
                connection.execute(login_failures.update().where(where).values(locked_until_ms=now + int(delay * 1000)))
                return Attempt(True, delay, count)
            until = connection.execute(sa.select(login_failures.c.locked_until_ms).where(where)).scalar()
            if until is not None:
                return Attempt(False, max(0.0, (until - now) / 1000))
            delay = delay_s(1, free_attempts, max_delay_s)
            try:
                with connection.begin_nested():
                    connection.execute(
                        login_failures.insert().values(
                            username=key, count=1, last_failure_ms=now, locked_until_ms=now + int(delay * 1000)
                        )
                    )
            except sa.exc.IntegrityError:
                continue
            return Attempt(True, delay, 1)
    raise RuntimeError(f"could not count a login attempt for {key!r}")  # pragma: no cover - three lost races


def clear(engine: Engine, key: str) -> None:
    """Forget ``key``'s failures: its password was right."""
    with engine.begin() as connection:
        connection.execute(login_failures.delete().where(login_failures.c.username == key))


def locked_for_s(engine: Engine, key: str, now: int | None = None) -> float:
    """Seconds until ``key`` may try again (0 when not locked)."""
    now = now_ms() if now is None else now
    with engine.connect() as connection:
        until = connection.execute(
            sa.select(login_failures.c.locked_until_ms).where(login_failures.c.username == key)
        ).scalar()
    return max(0.0, (until - now) / 1000) if until else 0.0


def prune(engine: Engine, now: int) -> int:
    """Delete rows whose lock has run out and whose last failure is older than :data:`MEMORY_MS`."""
    with engine.begin() as connection:
        stale = sa.and_(login_failures.c.last_failure_ms < now - MEMORY_MS, login_failures.c.locked_until_ms <= now)
        return int(connection.execute(login_failures.delete().where(stale)).rowcount)
