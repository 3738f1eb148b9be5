"""A small scheduler for periodic background work: collectors, rollups, alert evaluation.

Each job runs on its own daemon thread at its own interval, so a slow job never delays
another. A job that raises is logged, counted and retried with exponential backoff
(capped), and never stops the scheduler. Jobs marked ``singleton`` take a lease row in
the store first, so with several app replicas on one Postgres only one runs them.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field

from sqlalchemy.engine import Engine

from core import selfmetrics
from core.model import now_ms
from core.store.leases import (
    OWNER,
    LeaseLost,
    holding,
    lease_of,
    release_lease,
    renew_lease,
    start_run,
    take_lease,
)
from core.store.leases import finish_run as _finish_run

log = logging.getLogger(__name__)

MAX_BACKOFF_S = 300.0
__all__ = ["OWNER", "JobStatus", "Scheduler", "take_lease"]


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
    singleton: bool = False
    lease_token: int | None = None  # the fencing token while this replica holds the job's lease
    lease_lost: int = 0  # runs cut short because the lease moved to another replica

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
        self.status = JobStatus(self.name, self.interval_s, singleton=self.singleton)


class Scheduler:
    """Runs registered jobs periodically until :meth:`stop`."""

    def __init__(self, engine: Engine | None = None, lease_s: float = 30.0, owner: str = OWNER) -> None:
        self._engine = engine
        self.owner = owner  # this replica's name in job_leases and job_runs: host:pid
        self._lease_ms = int(lease_s * 1000)
        self._jobs: dict[str, _Job] = {}
        self._threads: list[threading.Thread] = []
        self._stop = threading.Event()
        self._held: dict[str, int] = {}  # job -> fencing token of the lease this process holds
        self._lock = threading.Lock()

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
    def leases(self) -> bool:
        """Whether this scheduler can run singleton jobs (it has a store to hold their leases in)."""
        return self._engine is not None

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
        if not job.singleton:
            return self._run(job, None)
        ok, token = self._take(job)
        if token is None:
            return ok
        return self._run(job, token)

    def _take(self, job: _Job) -> tuple[bool, int | None]:
        """Whether the store answered, and the job's lease token (None when another replica holds it)."""
        assert self._engine is not None
        try:
            token = take_lease(self._engine, job.name, self._lease_ms, self.owner)
        except Exception as error:  # noqa: BLE001 — the store is out or refuses writes: retry later, keep the thread
            self._failed(job.name, job.status, error)
            return False, None
        with self._lock:
            if token is None:
                self._held.pop(job.name, None)
                job.status.skipped_not_leader += 1
            else:
                self._held[job.name] = token
            job.status.lease_token = token
        return True, token

    def _run(self, job: _Job, token: int | None) -> bool:
        status = job.status
        started = time.perf_counter()
        run_id, error_text = None, None
        try:
            if token is None:
                job.run()
            else:
                assert self._engine is not None
                run_id = start_run(self._engine, job.name, token, self.owner)
                with holding(job.name, token, self.owner):
                    job.run()
        except LeaseLost as lost:  # another replica has the job now: not a failure of the job
            error_text = str(lost)
            self._lost(job, token)
            log.warning("job %s stopped: %s", job.name, lost)
            return True
        except Exception as error:  # noqa: BLE001 — a job must never take the scheduler down
            error_text = f"{type(error).__name__}: {error}"
            self._failed(job.name, status, error)
            return False
        finally:
            status.runs += 1
            status.last_run_ms = now_ms()
            status.last_duration_s = time.perf_counter() - started
            selfmetrics.JOB_SECONDS.labels(job.name).observe(status.last_duration_s)
            if run_id is not None:
                self._finish_run(run_id, job.name, error_text)
        status.consecutive_errors = 0
        return True

    def _finish_run(self, run_id: int, name: str, error: str | None) -> None:
        assert self._engine is not None
        try:
            _finish_run(self._engine, run_id, name, error)
        except Exception:
            log.warning("job %s: could not log the end of run %s", name, run_id, exc_info=True)

    def _lost(self, job: _Job, token: int | None) -> None:
        with self._lock:
            if token is not None and self._held.get(job.name) == token:
                del self._held[job.name]
            job.status.lease_token = None
            job.status.lease_lost += 1

    @staticmethod
    def _failed(name: str, status: JobStatus, error: Exception) -> None:
        status.errors += 1
        status.consecutive_errors += 1
        status.last_error = f"{type(error).__name__}: {error}"
        selfmetrics.JOB_ERRORS.labels(name).inc()
        log.exception("job %s failed (%d in a row)", name, status.consecutive_errors)

    def _step(self, job: _Job) -> float:
        """Do what is due for ``job`` now; returns the seconds until its next step."""
        if not job.singleton:
            return self._delay(job, self._run(job, None))
        held_before = self._held.get(job.name)
        ok, token = self._take(job)
        if not ok:
            return self._delay(job, False)
        if token is None:  # another replica runs it: try again the moment its lease would end
            return self._until_expiry(job)
        if held_before != token:  # just taken over: run once the interval since the last owner's run has passed
            lease = lease_of(self._engine, job.name) if self._engine is not None else None
            wait_ms = (lease.last_run_ms or 0) + job.interval_s * 1000 - now_ms() if lease else 0
            if wait_ms > 0:
                return float(wait_ms) / 1000
        return self._delay(job, self._run(job, token))

    def _until_expiry(self, job: _Job) -> float:
        try:
            lease = lease_of(self._engine, job.name) if self._engine is not None else None
        except Exception:  # noqa: BLE001 — the store is out: try at the next interval
            return job.interval_s
        if lease is None:
            return 0.05
        return max(0.05, min(job.interval_s, (lease.expires_ms - now_ms() + 20) / 1000))

    @staticmethod
    def _delay(job: _Job, ok: bool) -> float:
        return job.interval_s if ok else min(job.interval_s * 2**job.status.consecutive_errors, MAX_BACKOFF_S)

    def _loop(self, job: _Job) -> None:
        while not self._stop.is_set():
            self._stop.wait(self._step(job))

    def _heartbeat(self) -> None:
        """Renew every lease this process holds a third of a lease apart, also while its job runs long."""
        assert self._engine is not None
        while not self._stop.wait(self._lease_ms / 3000):
            with self._lock:
                held = dict(self._held)
            for name, token in held.items():
                try:
                    kept = renew_lease(self._engine, name, token, self._lease_ms, self.owner)
                except Exception:
                    log.warning("job %s: could not renew its lease", name, exc_info=True)
                    continue
                if not kept:
                    self._lost(self._jobs[name], token)
                    log.warning("job %s: its lease moved to another replica", name)

    def start(self) -> None:
        """Start one daemon thread per job, and one renewing the leases of singleton jobs."""
        self._stop.clear()
        self._threads = [
            threading.Thread(target=self._loop, args=(job,), name=f"job-{job.name}", daemon=True)
            for job in self._jobs.values()
        ]
        if any(job.singleton for job in self._jobs.values()):
            self._threads.append(threading.Thread(target=self._heartbeat, name="job-leases", daemon=True))
        for thread in self._threads:
            thread.start()

    def stop(self, timeout_s: float = 10.0) -> None:
        """Ask every job to stop, wait for the current runs to finish, and hand the leases back."""
        self._stop.set()
        deadline = time.monotonic() + timeout_s
        for thread in self._threads:
            thread.join(max(0.0, deadline - time.monotonic()))
        self._threads = []
        with self._lock:
            held, self._held = dict(self._held), {}
        if self._engine is None:
            return
        for name, token in held.items():
            try:
                release_lease(self._engine, name, token, self.owner)
            except Exception:
                log.warning("job %s: could not hand its lease back", name, exc_info=True)
