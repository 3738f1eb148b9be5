"""Job leases with fencing tokens on SQLite and Postgres: one owner at a time, a token per owner, stale writes refused.

Two replicas are two owners on one store; a replica that lost its lease (expired, taken
over) keeps running in these tests exactly as a paused process would, and must not change
alert states, queue a notification or send one.
"""

from __future__ import annotations

from pathlib import Path

import pytest
import sqlalchemy as sa
from sqlalchemy.engine import Engine

from core.alerts import store
from core.alerts.deliver import claim, deliver_due, queue
from core.alerts.engine import evaluate_all
from core.alerts.notify import Message
from core.alerts.objects import Channel, channels, delete_channel, save_channel
from core.alerts.rules import parse_rule
from core.config import Settings
from core.jobs import Scheduler
from core.store import schema
from core.store.leases import (
    LeaseLost,
    fence,
    holding,
    lease_of,
    leases,
    release_lease,
    renew_lease,
    still_holds,
    take_lease,
)
from core.store.retention import run_retention
from core.store.rollup import run_rollup
from tests.alert_support import T0, alert_settings, feed, http_receiver

A, B = "host-a:1", "host-b:2"


def expire(engine: Engine, job: str) -> None:
    """What time does to a lease whose holder stopped renewing it."""
    with engine.begin() as connection:
        connection.execute(schema.job_leases.update().where(schema.job_leases.c.job == job).values(expires_ms=1))


def runs(engine: Engine, job: str) -> list[tuple[str, int]]:
    table = schema.job_runs
    with engine.connect() as connection:
        query = sa.select(table.c.owner, table.c.token).where(table.c.job == job).order_by(table.c.id)
        return [(r.owner, int(r.token)) for r in connection.execute(query)]


def test_one_owner_at_a_time_and_a_new_token_each_time_the_owner_changes(engine: Engine) -> None:
    assert take_lease(engine, "rollup", 60_000, A) == 1
    assert take_lease(engine, "rollup", 60_000, A) == 1  # a renewal keeps the token
    assert take_lease(engine, "rollup", 60_000, B) is None  # held and not expired
    assert renew_lease(engine, "rollup", 1, 60_000, A) is True
    expire(engine, "rollup")
    assert take_lease(engine, "rollup", 60_000, B) == 2  # taken over: the token grows
    assert take_lease(engine, "rollup", 60_000, A) is None
    assert renew_lease(engine, "rollup", 1, 60_000, A) is False  # the old owner learns it lost the job
    release_lease(engine, "rollup", 1, A)  # a stale release changes nothing
    assert take_lease(engine, "rollup", 60_000, A) is None
    release_lease(engine, "rollup", 2, B)  # a clean shutdown hands it over at once
    assert take_lease(engine, "rollup", 60_000, A) == 3
    assert [(lease.job, lease.owner, lease.token) for lease in leases(engine)] == [("rollup", A, 3)]


def test_an_expired_lease_nobody_took_keeps_its_token_for_the_same_owner(engine: Engine) -> None:
    assert take_lease(engine, "alerts", 60_000, A) == 1
    expire(engine, "alerts")
    assert take_lease(engine, "alerts", 60_000, A) == 1  # nobody else ran in between: nothing to fence


def test_a_write_fenced_with_a_stale_token_is_refused_and_rolled_back(engine: Engine) -> None:
    take_lease(engine, "alerts", 60_000, A)
    expire(engine, "alerts")
    take_lease(engine, "alerts", 60_000, B)
    with holding("alerts", 1, A), pytest.raises(LeaseLost), engine.begin() as connection:
        connection.execute(schema.collector_state.insert().values(collector="x", key="k", value={}, updated_ms=1))
        fence(connection)
    with holding("alerts", 2, B), engine.begin() as connection:
        fence(connection)  # the current holder writes
        assert still_holds(connection, "alerts", 2, B) and not still_holds(connection, "alerts", 1, A)
    with engine.connect() as connection:
        assert connection.execute(sa.select(sa.func.count()).select_from(schema.collector_state)).scalar() == 0
    with engine.begin() as connection:
        fence(connection)  # outside a leased run there is nothing to check


def count(engine: Engine, table: sa.Table) -> int:
    with engine.connect() as connection:
        return int(connection.execute(sa.select(sa.func.count()).select_from(table)).scalar() or 0)


def test_a_replica_that_lost_a_store_job_lease_writes_no_rollup_sample_or_retention_delete(
    engine: Engine, cfg: Settings
) -> None:
    feed(engine, "cpu", {"host": "a"}, [1.0, 2.0, 3.0], start=T0 - 3 * 86_400_000)  # older than raw retention
    for job in ("rollup", "recording", "retention"):
        take_lease(engine, job, 60_000, A)
        expire(engine, job)
        take_lease(engine, job, 60_000, B)
    with holding("rollup", 1, A), pytest.raises(LeaseLost):
        run_rollup(engine)
    assert count(engine, schema.samples_1m) == 0
    with holding("recording", 1, A), pytest.raises(LeaseLost):  # a recording rule writes through ingest
        feed(engine, "job:cpu:avg", {}, [2.0])
    assert count(engine, schema.samples) == 3
    with holding("rollup", 2, B):
        run_rollup(engine)
    assert count(engine, schema.samples_1m) > 0
    with holding("retention", 1, A), pytest.raises(LeaseLost):
        run_retention(engine, cfg, T0)
    assert count(engine, schema.samples) == 3
    with holding("retention", 2, B):
        assert run_retention(engine, cfg, T0).deleted["samples"] == 3


def test_two_schedulers_on_one_store_run_a_singleton_once_and_log_the_run(engine: Engine) -> None:
    ran: list[str] = []
    first, second = Scheduler(engine, owner=A), Scheduler(engine, owner=B)
    first.add("forecasts", 60, lambda: ran.append(A), singleton=True)
    second.add("forecasts", 60, lambda: ran.append(B), singleton=True)
    assert first.run_once("forecasts") and second.run_once("forecasts")
    assert ran == [A] and second.status()["forecasts"].skipped_not_leader == 1
    assert first.status()["forecasts"].lease_token == 1 and second.status()["forecasts"].lease_token is None
    expire(engine, "forecasts")
    assert second.run_once("forecasts") and ran == [A, B]
    assert runs(engine, "forecasts") == [(A, 1), (B, 2)]
    lease = lease_of(engine, "forecasts")
    assert lease is not None and lease.owner == B and lease.last_run_ms is not None
    with engine.connect() as connection:
        open_runs = connection.execute(
            sa.select(sa.func.count()).select_from(schema.job_runs).where(schema.job_runs.c.finished_ms.is_(None))
        ).scalar()
    assert open_runs == 0


def test_a_run_whose_lease_moves_on_midway_is_cut_short_without_an_error(engine: Engine) -> None:
    scheduler = Scheduler(engine, owner=A)

    def taken_over_while_running() -> None:
        expire(engine, "reports")
        assert take_lease(engine, "reports", 60_000, B) == 2
        with engine.begin() as connection:
            fence(connection)

    scheduler.add("reports", 60, taken_over_while_running, singleton=True)
    assert scheduler.run_once("reports") is True
    status = scheduler.status()["reports"]
    assert status.lease_lost == 1 and status.errors == 0 and status.lease_token is None
    with engine.connect() as connection:
        error = connection.execute(sa.select(schema.job_runs.c.error)).scalar()
    assert "no longer current" in error


@pytest.fixture
def cfg(engine: Engine, settings: Settings, tmp_path: Path) -> Settings:
    for channel in channels(engine):
        delete_channel(engine, channel.name, "tester")
    return alert_settings(settings, tmp_path)


def test_a_replica_that_lost_the_alerts_lease_changes_no_alert_and_sends_nothing(engine: Engine, cfg: Settings) -> None:
    feed(engine, "qms_queue_depth", {"queue": "dor"}, [20.0] * 3)
    rule = {"name": "q", "selector": "qms_queue_depth", "agg": "last", "window": "30s", "threshold": 15, "for": "0s"}
    store.save_rule(engine, parse_rule(rule), "tester")
    with http_receiver() as hook:
        save_channel(engine, Channel("hook", "webhook-generic", {"url": hook.url}, ("warning", "critical")), "tester")
        take_lease(engine, "alerts", 60_000, A)
        expire(engine, "alerts")
        take_lease(engine, "alerts", 60_000, B)
        with holding("alerts", 1, A), pytest.raises(LeaseLost):
            evaluate_all(engine, cfg, T0 + 1)
        with engine.connect() as connection:
            assert connection.execute(sa.select(sa.func.count()).select_from(schema.alerts)).scalar() == 0
            assert connection.execute(sa.select(sa.func.count()).select_from(schema.notifications)).scalar() == 0
        with holding("alerts", 2, B):
            evaluate_all(engine, cfg, T0 + 1)
        assert [b["status"] for b in hook.bodies] == ["firing"]


def test_a_pending_notification_is_claimed_by_one_sender_only(engine: Engine, cfg: Settings) -> None:
    with http_receiver() as hook:
        channel = Channel("hook", "webhook-generic", {"url": hook.url}, ("critical",))
        save_channel(engine, channel, "tester")
        key = queue(engine, channel, Message("firing", "g", "t", ()), T0)
        assert claim(engine, key, 0, T0) is True
        assert claim(engine, key, 0, T0) is False  # the other replica read the same row: it does not send
        assert deliver_due(engine, cfg, T0)["sent"] == 0  # claimed: not due again until the claim lapses
        assert hook.bodies == []
        key = queue(engine, channel, Message("firing", "g2", "t2", ()), T0)
        take_lease(engine, "alerts", 60_000, A)
        expire(engine, "alerts")
        take_lease(engine, "alerts", 60_000, B)
        with holding("alerts", 1, A), pytest.raises(LeaseLost):
            deliver_due(engine, cfg, T0)
        assert hook.bodies == []
        with holding("alerts", 2, B):
            assert deliver_due(engine, cfg, T0)["sent"] == 1
        assert len(hook.bodies) == 1


def test_a_scrape_target_is_scraped_by_one_replica_and_each_host_measures_itself(engine: Engine, cfg: Settings) -> None:
    from collectors.prometheus import PrometheusCollector
    from collectors.runner import schedule, store_sink
    from core.config import PrometheusTarget
    from core.model import Batch

    class HostCollector:  # a per-host collector: no ``shared`` attribute
        name, interval = "host", 60.0

        def collect(self) -> Batch:
            return Batch()

    target = PrometheusTarget(url="http://127.0.0.1:9/metrics", job="node", timeout_s=0.5)  # down: ``up`` 0 is data
    replicas = [Scheduler(engine, owner=owner) for owner in (A, B)]
    for scheduler in replicas:
        schedule(scheduler, [PrometheusCollector(target), HostCollector()], store_sink(cfg, engine), 60.0)
        assert scheduler.run_once("collector:prometheus:node:127.0.0.1:9") and scheduler.run_once("collector:host")
    scrape = [scheduler.status()["collector:prometheus:node:127.0.0.1:9"] for scheduler in replicas]
    assert [status.skipped_not_leader for status in scrape] == [0, 1]
    assert runs(engine, "collector:prometheus:node:127.0.0.1:9") == [(A, 1)]
    assert [scheduler.status()["collector:host"].runs for scheduler in replicas] == [1, 1]
