"""A real server whose Postgres stops answering: JSON 202/503 within 2 s, and every batch stored once it is back.

The server reaches Postgres through a TCP relay on a port of its own (in this process); the
outage is that port closing — connections cut and new ones refused, exactly what a stopped
or unreachable database server looks like to a client — and the recovery is the port
opening again. One server (``streamlit run app.py``, login off as allowed on localhost, jobs
off) serves the module; its store URL carries a password that must never appear in an
answer. Rows are counted on the database directly, not through the relay.
"""

from __future__ import annotations

import contextlib
import socket
import threading
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
import sqlalchemy as sa

from tests.conftest import POSTGRES_ADMIN_URL
from tests.live import LiveServer, free_port, live_server

pytestmark = pytest.mark.server

CONTRACT_S = 2.0
MARGIN_S = 0.5
PASSWORD = "s3cret-not-for-clients"
TS = 1_767_225_600


class Relay:
    """A TCP relay from a local port to Postgres that can be closed (refusing connections) and opened again."""

    def __init__(self, target: tuple[str, int]) -> None:
        self.target, self.port = target, free_port()
        self._listener: socket.socket | None = None
        self._open: list[socket.socket] = []
        self._lock = threading.Lock()

    def start(self) -> None:
        listener = socket.socket()
        listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        listener.bind(("127.0.0.1", self.port))
        listener.listen(64)
        self._listener = listener
        threading.Thread(target=self._accept, args=(listener,), daemon=True).start()

    def stop(self) -> None:
        """Close the port and cut every relayed connection."""
        listener, self._listener = self._listener, None
        if listener is not None:
            with contextlib.suppress(OSError):
                listener.shutdown(socket.SHUT_RDWR)  # wakes the thread blocked in accept(); close() alone would not
            listener.close()
        with self._lock:
            sockets, self._open = self._open, []
        for sock in sockets:
            with contextlib.suppress(OSError):
                sock.shutdown(socket.SHUT_RDWR)
            sock.close()

    def _accept(self, listener: socket.socket) -> None:
        while True:
            try:
                client, _ = listener.accept()
            except OSError:
                return
            try:
                upstream = socket.create_connection(self.target, timeout=5)
            except OSError:
                client.close()
                continue
            with self._lock:
                self._open += [client, upstream]
            for source, sink in ((client, upstream), (upstream, client)):
                threading.Thread(target=self._pipe, args=(source, sink), daemon=True).start()

    @staticmethod
    def _pipe(source: socket.socket, sink: socket.socket) -> None:
        try:
            while data := source.recv(65536):
                sink.sendall(data)
        except OSError:
            pass
        finally:
            for sock in (source, sink):
                with contextlib.suppress(OSError):
                    sock.shutdown(socket.SHUT_RDWR)


@pytest.fixture(scope="module")
def setup(tmp_path_factory: pytest.TempPathFactory, request: pytest.FixtureRequest) -> Iterator[tuple]:
    request.getfixturevalue("postgres_url")  # skips (or fails in CI) when Postgres is unreachable
    admin_url = sa.engine.make_url(POSTGRES_ADMIN_URL)
    name = f"pulseboard_outage_{uuid.uuid4().hex[:8]}"
    admin = sa.create_engine(POSTGRES_ADMIN_URL, isolation_level="AUTOCOMMIT")
    with admin.connect() as connection:
        connection.exec_driver_sql(f'CREATE DATABASE "{name}"')
    relay = Relay((admin_url.host or "127.0.0.1", admin_url.port or 5432))
    relay.start()
    through_relay = admin_url.set(host="127.0.0.1", port=relay.port, database=name, password=PASSWORD)
    direct = sa.create_engine(admin_url.set(database=name))
    env = {
        "PULSEBOARD_DATABASE_URL": through_relay.render_as_string(hide_password=False),
        "PULSEBOARD_AUTH": "off",
        "PULSEBOARD_COLLECTORS": "false",
        "PULSEBOARD_SPOOL_RETRY_S": "0.2",
    }
    try:
        with live_server(tmp_path_factory.mktemp("outage_pg"), env=env) as running:
            yield running, relay, direct
    finally:
        relay.stop()
        direct.dispose()
        with admin.connect() as connection:
            connection.exec_driver_sql(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        admin.dispose()


def post(live: LiveServer, path: str, body: object, **headers: str) -> tuple[httpx.Response, float]:
    started = time.perf_counter()
    reply = httpx.post(f"{live.url}{path}", json=body, headers=headers, timeout=30)
    return reply, time.perf_counter() - started


def stored(direct: sa.Engine, name: str) -> int:
    query = sa.text("SELECT count(*) FROM samples JOIN series ON series.id = samples.series_id WHERE series.name = :n")
    with direct.connect() as connection:
        return int(connection.execute(query, {"n": name}).scalar_one())


def gauge(live: LiveServer, name: str) -> float:
    for line in httpx.get(f"{live.url}/metrics", timeout=10).text.splitlines():
        if line.startswith(f"{name} "):
            return float(line.split()[1])
    raise AssertionError(f"{name} not exposed")


def wait_for(condition, timeout_s: float = 30.0) -> None:
    deadline = time.monotonic() + timeout_s
    while not condition():
        assert time.monotonic() < deadline, "condition not met in time"
        time.sleep(0.05)


def samples(name: str, count: int, *, timestamped: bool = True) -> list[dict]:
    return [
        {"name": name, "labels": {"n": str(i)}, "value": i, **({"timestamp": TS + i} if timestamped else {})}
        for i in range(count)
    ]


def test_stopped_database_gets_fast_json_answers_and_every_batch_once_it_is_back(setup) -> None:
    live, relay, direct = setup
    name, keyed = f"pgdown_{uuid.uuid4().hex[:6]}", f"pgkey_{uuid.uuid4().hex[:6]}"
    warm, _ = post(live, "/api/v1/metrics", samples(f"pgwarm_{uuid.uuid4().hex[:6]}", 1))
    assert warm.status_code == 200, warm.text
    key = {"Idempotency-Key": str(uuid.uuid4())}
    report = b'<testsuite name="s" tests="1"><testcase classname="c" name="t" time="0.1"/></testsuite>'
    relay.stop()
    try:
        answers = []
        for body, extra in (
            (samples(name, 5), {}),
            (samples(name, 5), {}),  # a client's retry: recognised, not spooled twice
            (samples(keyed, 2, timestamped=False), key),
            (samples(keyed, 2, timestamped=False), key),
        ):
            reply, elapsed = post(live, "/api/v1/metrics", body, **extra)
            assert reply.status_code == 202 and elapsed < CONTRACT_S + MARGIN_S, (reply.text, elapsed)
            assert reply.json()["condition"] == "unreachable" and "Connection refused" in reply.json()["detail"]
            answers.append(reply)
        assert [a.json()["duplicate"] for a in answers] == [False, True, False, True]

        started = time.perf_counter()
        junit = httpx.post(
            f"{live.url}/api/v1/junit?suite=s", content=report, headers={"Content-Type": "application/xml"}
        )
        assert junit.status_code == 503 and time.perf_counter() - started < CONTRACT_S + MARGIN_S, junit.text
        assert int(junit.headers["Retry-After"]) >= 1 and junit.json()["condition"] == "unreachable"

        started = time.perf_counter()
        ready = httpx.get(f"{live.url}/api/v1/ready", timeout=30)
        assert ready.status_code == 503 and time.perf_counter() - started < CONTRACT_S + MARGIN_S
        assert ready.json()["checks"]["database"]["ok"] is False

        for reply in (*answers, junit, ready):
            assert PASSWORD not in reply.text and "Traceback" not in reply.text
        assert gauge(live, "pulseboard_store_up") == 0.0 and gauge(live, "pulseboard_api_spool_batches") == 2.0
    finally:
        relay.start()
    wait_for(lambda: gauge(live, "pulseboard_api_spool_batches") == 0.0)
    assert (stored(direct, name), stored(direct, keyed)) == (5, 2)
    assert gauge(live, "pulseboard_store_up") == 1.0
    junit = httpx.post(f"{live.url}/api/v1/junit?suite=s", content=report, headers={"Content-Type": "application/xml"})
    assert junit.status_code == 201, junit.text
    assert PASSWORD not in (Path(live.log_path).read_text())
