"""The scheduler outlives a store that refuses writes: a refused lease is a job error, not a dead thread."""

from __future__ import annotations

import threading

import sqlalchemy as sa

from core.jobs import Scheduler
from tests.store_faults import refusing_writes


def test_a_lease_the_store_refuses_is_a_job_error_and_the_job_runs_once_writes_are_back(engine) -> None:
    ran = threading.Event()
    reader = refusing_writes(engine)
    try:
        with reader.begin() as connection:
            connection.execute(sa.text("SELECT 1"))  # reads work
        refused = Scheduler(reader)
        refused.add("rollup", 60, ran.set, singleton=True)
        assert refused.run_once("rollup") is False  # no exception escapes: the loop would have died with it
        status = refused.status()["rollup"]
        assert status.consecutive_errors == 1 and "readonly" in status.last_error.lower().replace("-", "")
        assert not ran.is_set()
    finally:
        reader.dispose()
    scheduler = Scheduler(engine)
    scheduler.add("rollup", 60, ran.set, singleton=True)
    assert scheduler.run_once("rollup") is True and ran.is_set()


def test_the_job_thread_keeps_running_while_the_lease_fails(engine) -> None:
    reader = refusing_writes(engine)
    attempts = threading.Event()
    scheduler = Scheduler(reader)
    scheduler.add("alerts", 1, attempts.set, singleton=True)
    try:
        scheduler.start()
        status = scheduler.status()["alerts"]
        for _ in range(100):  # wait for the first failed attempt, not a fixed time
            if status.errors:
                break
            threading.Event().wait(0.05)
        assert status.errors >= 1
        assert scheduler.running  # the thread survived the refused lease
    finally:
        scheduler.stop()
        reader.dispose()
