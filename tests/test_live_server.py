"""The real app, started as `make run` starts it, answering real HTTP requests."""

from __future__ import annotations

import signal
import subprocess
import time
import uuid

import httpx
import pytest
import sqlalchemy as sa

from core.store.engine import make_engine
from tests.live import live_server

pytestmark = pytest.mark.server


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    with live_server(tmp_path_factory.mktemp("live"), env={"PULSEBOARD_COLLECTORS": "false"}) as running:
        yield running
    assert "Pulseboard stopped" in running.log(), running.log()


def test_json_and_prometheus_batches_are_stored_and_counted(server):
    name = f"live_{uuid.uuid4().hex[:8]}"
    json_reply = httpx.post(
        f"{server.url}/api/v1/metrics",
        json=[{"name": name, "labels": {"via": "json"}, "value": 41}],
        headers=server.headers,
    )
    assert json_reply.status_code == 200 and json_reply.json()["samples_written"] == 1
    text = f'# TYPE {name}_total counter\n{name}_total{{via="prom"}} 7\n'
    prom_reply = httpx.post(
        f"{server.url}/api/v1/metrics",
        content=text,
        headers={**server.headers, "Content-Type": "text/plain; version=0.0.4"},
    )
    assert prom_reply.status_code == 200 and prom_reply.json()["samples_written"] == 1
    exposition = httpx.get(f"{server.url}/metrics").text
    assert 'pulseboard_ingest_items_total{kind="sample",origin="api"}' in exposition
    pools = {
        line.split('"')[1]: float(line.rsplit(" ", 1)[1])
        for line in exposition.splitlines()
        if line.startswith("pulseboard_memory_bytes{")
    }
    # the server's memory by pool: the C heap and Arrow's pool are parts of its RSS
    assert set(pools) == {"rss", "glibc_in_use", "glibc_free", "arrow", "query_cache"}
    assert pools["rss"] > max(pools["glibc_in_use"], pools["arrow"]) > 0


def test_bad_batch_gets_422_with_reasons(server):
    reply = httpx.post(
        f"{server.url}/api/v1/metrics",
        json=[{"name": "ok", "value": 1}, {"name": "x y", "value": 1}],
        headers=server.headers,
    )
    assert reply.status_code == 422
    assert reply.json()["problems"][0]["index"] == 1


def test_ready_reports_database_and_migrations(server):
    reply = httpx.get(f"{server.url}/api/v1/ready", headers=server.headers)  # the checks need a read token
    assert reply.status_code == 200, reply.text
    checks = reply.json()["checks"]
    assert checks["database"]["ok"] and checks["migrations"]["current"] == checks["migrations"]["head"]


def test_openapi_document_is_served(server):
    spec = httpx.get(f"{server.url}/api/openapi.json").json()
    assert "/v1/metrics" in spec["paths"] and spec["info"]["title"] == "Pulseboard API"


def test_ui_is_served(server):
    page = httpx.get(server.url + "/")
    assert page.status_code == 200 and '<div id="root">' in page.text.replace("'", '"')


def _stored_samples(engine: sa.engine.Engine, name: str) -> int:
    query = sa.text("SELECT count(*) FROM samples x JOIN series s ON s.id = x.series_id WHERE s.name = :name")
    with engine.connect() as connection:
        return int(connection.execute(query, {"name": name}).scalar_one())


def test_collectors_run_in_the_lifespan_and_stop_cleanly_on_sigterm(tmp_path):
    env = {
        "PULSEBOARD_COLLECTORS": "true",
        "PULSEBOARD_DEMO": "0",
        "PULSEBOARD_SYSTEM_INTERVAL_S": "1",
        "PULSEBOARD_INBOX_DIR": str(tmp_path / "inbox"),
    }
    with live_server(tmp_path, env=env) as running:
        reply = httpx.get(f"{running.url}/api/v1/ready", headers=running.headers, timeout=10)
        assert reply.status_code == 200, reply.text
        collectors = reply.json()["checks"]["collectors"]
        assert collectors["ok"] is True and {"collector:system", "collector:files"} <= set(collectors["jobs"])

        # A rate needs two readings, so system_cpu_percent proves at least two real runs of the system collector.
        store = make_engine(f"sqlite:///{tmp_path / 'pulseboard.db'}")
        try:
            deadline = time.monotonic() + 60
            while _stored_samples(store, "system_cpu_percent") == 0:
                assert time.monotonic() < deadline, f"no system_cpu_percent stored within 60 s:\n{running.log()}"
                assert running.process.poll() is None, running.log()
                time.sleep(0.5)
            assert _stored_samples(store, "system_memory_used_bytes") > 0
        finally:
            store.dispose()

        running.process.send_signal(signal.SIGTERM)
        try:
            code = running.process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            pytest.fail(f"server still running 30 s after SIGTERM:\n{running.log()}")
        # uvicorn shuts down gracefully, then re-raises the SIGTERM it caught (systemd counts that as a clean exit),
        # so "clean" is: the lifespan's shutdown ran, nothing raised, and the status is 0 or that signal.
        assert code in (0, -signal.SIGTERM), running.log()
        assert "Pulseboard stopped" in running.log() and "Traceback" not in running.log(), running.log()
