"""Job leases with fencing tokens, so a store-wide job runs on one replica at a time and a stale one cannot write.

A singleton job's lease is one ``job_leases`` row: the owner (``host:pid``), when it
expires, and a token that grows by one each time another replica takes the job over. A
replica that was paused or cut off past its lease may still be running the job when the
next owner starts; its writes that must not happen twice (alert states, notifications, a
report run) call :func:`fence` inside their transaction, which locks the lease row and
refuses with :class:`LeaseLost` unless the token is still the one the run started with. On
Postgres the row lock also orders the two: a takeover waits for the fenced commit, so every
write of token N lands before token N+1 begins. Each run is also logged in ``job_runs``
(owner, token, start, end, error) for operators and for the replica tests.
"""

from __future__ import annotations

import contextlib
import os
import socket
from collections.abc import Iterator
from contextvars import ContextVar
from dataclasses import dataclass

import sqlalchemy as sa
from sqlalchemy.engine import Connection, Engine

from core.model import now_ms
from core.store import schema

OWNER = f"{socket.gethostname()}:{os.getpid()}"
RUNS_KEEP_MS = 7 * 86_400_000  # job_runs history kept per job, pruned as runs finish


class LeaseLost(RuntimeError):
    """The job's lease moved to another replica while this run was going: its writes are refused."""


@dataclass(frozen=True)
class Lease:
    """One job's lease row, as :func:`leases` shows it."""

    job: str
    owner: str
    token: int
    expires_ms: int
    last_run_ms: int | None


_current: ContextVar[tuple[str, int, str] | None] = ContextVar("pulseboard_lease", default=None)


def take_lease(engine: Engine, job: str, ttl_ms: int, owner: str = OWNER) -> int | None:
    """The fencing token if this process holds (renewed) or just took the lease of ``job`` for ``ttl_ms``; else None.

    A renewal keeps the token; taking over an expired lease of another owner adds one.
    """
    now = now_ms()
    table = schema.job_leases
    with engine.begin() as connection:
        token = connection.execute(
            table.update()
            .where(table.c.job == job)
            .where(sa.or_(table.c.owner == owner, table.c.expires_ms < now))
            .values(
                owner=owner,
                expires_ms=now + ttl_ms,
                token=sa.case((table.c.owner == owner, table.c.token), else_=table.c.token + 1),
            )
            .returning(table.c.token)
        ).scalar()
        if token is not None:
            return int(token)
        if connection.execute(sa.select(table.c.job).where(table.c.job == job)).first() is not None:
            return None  # held by another owner and not expired
        try:
            with connection.begin_nested():
                connection.execute(table.insert().values(job=job, owner=owner, expires_ms=now + ttl_ms, token=1))
            return 1
        except sa.exc.IntegrityError:
            return None


def renew_lease(engine: Engine, job: str, token: int, ttl_ms: int, owner: str = OWNER) -> bool:
    """Extend a lease this process holds with ``token``; False when it has moved on (then the job is not ours)."""
    table = schema.job_leases
    with engine.begin() as connection:
        return bool(
            connection.execute(
                table.update()
                .where(table.c.job == job, table.c.owner == owner, table.c.token == token)
                .values(expires_ms=now_ms() + ttl_ms)
            ).rowcount
        )


def release_lease(engine: Engine, job: str, token: int, owner: str = OWNER) -> None:
    """Let the lease expire now (a clean shutdown), so another replica takes the job at its next try."""
    table = schema.job_leases
    with engine.begin() as connection:
        connection.execute(
            table.update()
            .where(table.c.job == job, table.c.owner == owner, table.c.token == token)
            .values(expires_ms=0)
        )


def still_holds(connection: Connection, job: str, token: int, owner: str = OWNER) -> bool:
    """Whether ``token`` is still the lease of ``job``; locks the row (Postgres) until ``connection`` commits."""
    table = schema.job_leases
    row = connection.execute(
        sa.select(table.c.owner, table.c.token).where(table.c.job == job).with_for_update()
    ).first()
    return row is not None and row.owner == owner and int(row.token) == token


@contextlib.contextmanager
def holding(job: str, token: int, owner: str = OWNER) -> Iterator[None]:
    """Mark the code inside as a run of ``job`` under ``token``: :func:`fence` checks against it."""
    mark = _current.set((job, token, owner))
    try:
        yield
    finally:
        _current.reset(mark)


def _require(connection: Connection, job: str, token: int, owner: str) -> None:
    if not still_holds(connection, job, token, owner):
        raise LeaseLost(f"job {job}: lease token {token} of {owner} is no longer current")


def fence(connection: Connection) -> None:
    """Refuse this transaction with :class:`LeaseLost` if it runs in a job whose lease moved to another replica.

    Outside a leased run (a test, a single replica's API call) there is nothing to check.
    """
    current = _current.get()
    if current is None:
        return
    job, token, owner = current
    _require(connection, job, token, owner)


def start_run(engine: Engine, job: str, token: int, owner: str = OWNER) -> int:
    """Log the start of a run (fenced: a run whose lease moved on does not start); returns its ``job_runs`` id."""
    now = now_ms()
    with engine.begin() as connection:
        _require(connection, job, token, owner)
        connection.execute(schema.job_leases.update().where(schema.job_leases.c.job == job).values(last_run_ms=now))
        key = connection.execute(
            schema.job_runs.insert().values(job=job, owner=owner, token=token, started_ms=now)
        ).inserted_primary_key
    return int(key[0]) if key else 0


def finish_run(engine: Engine, run_id: int, job: str, error: str | None) -> None:
    """Log the end of a run, and forget runs of the job older than a week."""
    now = now_ms()
    runs = schema.job_runs
    with engine.begin() as connection:
        connection.execute(runs.update().where(runs.c.id == run_id).values(finished_ms=now, error=error))
        connection.execute(schema.job_leases.update().where(schema.job_leases.c.job == job).values(last_error=error))
        connection.execute(runs.delete().where(runs.c.job == job, runs.c.started_ms < now - RUNS_KEEP_MS))


def lease_of(engine: Engine, job: str) -> Lease | None:
    """The lease row of ``job``, if any replica ever took it."""
    return next((lease for lease in leases(engine) if lease.job == job), None)


def leases(engine: Engine) -> list[Lease]:
    """Every job's lease: which replica holds it, with which token, until when."""
    table = schema.job_leases
    with engine.connect() as connection:
        rows = connection.execute(
            sa.select(table.c.job, table.c.owner, table.c.token, table.c.expires_ms, table.c.last_run_ms).order_by(
                table.c.job
            )
        ).all()
    return [Lease(r.job, r.owner, int(r.token), int(r.expires_ms), r.last_run_ms) for r in rows]
