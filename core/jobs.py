"""A small scheduler for periodic background work: collectors, rollups, alert evaluation.

Each job runs on its own daemon thread at its own interval, so a slow job never delays
another. A job that raises is logged, counted and retried with exponential backoff
(capped), and never stops the scheduler. Jobs marked ``singleton`` take a lease row in
the store first, so with several app replicas on one Postgres only one runs them.
"""

from __future__ import annotations

import logging
import os
import socket
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field

import sqlalchemy as sa
from sqlalchemy.engine import Engine

from core import selfmetrics
from core.model import now_ms
from core.store import schema

log = logging.getLogger(__name__)

MAX_BACKOFF_S = 300.0
OWNER = f"{socket.gethostname()}:{os.getpid()}"


@dataclass
class JobStatus:
    """What the scheduler knows about one job, shown on /api/v1/ready and the Admin page."""

    name: str
    interval_s: float
    runs: int = 0
    errors: int = 0
    consecutive_errors: int = 0
    last_run_ms: int | None = None
    last_duration_s: float | None = None
    last_error: str | None = None
    skipped_not_leader: int = 0

    def as_dict(self) -> dict[str, object]:
        """JSON form."""
        return dict(self.__dict__)


@dataclass
class _Job:
    name: str
    interval_s: float
    run: Callable[[], object]
    singleton: bool
    status: JobStatus = field(init=False)

    def __post_init__(self) -> None:
        self.status = JobStatus(self.name, self.interval_s)


def take_lease(engine: Engine, job: str, ttl_ms: int, owner: str = OWNER) -> bool:
    """True if this process holds (or just took) the lease for ``job`` for ``ttl_ms``."""
    now = now_ms()
    table = schema.job_leases
    with engine.begin() as connection:
        updated = connection.execute(
            table.update()
            .where(table.c.job == job)
            .where(sa.or_(table.c.owner == owner, table.c.expires_ms < now))
            .values(owner=owner, expires_ms=now + ttl_ms)
        ).rowcount
        if updated:
            return True
        try:
            with connection.begin_nested():
                connection.execute(table.insert().values(job=job, owner=owner, expires_ms=now + ttl_ms))
            return True
        except sa.exc.IntegrityError:
            return False


class Scheduler:
    """Runs registered jobs periodically until :meth:`stop`."""

    def __init__(self, engine: Engine | None = None) -> None:
        self._engine = engine
        self._jobs: dict[str, _Job] = {}
        self._threads: list[threading.Thread] = []
        self._stop = threading.Event()

    def add(self, name: str, interval_s: float, run: Callable[[], object], *, singleton: bool = False) -> None:
        """Register ``run`` to be called every ``interval_s`` seconds once started."""
        if name in self._jobs:
            raise ValueError(f"job {name!r} is already registered")
        if interval_s <= 0:
            raise ValueError(f"job {name!r}: interval must be positive, got {interval_s}")
        if singleton and self._engine is None:
            raise ValueError(f"job {name!r}: a singleton job needs the store for its lease")
        self._jobs[name] = _Job(name, interval_s, run, singleton)

    @property
    def running(self) -> bool:
        """True while every job thread is alive."""
        return bool(self._threads) and all(t.is_alive() for t in self._threads) and not self._stop.is_set()

    def status(self) -> dict[str, JobStatus]:
        """Per-job run counts, errors and timings."""
        return {name: job.status for name, job in self._jobs.items()}

    def run_once(self, name: str) -> bool:
        """Run one job now in the caller's thread; returns False if it (or taking its lease) raised."""
        job = self._jobs[name]
        status = job.status
        if job.singleton and self._engine is not None:
            ttl = int(max(job.interval_s * 3, 30) * 1000)
            try:
                leader = take_lease(self._engine, name, ttl)
            except Exception as error:  # noqa: BLE001 — the store is out or refuses writes: retry later, keep the thread
                self._failed(name, status, error)
                return False
            if not leader:
                status.skipped_not_leader += 1
                return True
        started = time.perf_counter()
        try:
            job.run()
        except Exception as error:  # noqa: BLE001 — a job must never take the scheduler down
            self._failed(name, status, error)
            return False
        finally:
            status.runs += 1
            status.last_run_ms = now_ms()
            status.last_duration_s = time.perf_counter() - started
            selfmetrics.JOB_SECONDS.labels(name).observe(status.last_duration_s)
        status.consecutive_errors = 0
        return True

    @staticmethod
    def _failed(name: str, status: JobStatus, error: Exception) -> None:
        status.errors += 1
        status.consecutive_errors += 1
        status.last_error = f"{type(error).__name__}: {error}"
        selfmetrics.JOB_ERRORS.labels(name).inc()
        log.exception("job %s failed (%d in a row)", name, status.consecutive_errors)

    def _loop(self, job: _Job) -> None:
        while not self._stop.is_set():
            ok = self.run_once(job.name)
            delay = job.interval_s if ok else min(job.interval_s * 2**job.status.consecutive_errors, MAX_BACKOFF_S)
            self._stop.wait(delay)

    def start(self) -> None:
        """Start one daemon thread per job."""
        self._stop.clear()
        self._threads = [
            threading.Thread(target=self._loop, args=(job,), name=f"job-{job.name}", daemon=True)
            for job in self._jobs.values()
        ]
        for thread in self._threads:
            thread.start()

    def stop(self, timeout_s: float = 10.0) -> None:
        """Ask every job to stop and wait for the current runs to finish."""
        self._stop.set()
        deadline = time.monotonic() + timeout_s
        for thread in self._threads:
            thread.join(max(0.0, deadline - time.monotonic()))
        self._threads = []
