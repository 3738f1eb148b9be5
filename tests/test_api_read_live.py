"""The read API on a real server: each endpoint answers what its page's domain function computes.

One live server (tests/live.py) over a store holding two days of the demo workload, a firing
alert and users of several roles with their own tokens. Every comparison reads the window the
answer reports and calls the page's function on the same store for that window, so the test
fails if the API computed anything on its own (or dropped, rounded or renamed a figure).
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import polars as pl
import pytest
from sqlalchemy.engine import Engine

from collectors.demo import DemoCollector
from core.alerts import store as alert_store
from core.alerts import views
from core.alerts.engine import evaluate_all
from core.alerts.rules import parse_rule
from core.api.envelope import etag_of, plain
from core.auth.access import Viewer
from core.auth.tokens import create_token
from core.auth.users import create_user
from core.config import load_settings
from core.ingest import ingest
from core.kpis import developer as dev
from core.kpis import quality as qa
from core.kpis.executive import load_executive
from core.model import Batch, Sample, now_ms
from core.programmes.compliance import QseRules
from core.programmes.migration_store import load_view, plan_from_settings
from core.programmes.views import EVENT_TYPES, history_start, programme_view
from core.query import visible_series
from core.query.timewindow import Window
from core.sla.compliance import WINDOWS_S
from core.sla.report import build_report
from core.sla.status import statuses
from core.sla.view import summary
from core.store.engine import make_engine
from tests.live import live_server

pytestmark = pytest.mark.timeout(600)
ROLES = {"ada": ["admin"], "dev": ["developer"], "ops": ["operations"], "exe": ["executive"], "qal": ["qa_lead"]}
ADMIN = Viewer.of("ada", ["admin"])
TOKENS: dict[str, str] = {}


def _prepare(store: Engine, tmp: Path) -> None:
    settings = load_settings(database_url=str(store.url), data_dir=tmp, collectors=False)
    DemoCollector(store, settings, seed=7, backfill_days=2).collect()
    for name, roles in ROLES.items():
        create_user(store, name, "correct horse battery staple", roles, must_change_password=False)
        TOKENS[name] = create_token(store, f"{name}-read", ["read"], name)[1]
        TOKENS[f"{name}+admin"] = create_token(store, f"{name}-admin", ["read", "admin"], name)[1]
    now = now_ms()
    ingest(
        store,
        Batch(
            samples=(
                Sample.of("api_test_gauge", {"host": "a"}, 5.0, now - 60_000),
                Sample.of("review_cost_usd", {"team": "core"}, 42.0, now - 60_000),
            )
        ),
        settings=settings,
    )
    rule = parse_rule(
        {
            "name": "api_test_high",
            "selector": "api_test_gauge",
            "window": "5m",
            "op": ">",
            "threshold": 1,
            "for": "0s",
            "severity": "warning",
            "summary": "test gauge high",
        }
    )
    alert_store.save_rule(store, rule, "system")
    evaluate_all(store, settings, now)
    evaluate_all(store, settings, now + 1000)


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator:
    tmp = tmp_path_factory.mktemp("read-api")
    with live_server(tmp, env={"PULSEBOARD_COLLECTORS": "0"}, prepare=lambda store: _prepare(store, tmp)) as live:
        live.store_url = f"sqlite:///{tmp / 'pulseboard.db'}"
        yield live


@pytest.fixture(scope="module")
def store(server) -> Iterator[Engine]:
    engine = make_engine(server.store_url)
    yield engine
    engine.dispose()


@pytest.fixture(scope="module")
def settings(server, tmp_path_factory):
    return load_settings(database_url=server.store_url, data_dir=tmp_path_factory.mktemp("s"), collectors=False)


def get(server, path: str, who: str = "ada", **params) -> httpx.Response:
    headers = {"Authorization": f"Bearer {TOKENS[who]}"}
    return httpx.get(f"{server.url}/api/v1{path}", params=params, headers=headers, timeout=60)


def ok(reply: httpx.Response) -> dict:
    assert reply.status_code == 200, reply.text
    body = reply.json()
    assert body["status"] == "success"
    assert set(body["metadata"]) == {"processing_time", "data_freshness"}
    assert body["metadata"]["processing_time"] >= 0
    return body["data"]


def same(got, want) -> bool:
    """Equal, floats within 1e-9 relative (polars sums in parallel, so the last bit may differ between runs)."""
    if isinstance(got, dict) and isinstance(want, dict):
        return got.keys() == want.keys() and all(same(got[k], want[k]) for k in got)
    if isinstance(got, list) and isinstance(want, list):
        return len(got) == len(want) and all(same(a, b) for a, b in zip(got, want, strict=True))
    if isinstance(got, float | int) and isinstance(want, float | int) and not isinstance(got, bool):
        return got == pytest.approx(want, rel=1e-9, abs=1e-12)
    return got == want


def window(data: dict) -> tuple[int, int]:
    return data["window"]["start_ms"], data["window"]["end_ms"]


def test_executive_dashboard_is_load_executive_for_the_same_window(server, store, settings):
    data = ok(get(server, "/dashboard/executive", timeframe="7d"))
    start, end = window(data)
    assert end - start == 7 * 86_400_000
    expected = load_executive(store, start, end, end, Window(start, end, "x").step_ms(60), {}, ADMIN, settings)
    assert same(data["current"], plain(expected.current))
    assert same(data["previous"], plain(expected.previous))
    assert same(data["trends"], plain(expected.trends))
    assert data["critical_open"] == expected.critical_open
    assert data["current"]["reviews"] > 0 and data["current"]["quality_score"] is not None  # the demo's numbers


def test_filters_reach_the_domain_function(server, store, settings):
    everything = ok(get(server, "/dashboard/qa", timeframe="7d"))
    start, end = window(everything)
    repositories = qa.filter_options(store, start, end).get("repository")
    assert repositories, "the demo names repositories"
    picked = ok(get(server, "/dashboard/qa", timeframe="7d", repository=repositories[0]))
    start, end = window(picked)
    data = qa.load_quality(store, start, end, {"repository": repositories[0]})
    assert picked["filters"] == {"repository": repositories[0]}
    assert same(picked["gates"], plain(qa.gate_totals(data.gates)))
    assert same(picked["gate_summary"], plain(qa.gate_summary(data.gates)))
    assert picked["gates"]["executed"] < everything["gates"]["executed"]


def test_operational_and_developer_dashboards_match_their_pages(server, store, settings):
    from core.kpis import operations

    ops = ok(get(server, "/dashboard/operational", timeframe="24h"))
    start, end = window(ops)
    loaded = operations.load_ops(store, start, end, {}, settings)
    assert same(ops["queues"], plain(loaded.queues))
    assert same(ops["agents"], plain(operations.agent_summary(loaded.agents)))
    developer = ok(get(server, "/dashboard/developer", who="dev", timeframe="24h"))
    start, end = window(developer)
    assert same(developer["steps_last_4h"], plain(dev.step_performance(store, end - dev.STEP_WINDOW_MS, end, {})))
    assert same(developer["api_endpoints"], plain(dev.api_performance(store, start, end).table))


def test_role_filtering_follows_the_token_owner(server):
    refused = get(server, "/dashboard/executive", who="dev")
    assert refused.status_code == 403
    error = refused.json()
    assert error["status"] == "error" and error["error"]["code"] == "forbidden"
    assert "dev (developer)" in error["error"]["message"] and error["error"]["details"]["page"] == "executive"
    mine = get(server, "/dashboard/developer", who="dev")
    assert "cost" not in mine.text
    costly = get(server, "/query", who="dev", selector="review_cost_usd", start=str(time.time() - 3600))
    assert costly.status_code == 403 and "view_costs" in costly.json()["error"]["message"]
    shown = ok(get(server, "/query", who="exe", selector="review_cost_usd", start=str(time.time() - 3600)))
    assert shown["result"][0]["points"][-1][1] == 42.0


def test_query_is_visible_series(server, store):
    end = time.time()
    data = ok(get(server, "/query", selector="qms_queue_depth", start=str(end - 6 * 3600), end=str(end), step="15m"))
    start_ms, end_ms = window(data)
    frame = visible_series(store, "qms_queue_depth", start_ms, end_ms, ADMIN, agg="avg", step_ms=900_000)
    assert data["step_ms"] == 900_000
    assert len(data["result"]) == frame["series"].n_unique() > 0
    for line in data["result"]:
        mine = frame.filter(pl.col("series") == line["series"]).sort("ts")
        assert [p[1] for p in line["points"]] == mine["value"].to_list()
        assert [p[0] for p in line["points"]] == [int(t.timestamp() * 1000) for t in mine["ts"]]


@pytest.mark.parametrize(
    ("params", "parameter", "status"),
    [
        ({"selector": 'up{host="a"'}, "selector", 400),
        ({"selector": "up", "start": "yesterday"}, "start", 400),
        ({"selector": "up", "start": "2025-01-01T00:00:00"}, "start", 400),
        ({"selector": "up", "step": "5 parsecs"}, "step", 400),
        ({"selector": "up", "step": "1s", "start": str(time.time() - 2 * 86_400)}, "step", 400),
        ({"selector": "up", "start": "0"}, "start", 400),
        ({"selector": "up", "agg": "median"}, "agg", 422),
        ({}, "selector", 422),
    ],
)
def test_bad_query_parameters_are_named(server, params, parameter, status):
    reply = get(server, "/query", **params)
    assert reply.status_code == status, reply.text
    body = reply.json()
    assert body["status"] == "error" and body["error"]["code"] == "bad_parameter"
    assert parameter in body["error"]["details"]["parameter"] and parameter in body["error"]["message"]


def test_bad_timeframe_and_limit_are_named(server):
    for path, params, name in [
        ("/dashboard/qa", {"timeframe": "2h"}, "timeframe"),
        ("/slas", {"limit": "0"}, "limit"),
        ("/dashboard/qa", {"component": "x" * 300}, "component"),
        ("/slas", {"cursor": "not-a-cursor"}, "cursor"),
    ]:
        reply = get(server, path, **params)
        assert 400 <= reply.status_code < 500, reply.text
        assert name in reply.json()["error"]["details"]["parameter"]


def test_alerts_list_acknowledge_and_scopes(server, store):
    data = ok(get(server, "/alerts", who="ops", status="firing"))
    expected = views.active_table(alert_store.alerts_frame(store), now_ms())
    firing = expected.filter(pl.col("state") == "firing")
    assert [a["fingerprint"] for a in data["items"]] == firing["fingerprint"].to_list()
    mine = next(a for a in data["items"] if a["rule"] == "api_test_high")
    assert mine["labels"]["host"] == "a" and mine["severity"] == "warning"
    assert all(a["severity"] == "critical" for a in ok(get(server, "/alerts", severity="critical"))["items"])
    assert mine["fingerprint"] not in [
        a["fingerprint"] for a in ok(get(server, "/alerts", severity="critical"))["items"]
    ]
    url = f"{server.url}/api/v1/alerts/{mine['fingerprint']}/acknowledge"
    read_only = httpx.post(url, json={"comment": "on it"}, headers={"Authorization": f"Bearer {TOKENS['ops']}"})
    assert read_only.status_code == 403 and "lacks scope 'admin'" in read_only.json()["error"]["message"]
    developer = httpx.post(url, json={}, headers={"Authorization": f"Bearer {TOKENS['dev+admin']}"})
    assert developer.status_code == 403
    done = httpx.post(url, json={"comment": "on it"}, headers={"Authorization": f"Bearer {TOKENS['ops+admin']}"})
    assert done.status_code == 200, done.text
    assert done.json()["data"]["acknowledged_by"] == "ops"
    frame = alert_store.alerts_frame(store).filter(pl.col("fingerprint") == mine["fingerprint"])
    assert frame["acknowledged_by"][0] == "ops" and frame["ack_comment"][0] == "on it"
    acked = ok(get(server, "/alerts", who="ops", status="acknowledged"))["items"]
    assert [a["fingerprint"] for a in acked] == [mine["fingerprint"]]
    missing = httpx.post(
        f"{server.url}/api/v1/alerts/nope/acknowledge", headers={"Authorization": f"Bearer {TOKENS['ops+admin']}"}
    )
    assert missing.status_code == 404 and missing.json()["error"]["code"] == "not_found"


def test_silences_create_list_expire(server):
    admin = {"Authorization": f"Bearer {TOKENS['ops+admin']}"}
    bad = httpx.post(
        f"{server.url}/api/v1/silences", json={"matchers": "nonsense", "reason": "x", "duration_h": 1}, headers=admin
    )
    assert bad.status_code == 422 and bad.json()["error"]["details"]["parameter"] == "matchers"
    endless = httpx.post(
        f"{server.url}/api/v1/silences", json={"matchers": '{host="a"}', "reason": "maintenance"}, headers=admin
    )
    assert endless.status_code == 422 and "ends_at" in endless.json()["error"]["message"]
    made = httpx.post(
        f"{server.url}/api/v1/silences",
        json={"matchers": '{host="a"}', "reason": "maintenance", "duration_h": 2},
        headers=admin,
    )
    assert made.status_code == 201, made.text
    silence = made.json()["data"]
    assert silence["active"] is True and silence["created_by"] == "ops"
    listed = ok(get(server, "/silences", who="ops"))["items"]
    assert silence["id"] in [s["id"] for s in listed]
    gone = httpx.delete(f"{server.url}/api/v1/silences/{silence['id']}", headers=admin)
    assert gone.status_code == 200 and gone.json()["data"]["active"] is False
    assert silence["id"] not in [s["id"] for s in ok(get(server, "/silences", who="ops"))["items"]]
    assert httpx.delete(f"{server.url}/api/v1/silences/999999", headers=admin).status_code == 404


def test_slas_and_report_match_the_sla_page(server, store, settings):
    data = ok(get(server, "/slas", timeframe="24h", limit="2"))
    start, end = window(data)
    found = statuses(store, settings, now_ms=end, windows_s={"range": (end - start) // 1000, **WINDOWS_S})
    rows = plain(summary(found, "range"))
    assert data["total"] == len(found) > 2
    assert data["items"] == [{"id": s.definition.id, **row} for s, row in zip(found, rows, strict=True)][:2]
    following = ok(get(server, "/slas", timeframe="24h", limit="2", cursor=data["next_cursor"]))
    assert [r["id"] for r in following["items"]] == [s.definition.id for s in found[2:4]]
    sla_id = found[0].definition.id
    report = ok(get(server, f"/slas/{sla_id}/report", timeframe="24h"))
    start, end = window(report)
    line = next(x for x in build_report(store, settings, start, end, now_ms=end).lines if x.sla_id == sla_id)
    assert same(report["line"], plain(line))
    missing = get(server, "/slas/no-such-sla/report")
    assert missing.status_code == 404 and "no-such-sla" in missing.json()["error"]["message"]


def test_summaries_carry_an_etag_and_answer_304(server):
    """Within one window the same data gives the same tag and a 304; only a new window may change it.

    The window ends on a cache-lifetime boundary, so on a loaded machine the second request can land in the
    next one; the test repeats until a pair shares a window, and then the answer must be a 304.
    """
    for _ in range(20):
        first = get(server, "/dashboard/qa")
        tag = first.headers["etag"]
        assert tag == etag_of(first.json()["data"])  # the tag is over the data the client received
        assert first.headers["cache-control"].startswith("private, max-age=")
        again = httpx.get(
            f"{server.url}/api/v1/dashboard/qa",
            headers={"Authorization": f"Bearer {TOKENS['ada']}", "If-None-Match": tag},
        )
        if again.status_code == 304:
            assert again.content == b"" and again.headers["etag"] == tag
            return
        data, before = again.json()["data"], first.json()["data"]
        assert again.headers["etag"] == etag_of(data) != tag
        changed = sorted(key for key in data if data[key] != before[key])
        assert data["window"] != before["window"], f"same window, yet {changed} changed between two requests"
    pytest.fail("no two requests in one window in twenty tries")


def test_qse_endpoints_match_the_programme_view(server, store, settings):
    data = ok(get(server, "/organization/overview", time_range="30d"))
    start, end = window(data)
    first = history_start(start, end)
    from core.kpis.records import load_events, within

    events = within(load_events(store, EVENT_TYPES, first, end), first, end)
    rules = QseRules.of(settings)
    view = programme_view(events, start, end, rules, {}, max((end - start) // 90, 60_000))
    assert same(data["kpis"], plain(view.kpis)) and data["kpis"]["sessions"] > 0
    assert same(data["summary"], plain(view.summary))
    assert same(data["trend"], plain(view.trend))
    session = view.sessions["session"][0]
    detail = ok(get(server, f"/sessions/{session}/metrics"))
    assert detail["session_id"] == session and detail["header"]
    assert get(server, "/sessions/NOPE/metrics").status_code == 404
    compliance = ok(get(server, "/compliance/constitutional", session_ids=session, dimension="UCL"))
    assert compliance["criteria"] and {c["framework"] for c in compliance["criteria"]} == {"UCL"}
    assert get(server, "/compliance/constitutional", dimension="XYZ").json()["error"]["details"]["parameter"] == (
        "dimension"
    )
    templates = ok(get(server, "/templates/performance", time_range="30d"))
    assert same(templates["items"], plain(view.templates))
    assert get(server, "/organization/overview", who="dev").status_code == 403


def test_migration_endpoints_match_load_view(server, store, settings):
    data = ok(get(server, "/health/summary", timeframe="7d"))
    assert data["has_data"] is True and data["plan_error"] is None
    # the summary names its range; the page function over that range gives the same figures
    from datetime import datetime

    end_ms = int(datetime.fromisoformat(data["range"]["end"].replace("Z", "+00:00")).timestamp() * 1000)
    begin_ms = int(datetime.fromisoformat(data["range"]["start"].replace("Z", "+00:00")).timestamp() * 1000)
    plan, plan_file = plan_from_settings(settings)
    view = load_view(store, start_ms=begin_ms, end_ms=end_ms, plan=plan, plan_file=plan_file, settings=settings)
    expected = plain(view.summary())
    assert data["plan"] == Path(expected.pop("plan")).name == "migration.yaml"  # not the server's folder
    assert same({k: v for k, v in data.items() if k not in ("has_data", "plan_error", "plan")}, expected)
    timeline = ok(get(server, "/migration/timeline", timeframe="7d"))
    assert same(timeline["phases"], plain(view.phases))
    # the estimated completion with its 80 % interval, as the page words it (or why there is none)
    assert timeline["eta_interval"] == view.eta_interval != ""
    assert (timeline["eta_ms"], timeline["eta_low_ms"], timeline["eta_high_ms"]) == (
        view.eta_ms,
        view.eta_low_ms,
        view.eta_high_ms,
    )
    assert {"forecast_low_ms", "forecast_high_ms"} <= set(timeline["phases"][0])
    components = ok(get(server, "/components/health", timeframe="7d"))
    assert same(components["items"], plain(view.components)[:100]) and components["items"]


def test_forecast_endpoints_answer_from_the_stored_fits(server, store):
    from core.forecasting import view as forecasts

    data = ok(get(server, "/forecasts/capacity", who="ops"))
    stored = forecasts.load(store)
    assert data["total"] == forecasts.ranking(stored.capacity, now_ms()).height
    etas = ok(get(server, "/forecasts/etas", who="ops"))
    migration = forecasts.migration_etas_now(store, now_ms())  # the Migration page's schedule, read live
    assert len(etas["etas"]) == len(forecasts.etas(stored, migration))
    assert [e["eta_ms"] for e in etas["etas"] if e["kind"] == "migration"] == [e.eta_ms for e in migration[:1]]
    # with the schedule's 80 % interval (a minute's leeway: the two reads are moments apart, and a bound may be "now")
    (whole,) = [e for e in etas["etas"] if e["kind"] == "migration"]
    assert {"low_ms", "high_ms", "message"} <= set(whole)
    for key, value in (("low_ms", migration[0].low_ms), ("high_ms", migration[0].high_ms)):
        assert (whole[key] is None) == (value is None) and abs((whole[key] or 0) - (value or 0)) < 60_000
    if whole["low_ms"] is not None:
        assert whole["low_ms"] <= whole["eta_ms"] <= (whole["high_ms"] or whole["eta_ms"])
    else:
        assert whole["message"].startswith("No interval yet")
    assert get(server, "/forecasts/capacity", who="dev").status_code == 403


def test_tokens_without_a_live_owner_or_scope_are_refused(server):
    none = httpx.get(f"{server.url}/api/v1/slas")
    assert none.status_code == 401 and none.json()["error"]["code"] == "unauthorized"
    assert none.headers["www-authenticate"] == 'Bearer scope="read"'
    orphan = httpx.get(f"{server.url}/api/v1/slas", headers=server.headers)  # owner "tests" is no user
    assert orphan.status_code == 403 and "'tests'" in orphan.json()["error"]["message"]


def test_docs_page_needs_no_network(server):
    reply = httpx.get(f"{server.url}/api/docs")
    assert reply.status_code == 200 and "text/html" in reply.headers["content-type"]
    assert "http://" not in reply.text and "https://" not in reply.text and "//cdn" not in reply.text
    assert 'fetch("openapi.json")' in reply.text
    document = httpx.get(f"{server.url}/api/openapi.json").json()
    assert "/v1/dashboard/{audience}" in document["paths"] and "/docs" not in document["paths"]
    assert json.dumps(document)  # the document itself is plain JSON


def test_docs_page_renders_every_operation_and_tries_one_in_the_browser(server, page):
    """/api/docs in Chromium with the network limited to this server: every operation listed, a GET tried."""
    outside: list[str] = []
    page.on("request", lambda request: None if request.url.startswith(server.url) else outside.append(request.url))
    page.goto(f"{server.url}/api/docs")
    page.wait_for_selector("details summary code")
    listed = page.locator("details summary code").all_inner_texts()
    document = httpx.get(f"{server.url}/api/openapi.json").json()
    expected = sum(1 for item in document["paths"].values() for method in item if method in ("get", "post", "delete"))
    assert len(listed) == expected and "/api/v1/slas" in listed
    page.fill("#token", TOKENS["ada"])
    slas = page.locator("details", has=page.locator("summary code", has_text="/api/v1/slas")).first
    slas.locator("summary").click()
    slas.get_by_role("button", name="Try").click()
    page.wait_for_function("() => [...document.querySelectorAll('pre')].some(p => p.textContent.startsWith('200'))")
    shown = slas.locator("pre").inner_text()
    assert '"status": "success"' in shown and '"total"' in shown
    assert outside == []


def test_insights_are_the_pages_findings(server, store, settings):
    from core.insights.findings import split, table
    from core.insights.view import hidden, load_insights

    data = ok(get(server, "/insights", who="dev", timeframe="7d"))
    start, end = window(data)
    view = load_insights(store, settings, start, end)
    shown, dismissed = split(view.findings, hidden(store))
    assert data["baselines_ms"] == view.baselines_ms and same(data["scores"], plain(view.scores))
    assert [row["id"] for row in data["items"]] == table(shown)["id"].to_list()[:100]
    assert same(data["items"], plain(table(shown))[:100]) and data["total"] == len(shown)
    assert same(data["dismissed"], plain(table(dismissed)))
    assert get(server, "/insights", who="qal").status_code == 403  # QA leads have no Insights page


def test_reports_generate_follow_and_download(server, store):
    from core.reports import history

    admin = {"Authorization": f"Bearer {TOKENS['exe']}"}
    refused = httpx.post(f"{server.url}/api/v1/reports/generate", json={"kind": "nonsense"}, headers=admin)
    assert refused.status_code == 422 and "kind" in refused.json()["error"]["details"]["parameter"]
    developer = {"Authorization": f"Bearer {TOKENS['dev']}"}
    assert (
        httpx.post(f"{server.url}/api/v1/reports/generate", json={"kind": "sla"}, headers=developer).status_code == 403
    )
    made = httpx.post(
        f"{server.url}/api/v1/reports/generate",
        json={"kind": "sla", "format": "html", "timeframe": "24h"},
        headers=admin,
    )
    assert made.status_code == 202, made.text
    report = made.json()["data"]
    assert report["requested_by"] == "exe" and report["end_ms"] - report["start_ms"] == 86_400_000
    assert made.headers["location"].endswith(f"/v1/reports/{report['id']}")
    deadline = time.monotonic() + 120
    while (state := ok(get(server, f"/reports/{report['id']}", who="exe")))["status"] == "running":
        assert time.monotonic() < deadline, state
        time.sleep(0.5)
    assert state["status"] == "done", state
    content = httpx.get(f"{server.url}/api/v1/reports/{report['id']}/content", headers=admin, timeout=30)
    assert content.status_code == 200 and content.headers["content-type"].startswith("text/html")
    assert content.content == history.get(store, report["id"], content=True).content
    assert report["filename"] in content.headers["content-disposition"]
    assert get(server, "/reports/999999", who="exe").status_code == 404


def test_report_generation_is_capped(server, store):
    from core.reports import history

    now = now_ms()
    busy = [history.start(store, "sla", "html", now - 3_600_000, now, {}, "tests") for _ in range(2)]
    try:
        admin = {"Authorization": f"Bearer {TOKENS['exe']}"}
        reply = httpx.post(f"{server.url}/api/v1/reports/generate", json={"kind": "sla"}, headers=admin)
        assert reply.status_code == 429 and reply.headers["retry-after"] == "10"
        assert reply.json()["error"]["code"] == "busy"
        unfinished = httpx.get(f"{server.url}/api/v1/reports/{busy[0]}/content", headers=admin)
        assert unfinished.status_code == 409 and unfinished.json()["error"]["details"]["status"] == "running"
    finally:
        for report_id in busy:
            history.fail(store, report_id, "test over")
