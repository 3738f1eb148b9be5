"""The read API on both backends (FastAPI against the real SQLite and Postgres store), and its wire helpers.

The live-server tests (test_api_read_live.py) cover every endpoint over HTTP on SQLite; these run
representative endpoints through the same app on Postgres too, and pin down the envelope, the
cursor, the ETag and the parameter parsers, fuzzed with hypothesis where they parse text.
"""

from __future__ import annotations

import math
from datetime import UTC, datetime

import polars as pl
import pytest
from fastapi.testclient import TestClient
from hypothesis import given
from hypothesis import strategies as st

from collectors.demo import DemoCollector
from core.api.caller import bad, parse_duration, parse_time
from core.api.envelope import ReadError, decode_cursor, encode_cursor, etag_of, page, plain
from core.api.routes import create_api
from core.auth.access import Viewer
from core.auth.tokens import create_token
from core.auth.users import create_user, update_user
from core.kpis import quality as qa
from core.model import now_ms
from core.query import visible_series
from core.sla.compliance import WINDOWS_S
from core.sla.status import statuses
from core.sla.store import seed_defaults
from core.sla.view import summary

PASSWORD = "correct horse battery staple"


@pytest.fixture
def api(settings, engine):
    DemoCollector(engine, settings, seed=7, backfill_days=1).collect()
    secured = settings.model_copy(update={"auth": "on"})
    with TestClient(create_api(lambda: secured)) as client:
        yield client


def token(engine, owner: str, roles: list[str], scopes=("read",)) -> dict[str, str]:
    create_user(engine, owner, PASSWORD, roles, must_change_password=False)
    return {"Authorization": f"Bearer {create_token(engine, owner, scopes, owner)[1]}"}


def test_dashboard_slas_and_query_match_the_domain_functions(api, engine, settings):
    seed_defaults(engine)  # the specification's SLAs, as a first start stores them
    headers = token(engine, "ada", ["admin"])
    reply = api.get("/v1/dashboard/qa", params={"timeframe": "24h"}, headers=headers)
    assert reply.status_code == 200, reply.text
    data = reply.json()["data"]
    start, end = data["window"]["start_ms"], data["window"]["end_ms"]
    loaded = qa.load_quality(engine, start, end, {})
    assert data["gates"] == plain(qa.gate_totals(loaded.gates)) and data["gates"]["executed"] > 0
    slas = api.get("/v1/slas", headers=headers).json()["data"]
    start, end = slas["window"]["start_ms"], slas["window"]["end_ms"]
    found = statuses(engine, settings, now_ms=end, windows_s={"range": (end - start) // 1000, **WINDOWS_S})
    assert [row["SLA"] for row in slas["items"]] == summary(found, "range")["SLA"].to_list() != []
    series = api.get("/v1/query", params={"selector": "qms_queue_depth", "step": "1h"}, headers=headers).json()["data"]
    start, end = series["window"]["start_ms"], series["window"]["end_ms"]
    frame = visible_series(engine, "qms_queue_depth", start, end, Viewer.of("ada", ["admin"]), step_ms=3_600_000)
    assert sum(len(s["points"]) for s in series["result"]) == frame.height > 0


def test_a_disabled_owner_stops_the_token(api, engine):
    headers = token(engine, "qal", ["qa_lead"])
    assert api.get("/v1/dashboard/qa", headers=headers).status_code == 200
    update_user(engine, "qal", disabled=True, actor="system")
    refused = api.get("/v1/dashboard/qa", headers=headers)
    assert refused.status_code == 403 and "disabled" in refused.json()["error"]["message"]


def test_ingest_token_cannot_read_and_read_token_cannot_change(api, engine):
    ingest_only = token(engine, "ops", ["operations"], scopes=("ingest",))
    refused = api.get("/v1/alerts", headers=ingest_only)
    assert refused.status_code == 403 and "lacks scope 'read'" in refused.json()["error"]["message"]
    reader = {"Authorization": f"Bearer {create_token(engine, 'ops-read', ['read'], 'ops')[1]}"}
    body = {"matchers": '{host="a"}', "reason": "x", "duration_h": 1}
    assert api.post("/v1/silences", json=body, headers=reader).status_code == 403


def test_no_login_reads_as_the_local_admin(settings, engine):
    with TestClient(create_api(lambda: settings.model_copy(update={"auth": "off"}))) as client:
        reply = client.get("/v1/slas")
    assert reply.status_code == 200 and reply.json()["status"] == "success"


def test_plain_drops_what_the_role_may_not_see_at_any_depth():
    developer = Viewer.of("dev", ["developer"])
    value = {
        "cost_per_review": 4.2,
        "rows": pl.DataFrame({"team": ["a"], "review_cost_usd": [1.0], "reviewer": ["x"], "n": [float("nan")]}),
        "nested": [{"spend": 3, "ok": datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC)}],
    }
    assert plain(value, developer) == {"rows": [{"team": "a", "n": None}], "nested": [{"ok": "2026-01-02T03:04:05Z"}]}
    assert plain(value, Viewer.of("boss", ["executive"]))["cost_per_review"] == 4.2
    assert plain(value)["rows"][0]["reviewer"] == "x"


def test_pages_follow_the_cursor_to_the_end():
    items = list(range(7))
    seen, cursor = [], None
    while True:
        chunk = page(items, 3, cursor)
        seen += chunk["items"]
        assert chunk["total"] == 7
        cursor = chunk["next_cursor"]
        if cursor is None:
            break
    assert seen == items


@given(st.text(max_size=40))
def test_any_cursor_text_is_an_offset_or_a_400_naming_cursor(text):
    try:
        offset = decode_cursor(text)
    except ReadError as error:
        assert error.status == 400 and error.details == {"parameter": "cursor"}
    else:
        assert offset >= 0


@given(st.integers(min_value=0, max_value=10**9))
def test_cursors_round_trip(offset):
    assert decode_cursor(encode_cursor(offset)) == offset


def test_etag_depends_on_the_data_only():
    assert etag_of({"a": 1, "b": [1, 2]}) == etag_of({"b": [1, 2], "a": 1})
    assert etag_of({"a": 1}) != etag_of({"a": 2})


def test_etag_ignores_float_noise_but_not_a_real_change():
    """Parallel means over the same rows differ in the last bits (5.428076923076924 vs …925 was seen)."""
    assert etag_of({"h": [5.428076923076924]}) == etag_of({"h": [5.428076923076925]})
    assert etag_of({"h": {"x": 0.1 + 0.2}}) == etag_of({"h": {"x": 0.3}})
    assert etag_of({"h": 5.4280769}) != etag_of({"h": 5.4280770})


@given(st.text(max_size=40))
def test_any_time_text_is_a_time_or_a_400_naming_the_parameter(text):
    try:
        ms = parse_time("start", text, 123)
    except ReadError as error:
        assert error.status == 400 and error.details["parameter"] == "start" and error.message.startswith("start:")
    else:
        assert isinstance(ms, int)


@given(st.floats(min_value=0, max_value=4e9, allow_nan=False))
def test_epoch_seconds_parse_to_milliseconds(seconds):
    assert parse_time("end", repr(seconds), 0) == int(seconds * 1000)


def test_iso_times_need_a_zone():
    assert parse_time("end", "2025-08-17T06:23:14Z", 0) == 1755411794000
    assert parse_time("end", "2025-08-17T08:23:14+02:00", 0) == 1755411794000
    with pytest.raises(ReadError, match="no time zone"):
        parse_time("end", "2025-08-17T06:23:14", 0)
    assert parse_time("end", None, 7) == 7 and parse_time("end", " ", 7) == 7


@given(st.text(max_size=20))
def test_any_duration_text_is_a_duration_or_a_400_naming_step(text):
    try:
        ms = parse_duration("step", text)
    except ReadError as error:
        assert error.status == 400 and error.details["parameter"] == "step"
    else:
        assert ms is None or (ms >= 1000 and not math.isnan(ms))


def test_durations():
    assert parse_duration("step", "300") == 300_000
    assert parse_duration("step", "5m") == 300_000
    assert parse_duration("step", "1.5h") == 5_400_000
    assert parse_duration("step", None) is None
    assert bad("x", "y").message == "x: y"


def test_now_is_used_for_a_missing_end():
    assert abs(parse_time("end", None, now_ms()) - now_ms()) < 5_000


def test_an_unreachable_store_is_a_503_in_the_read_shape(settings):
    """Nothing listens on port 1: the read endpoint answers 503 with Retry-After, never a traceback."""
    down = settings.model_copy(
        update={
            "auth": "off",
            "database_url": "postgresql+psycopg://postgres@127.0.0.1:1/none",
            "api_store_timeout_s": 1,
        }
    )
    with TestClient(create_api(lambda: down)) as client:
        reply = client.get("/v1/slas")
    assert reply.status_code == 503, reply.text
    body = reply.json()
    assert body["status"] == "error" and body["error"]["code"] == "store_unavailable"
    assert int(reply.headers["retry-after"]) >= 1 and "cannot be read now" in body["error"]["message"]


def test_executive_metrics_pick_kpi_groups(api, engine):
    headers = token(engine, "exe", ["executive"])
    data = api.get("/v1/dashboard/executive", params={"metrics": "quality"}, headers=headers).json()["data"]
    assert set(data["current"]) == {"quality_score", "defect_detection_pct", "false_positive_pct", "compliance_pct"}
    wrong = api.get("/v1/dashboard/executive", params={"metrics": "quality,vibes"}, headers=headers)
    assert wrong.status_code == 400 and "vibes" in wrong.json()["error"]["message"]
    developer = token(engine, "dev", ["developer"])
    assert "cost" not in api.get("/v1/dashboard/developer", headers=developer).text
