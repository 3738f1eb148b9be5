"""Hostile inputs against a real server (``streamlit run app.py``), one server for the module.

What the unit tests check through the parsers, here through HTTP with a token as a client
would send it: a deeply nested JUnit report, non-finite numbers in JSON and Prometheus text.
Each gets a 4xx naming the problem (never a 500), nothing is stored, and the server keeps answering.
"""

from __future__ import annotations

import httpx
import pytest

from core.ingest.junit import MAX_DEPTH
from tests.live import live_server

pytestmark = pytest.mark.server


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    with live_server(tmp_path_factory.mktemp("hardening"), env={"PULSEBOARD_COLLECTORS": "false"}) as running:
        yield running


def post(server, path: str, body: bytes, content_type: str) -> httpx.Response:
    headers = {**server.headers, "Content-Type": content_type}
    return httpx.post(f"{server.url}/api{path}", content=body, headers=headers, timeout=60)


def test_deeply_nested_junit_is_refused_naming_the_limit(server):
    depth = 50_000
    body = b"<testsuites>" + b'<testsuite name="s">' * depth + b"</testsuite>" * depth + b"</testsuites>"
    response = post(server, "/v1/junit?suite=deep", body, "application/xml")
    assert response.status_code == 400, response.text
    assert f"more than {MAX_DEPTH} levels deep" in response.json()["error"]
    fine = b'<testsuite name="ok"><testcase name="a"/></testsuite>'
    assert post(server, "/v1/junit?suite=ok", fine, "application/xml").status_code == 201  # still serving


def test_nan_in_a_json_batch_is_refused_naming_the_item(server):
    body = b"[" + b", ".join(b'{"name": "m", "value": %s}' % v for v in (b"1", b"2", b"3", b"NaN")) + b"]"
    response = post(server, "/v1/metrics", body, "application/json")
    assert response.status_code == 422, response.text
    assert [(p["index"], p["field"]) for p in response.json()["problems"]] == [(3, "value")]
    assert response.json()["error"] == "batch rejected; nothing was stored"


def test_infinity_in_prometheus_text_is_refused_naming_the_line(server):
    response = post(server, "/v1/metrics", b"a 1\nb +Inf\nc 3\n", "text/plain; version=0.0.4")
    assert response.status_code == 400, response.text
    assert [(p["kind"], p["index"]) for p in response.json()["problems"]] == [("line", 2)]
