"""The real app, started as `make run` starts it, answering real HTTP requests."""

from __future__ import annotations

import uuid

import httpx
import pytest

from tests.live import live_server

pytestmark = pytest.mark.server


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    with live_server(tmp_path_factory.mktemp("live"), env={"PULSEBOARD_COLLECTORS": "false"}) as running:
        yield running
    assert "Pulseboard stopped" in running.log(), running.log()


def test_json_and_prometheus_batches_are_stored_and_counted(server):
    name = f"live_{uuid.uuid4().hex[:8]}"
    json_reply = httpx.post(f"{server.url}/api/v1/metrics", json=[{"name": name, "labels": {"via": "json"}, "value": 41}],
                            headers=server.headers)
    assert json_reply.status_code == 200 and json_reply.json()["samples_written"] == 1
    text = f'# TYPE {name}_total counter\n{name}_total{{via="prom"}} 7\n'
    prom_reply = httpx.post(f"{server.url}/api/v1/metrics", content=text,
                            headers={**server.headers, "Content-Type": "text/plain; version=0.0.4"})
    assert prom_reply.status_code == 200 and prom_reply.json()["samples_written"] == 1
    exposition = httpx.get(f"{server.url}/metrics").text
    assert 'pulseboard_ingest_items_total{kind="sample",origin="api"}' in exposition


def test_bad_batch_gets_422_with_reasons(server):
    reply = httpx.post(f"{server.url}/api/v1/metrics", json=[{"name": "ok", "value": 1}, {"name": "x y", "value": 1}],
                       headers=server.headers)
    assert reply.status_code == 422
    assert reply.json()["problems"][0]["index"] == 1


def test_ready_reports_database_and_migrations(server):
    reply = httpx.get(f"{server.url}/api/v1/ready")
    assert reply.status_code == 200, reply.text
    checks = reply.json()["checks"]
    assert checks["database"]["ok"] and checks["migrations"]["current"] == checks["migrations"]["head"]


def test_openapi_document_is_served(server):
    spec = httpx.get(f"{server.url}/api/openapi.json").json()
    assert "/v1/metrics" in spec["paths"] and spec["info"]["title"] == "Pulseboard API"


def test_ui_is_served(server):
    page = httpx.get(server.url + "/")
    assert page.status_code == 200 and "<div id=\"root\">" in page.text.replace("'", '"')
