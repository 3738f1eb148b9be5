"""Two app replicas on one Postgres: each store-wide job runs once per interval, and a killed holder's jobs move over.

Two real servers (``streamlit run app.py``) share a fresh Postgres database with short job
intervals and a 3 s job lease. The first to start holds every job's lease; the other is
refused and waits. An alert rule fires over data the test writes, and a webhook on a real
HTTP server must hear about it exactly once. Then the holder is killed with SIGKILL (no
clean hand-back): within one lease period the survivor holds every job, under a token one
higher, evaluates on without a lost cycle, does not notify the still-firing alert again,
and notifies its resolution exactly once. ``job_runs`` (owner, token, start, end of each
run) shows that no two runs of a job overlapped or came closer than its interval.

The timing bounds (takeover within the lease, no evaluation gap beyond it) are the
behaviour under test, not a speed figure; each allows ``SLACK_MS`` for thread wake-ups on a
loaded two-core machine.
"""

from __future__ import annotations

import itertools
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import ExitStack
from pathlib import Path
from typing import Any

import httpx
import pytest
import sqlalchemy as sa
from sqlalchemy.engine import Engine

from core.alerts import store
from core.alerts.objects import Channel, channels, delete_channel, save_channel
from core.alerts.rules import parse_rule
from core.ingest.writer import write_batch
from core.model import Sample, now_ms
from core.store import schema
from core.store.engine import make_engine
from core.store.migrate import upgrade
from tests.alert_support import Receiver, http_receiver
from tests.conftest import POSTGRES_ADMIN_URL
from tests.live import LiveServer, live_server

pytestmark = pytest.mark.server

LEASE_S = 3.0
SLACK_MS = 1_500
INTERVALS = {
    "alerts": 1.0,
    "rollup": 1.0,
    "recording": 5.0,
    "sla_check": 5.0,
    "forecasts": 5.0,
    "retention": 10.0,
    "insights": 10.0,
    "reports": 60.0,
}
DB_INTERVAL_S = 5.0
METRIC = "replica_probe_depth"


@pytest.fixture
def database(request: pytest.FixtureRequest) -> Iterator[tuple[str, Engine]]:
    """A fresh, migrated Postgres database of this test's own (dropped after), and an engine on it."""
    request.getfixturevalue("postgres_url")  # skips (or fails in CI) when Postgres is unreachable
    name = f"pulseboard_replicas_{uuid.uuid4().hex[:8]}"
    admin = sa.create_engine(POSTGRES_ADMIN_URL, isolation_level="AUTOCOMMIT")
    with admin.connect() as connection:
        connection.exec_driver_sql(f'CREATE DATABASE "{name}"')
    url = sa.engine.make_url(POSTGRES_ADMIN_URL).set(database=name).render_as_string(hide_password=False)
    engine = make_engine(url)
    try:
        upgrade(engine)
        yield url, engine
    finally:
        engine.dispose()
        with admin.connect() as connection:
            connection.exec_driver_sql(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        admin.dispose()


def wait_for(condition: Callable[[], Any], what: str, timeout_s: float = 30.0) -> Any:
    deadline = time.monotonic() + timeout_s
    while not (result := condition()):
        assert time.monotonic() < deadline, f"{what}: not within {timeout_s} s"
        time.sleep(0.05)
    return result


def write_values(engine: Engine, value: float, from_ms: int) -> None:
    """The probe reads ``value`` from ``from_ms`` on (one point a second for two minutes); later points replaced."""
    with engine.begin() as connection:
        ids = sa.select(schema.series.c.id).where(schema.series.c.name == METRIC).scalar_subquery()
        connection.execute(
            schema.samples.delete().where(schema.samples.c.series_id.in_(ids), schema.samples.c.ts >= from_ms)
        )
    write_batch(engine, [Sample.of(METRIC, {"queue": "dor"}, value, from_ms + i * 1000) for i in range(120)], [])


def leases(engine: Engine) -> dict[str, tuple[str, int]]:
    table = schema.job_leases
    with engine.connect() as connection:
        return {r.job: (r.owner, int(r.token)) for r in connection.execute(sa.select(table))}


def job_runs(engine: Engine) -> dict[str, list[sa.Row]]:
    table = schema.job_runs
    with engine.connect() as connection:
        rows = connection.execute(sa.select(table).order_by(table.c.started_ms, table.c.id)).all()
    runs: dict[str, list[sa.Row]] = {}
    for row in rows:
        runs.setdefault(row.job, []).append(row)
    return runs


def notifications(engine: Engine) -> list[str]:
    with engine.connect() as connection:
        return list(connection.scalars(sa.select(schema.notifications.c.notice).order_by(schema.notifications.c.id)))


def job_status(server: LiveServer, job: str) -> dict[str, Any]:
    ready = httpx.get(f"{server.url}/api/v1/ready", timeout=10).json()
    return ready["checks"]["collectors"]["jobs"][job]  # type: ignore[no-any-return]


def firing_notices(hook: Receiver) -> list[str]:
    return [str(body["status"]) for body in hook.bodies]


def assert_once_per_interval(runs: dict[str, list[sa.Row]], intervals: dict[str, float]) -> None:
    """No two runs of a job overlap, none comes sooner than its interval, and each token has one owner."""
    for job, rows in runs.items():
        owners: dict[int, str] = {}
        for row in rows:
            assert owners.setdefault(int(row.token), row.owner) == row.owner, (job, row)
        for earlier, later in itertools.pairwise(rows):
            assert later.token >= earlier.token, (job, earlier, later)
            if earlier.finished_ms is not None:
                assert later.started_ms >= earlier.finished_ms, f"{job}: runs overlap: {earlier} {later}"
            assert later.started_ms - earlier.started_ms >= intervals[job] * 1000 - 100, f"{job}: {earlier} {later}"


def test_two_replicas_run_each_job_once_and_a_killed_holder_hands_over_within_one_lease(
    database: tuple[str, Engine], tmp_path: Path
) -> None:
    url, engine = database
    # store-wide jobs and the one shared collector here (the database watch of the store itself, collectors.base)
    jobs = INTERVALS | {f"collector:database:postgresql:{engine.url.database}": DB_INTERVAL_S}
    (tmp_path / "none.yaml").write_text("rules: []\n")
    env = {
        "PULSEBOARD_DATABASE_URL": url,
        "PULSEBOARD_AUTH": "off",
        "PULSEBOARD_JOB_LEASE_S": str(LEASE_S),
        "PULSEBOARD_ALERT_EVAL_INTERVAL_S": str(INTERVALS["alerts"]),
        "PULSEBOARD_ROLLUP_INTERVAL_S": str(INTERVALS["rollup"]),
        "PULSEBOARD_RECORDING_INTERVAL_S": str(INTERVALS["recording"]),
        "PULSEBOARD_SLA_CHECK_INTERVAL_S": str(INTERVALS["sla_check"]),
        "PULSEBOARD_FORECAST_INTERVAL_S": str(INTERVALS["forecasts"]),
        "PULSEBOARD_RETENTION_INTERVAL_S": str(INTERVALS["retention"]),
        "PULSEBOARD_INSIGHTS_INTERVAL_S": str(INTERVALS["insights"]),
        "PULSEBOARD_DB_INTERVAL_S": str(DB_INTERVAL_S),
        "PULSEBOARD_ALERT_RULES_FILE": str(tmp_path / "none.yaml"),
        "PULSEBOARD_ALERT_RESOLVE_WAIT_S": "0",
        "PULSEBOARD_QUERY_CACHE_TTL_S": "0",
    }
    rule = {"name": "replica_probe", "selector": METRIC, "agg": "last", "window": "10s", "threshold": 15, "for": "0s"}
    with http_receiver() as hook, ExitStack() as stack:
        for channel in channels(engine):
            delete_channel(engine, channel.name, "tester")
        save_channel(engine, Channel("hook", "webhook-generic", {"url": hook.url}, ("warning", "critical")), "tester")
        store.save_rule(engine, parse_rule(rule | {"channels": ["hook"]}), "tester")
        write_values(engine, 20.0, now_ms() - 2_000)

        first = stack.enter_context(live_server(tmp_path / "a", env=env))
        wait_for(lambda: set(jobs) <= set(leases(engine)), "the first replica takes every job")
        second = stack.enter_context(live_server(tmp_path / "b", env=env))
        servers = {first.process.pid: first, second.process.pid: second}

        # Both up: the second is refused the jobs, and the alert is notified once.
        wait_for(lambda: job_status(second, "alerts")["skipped_not_leader"] >= 3, "the second replica tries the jobs")
        wait_for(lambda: firing_notices(hook), "the firing alert is notified")
        holder_owner, token = leases(engine)["alerts"]
        holder = servers[int(holder_owner.rsplit(":", 1)[1])]
        survivor = second if holder is first else first
        wait_for(lambda: job_status(survivor, "alerts")["skipped_not_leader"] >= 3, "the survivor keeps trying")
        assert firing_notices(hook) == ["firing"] and notifications(engine) == ["firing"]
        held = {job for job, (owner, _) in leases(engine).items() if owner == holder_owner}
        assert held == set(jobs)  # one replica runs the lot; the other has run nothing
        assert {row.owner for rows in job_runs(engine).values() for row in rows} == {holder_owner}

        # The holder dies without handing anything back.
        holder.process.kill()
        killed_ms = now_ms()
        holder.process.wait()
        survivor_owner = wait_for(
            lambda: next((o for o, _ in leases(engine).values() if o != holder_owner), None), "a takeover"
        )
        wait_for(
            lambda: all(owner == survivor_owner for owner, _ in leases(engine).values()),
            "the survivor takes every job",
            timeout_s=LEASE_S + 10,
        )
        taken_ms = now_ms() - killed_ms
        assert taken_ms <= LEASE_S * 1000 + SLACK_MS, f"jobs moved {taken_ms} ms after the kill"
        assert leases(engine)["alerts"] == (survivor_owner, token + 1)

        # Evaluation goes on: no lost cycle beyond the lease, the firing alert not told again, its end told once.
        wait_for(lambda: len([r for r in job_runs(engine)["alerts"] if r.owner == survivor_owner]) >= 3, "evaluations")
        alerts_runs = job_runs(engine)["alerts"]
        last_dead = max(r.started_ms for r in alerts_runs if r.owner == holder_owner)
        first_new = min(r.started_ms for r in alerts_runs if r.owner == survivor_owner)
        assert first_new - killed_ms <= LEASE_S * 1000 + SLACK_MS
        assert first_new - last_dead <= (LEASE_S + INTERVALS["alerts"]) * 1000 + SLACK_MS
        for earlier, later in itertools.pairwise(alerts_runs):
            if earlier.owner == later.owner:
                assert later.started_ms - (earlier.finished_ms or earlier.started_ms) <= 1000 + SLACK_MS
        assert firing_notices(hook) == ["firing"]
        write_values(engine, 5.0, now_ms())
        wait_for(lambda: len(hook.bodies) >= 2, "the resolution is notified")
        settled = len([r for r in job_runs(engine)["alerts"] if r.owner == survivor_owner]) + 3
        wait_for(lambda: len([r for r in job_runs(engine)["alerts"] if r.owner == survivor_owner]) >= settled, "more")
        assert firing_notices(hook) == ["firing", "resolved"]
        assert notifications(engine) == ["firing", "resolved"]
        assert_once_per_interval(job_runs(engine), jobs)
        assert job_status(survivor, "alerts")["lease_token"] == token + 1
        shown = httpx.get(f"{survivor.url}/api/v1/ready", timeout=10).json()["checks"]["collectors"]
        assert shown["replica"] == survivor_owner
        assert {job: (lease["owner"], lease["mine"]) for job, lease in shown["leases"].items()} == {
            job: (survivor_owner, True) for job in jobs
        }
