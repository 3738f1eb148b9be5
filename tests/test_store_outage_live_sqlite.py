"""A real server whose SQLite store is locked or read-only: JSON 202/503 within 2 s, nothing lost, nothing twice.

The outages are real: another connection holds ``BEGIN EXCLUSIVE`` on the file (as a backup
or a sqlite3 shell would), or the file is made read-only through the file system — chmod
for an ordinary user; as root, whom mode bits do not stop, the immutable attribute
(``chattr +i``), which refuses root as well. One server (``streamlit run app.py``, jobs off so
nothing else writes) serves the whole module with the default ``api_store_timeout_s`` (1 s):
the two-second answer is the contract under test, measured with perf_counter around each
request. Rows are counted with a separate connection to the same file.
"""

from __future__ import annotations

import contextlib
import sqlite3
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.live import LiveServer, live_server
from tests.store_faults import unwritable

pytestmark = pytest.mark.server

CONTRACT_S = 2.0
MARGIN_S = 0.5  # scheduling noise of a loaded test machine; the contract itself is CONTRACT_S
SPOOL_MAX = 64 * 1024  # small, so one large batch can meet a full spool
TS = 1_767_225_600  # 2026-01-01 00:00 UTC, in seconds as the API takes it


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[LiveServer, Path, str]]:
    tmp = tmp_path_factory.mktemp("outage_sqlite")
    fresh: list[str] = []

    def second_token(engine) -> None:  # a token that has never been used (no last-used stamp yet)
        from core.auth.tokens import create_token

        fresh.append(create_token(engine, "never-used", ["ingest"], "tests")[1])

    env = {
        "PULSEBOARD_COLLECTORS": "false",
        "PULSEBOARD_SPOOL_RETRY_S": "0.2",  # replay soon after the store is back, so the test waits less
        "PULSEBOARD_API_SPOOL_MAX_BYTES": str(SPOOL_MAX),
    }
    with live_server(tmp, env=env, prepare=second_token) as running:
        yield running, tmp / "pulseboard.db", fresh[0]


def samples(name: str, count: int = 3, *, timestamped: bool = True, value: float = 1.0) -> list[dict]:
    return [
        {"name": name, "labels": {"n": str(i)}, "value": value, **({"timestamp": TS + i} if timestamped else {})}
        for i in range(count)
    ]


def post(live: LiveServer, path: str, body: object, **headers: str) -> tuple[httpx.Response, float]:
    started = time.perf_counter()
    reply = httpx.post(f"{live.url}{path}", json=body, headers={**live.headers, **headers}, timeout=30)
    return reply, time.perf_counter() - started


def stored(db: Path, name: str) -> int:
    """Samples of metric ``name`` in the file, read by a connection of our own (WAL: reads pass a writer's lock)."""
    with contextlib.closing(sqlite3.connect(f"file:{db}?mode=ro", uri=True)) as connection:
        query = "SELECT count(*) FROM samples JOIN series ON series.id = samples.series_id WHERE series.name = ?"
        return int(connection.execute(query, (name,)).fetchone()[0])


def events(db: Path, prefix: str) -> int:
    with contextlib.closing(sqlite3.connect(f"file:{db}?mode=ro", uri=True)) as connection:
        return int(connection.execute("SELECT count(*) FROM events WHERE id LIKE ?", (f"{prefix}%",)).fetchone()[0])


def wait_for(condition, timeout_s: float = 30.0) -> None:
    """Poll ``condition`` until true (the replay thread runs every spool_retry_s)."""
    deadline = time.monotonic() + timeout_s
    while not condition():
        assert time.monotonic() < deadline, "condition not met in time"
        time.sleep(0.05)


def gauge(live: LiveServer, name: str) -> float:
    for line in httpx.get(f"{live.url}/metrics", timeout=10).text.splitlines():
        if line.startswith(f"{name} "):
            return float(line.split()[1])
    raise AssertionError(f"{name} not exposed")


@contextlib.contextmanager
def locked(db: Path) -> Iterator[None]:
    """Another connection holds the write lock on the file until the block ends."""
    holder = sqlite3.connect(str(db), isolation_level=None)
    holder.execute("BEGIN EXCLUSIVE")
    try:
        yield
    finally:
        holder.execute("ROLLBACK")
        holder.close()


def assert_accepted(reply: httpx.Response, elapsed: float, condition: str) -> dict:
    assert reply.status_code == 202, reply.text
    assert elapsed < CONTRACT_S + MARGIN_S, f"202 after {elapsed:.2f} s"
    body = reply.json()
    assert body["accepted"] is True and body["stored"] is False and body["condition"] == condition, body
    return body


def test_locked_store_accepts_within_two_seconds_and_replays_each_batch_once(server) -> None:
    live, db, _ = server
    name, other = f"locked_{uuid.uuid4().hex[:6]}", f"queued_{uuid.uuid4().hex[:6]}"
    warm, _ = post(live, "/api/v1/metrics", samples(f"warm_{uuid.uuid4().hex[:6]}", 1))
    assert warm.status_code == 200, warm.text  # the token is verified (and its last use stamped) before the outage
    batch = {"samples": samples(name)}
    event = [{"id": f"{name}-e1", "type": "system.test", "timestamp": TS, "source": "tests", "data": {}}]
    spooled_before = gauge(live, "pulseboard_api_spool_batches")
    with locked(db):
        first, elapsed = post(live, "/api/v1/metrics", batch)
        body = assert_accepted(first, elapsed, "locked")
        assert body["samples_accepted"] == 3 and "locked" in body["detail"] and body["idempotency_key"]
        assert "Traceback" not in first.text and "SELECT" not in first.text
        retry, elapsed = post(live, "/api/v1/metrics", batch)  # the client did not see the 202 and sends it again
        assert assert_accepted(retry, elapsed, "locked")["duplicate"] is True
        queued, elapsed = post(live, "/api/v1/metrics", samples(other, 2))
        assert_accepted(queued, elapsed, "locked")
        sent, elapsed = post(live, "/api/v1/events", event)
        assert_accepted(sent, elapsed, "locked")
        assert (stored(db, name), stored(db, other), events(db, name)) == (0, 0, 0)
        assert gauge(live, "pulseboard_store_up") == 0.0
        assert gauge(live, "pulseboard_api_spool_batches") == spooled_before + 3  # the retry was not spooled again
    wait_for(lambda: gauge(live, "pulseboard_api_spool_batches") == 0.0)
    assert (stored(db, name), stored(db, other), events(db, name)) == (3, 2, 1)
    assert gauge(live, "pulseboard_store_up") == 1.0
    again, _ = post(live, "/api/v1/metrics", batch)  # a late retry after the replay: timestamps make it a no-op
    assert again.status_code == 200 and stored(db, name) == 3


def test_idempotency_key_makes_a_retry_of_an_untimestamped_batch_safe(server) -> None:
    live, db, _ = server
    name = f"nots_{uuid.uuid4().hex[:6]}"
    key = {"Idempotency-Key": f"push-{uuid.uuid4()}"}
    with locked(db):
        first, elapsed = post(live, "/api/v1/metrics", samples(name, 2, timestamped=False), **key)
        assert_accepted(first, elapsed, "locked")
        retry, elapsed = post(live, "/api/v1/metrics", samples(name, 2, timestamped=False), **key)
        assert retry.status_code == 202 and elapsed < CONTRACT_S + MARGIN_S
        assert retry.json()["duplicate"] is True and retry.headers["Idempotent-Replayed"] == "true"
    wait_for(lambda: stored(db, name) >= 2)
    late, _ = post(live, "/api/v1/metrics", samples(name, 2, timestamped=False), **key)
    assert late.status_code == 202 and late.json()["duplicate"] is True
    assert stored(db, name) == 2, "two readings, stamped once on receipt; the retries stored nothing"
    other, _ = post(live, "/api/v1/metrics", samples(name, 1, timestamped=False, value=9.0), **key)
    assert other.status_code == 409 and "Idempotency-Key" in other.json()["error"]

    direct_key = {"Idempotency-Key": f"push-{uuid.uuid4()}"}
    direct, _ = post(live, "/api/v1/metrics", samples(name, 1, timestamped=False, value=5.0), **direct_key)
    assert direct.status_code == 200, direct.text
    repeat, _ = post(live, "/api/v1/metrics", samples(name, 1, timestamped=False, value=5.0), **direct_key)
    assert repeat.status_code == 200 and repeat.json()["duplicate"] is True
    assert stored(db, name) == 3


def test_read_only_store_accepts_and_replays_once_writable_again(server) -> None:
    live, db, _ = server
    name = f"ro_{uuid.uuid4().hex[:6]}"
    with unwritable(db):
        reply, elapsed = post(live, "/api/v1/metrics", samples(name, 4))
        body = assert_accepted(reply, elapsed, "read_only")
        assert "read-only" in body["detail"]
        assert stored(db, name) == 0
    wait_for(lambda: stored(db, name) == 4)
    wait_for(lambda: gauge(live, "pulseboard_api_spool_batches") == 0.0)
    assert stored(db, name) == 4


def test_full_spool_and_unspoolable_requests_get_503_with_retry_after(server) -> None:
    live, db, fresh = server
    name = f"big_{uuid.uuid4().hex[:6]}"
    report = b'<testsuite name="s" tests="1"><testcase classname="c" name="t" time="0.1"/></testsuite>'
    with locked(db):
        big, elapsed = post(live, "/api/v1/metrics", samples(name, 2_000))  # larger than the whole API spool
        junit_started = time.perf_counter()
        junit = httpx.post(
            f"{live.url}/api/v1/junit?suite={name}",
            content=report,
            headers={**live.headers, "Content-Type": "application/xml"},
            timeout=30,
        )
        junit_elapsed = time.perf_counter() - junit_started
        unverified, unverified_elapsed = post(
            live, "/api/v1/metrics", samples(name, 1), Authorization=f"Bearer {fresh}"
        )
    for reply, took in ((big, elapsed), (junit, junit_elapsed), (unverified, unverified_elapsed)):
        assert reply.status_code == 503, reply.text
        assert took < CONTRACT_S + MARGIN_S, f"503 after {took:.2f} s"
        assert int(reply.headers["Retry-After"]) >= 1
        body = reply.json()
        assert body["error"].startswith("store unavailable") and body["condition"] == "locked", body
        assert "Nothing was stored" in body["detail"] and "Traceback" not in reply.text
    assert "spool is full" in big.json()["detail"] and "PULSEBOARD_API_SPOOL_MAX_BYTES" in big.json()["detail"]
    assert "token cannot be checked" in unverified.json()["detail"]
    wait_for(lambda: gauge(live, "pulseboard_api_spool_batches") == 0.0)  # whatever was accepted is stored now
    assert stored(db, name) == 0, "a refused batch never appears later"
