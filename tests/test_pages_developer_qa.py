"""Developer and QA pages under Streamlit's AppTest on a real store: empty, demo data, a large store, exact KPIs."""

from __future__ import annotations

import json

import pytest
import sqlalchemy as sa
from streamlit.testing.v1 import AppTest

from collectors.demo import DemoCollector, DemoWorkload
from core.auth import users
from core.auth.access import Viewer
from core.config import ROOT, get_settings
from core.ingest import ingest
from core.model import Batch, Event, now_ms
from core.query import clear_cache
from core.store import schema
from core.store.engine import dispose_engines
from core.store.rollup import run_rollup

H, DAY = 3_600_000, 86_400_000
ADMIN = Viewer.of("ada", ["admin"])
DEVELOPER = Viewer.of("dev", ["developer"])


@pytest.fixture
def app_store(app_store):
    """The test's store (conftest) with an admin and a developer."""
    for viewer in (ADMIN, DEVELOPER):
        users.create_user(
            app_store, viewer.username, "Correct-Horse-9-battery", viewer.roles, must_change_password=False
        )
    return app_store


def run_page(slug: str, viewer: Viewer = ADMIN, timeout: float = 120) -> AppTest:
    at = AppTest.from_file(str(ROOT / "pages" / f"{slug}.py"), default_timeout=timeout)
    at.session_state["viewer"] = viewer  # with login on (PULSEBOARD_AUTH=on)
    at.session_state["role"] = sorted(viewer.roles)[0]  # with login off, the local session's role
    at.run()
    assert not at.exception, [e.value for e in at.exception]
    assert at.title[0].value != "Access refused"
    return at


def metrics(at: AppTest) -> dict[str, str]:
    return {m.label.split(" · ")[0]: m.value for m in at.metric}


def seed_demo(engine, days: int) -> int:
    now = now_ms()
    collector = DemoCollector(engine, None, clock=lambda: now)
    collector.workload = DemoWorkload(7, now)
    collector.generate(now - days * DAY, now, 5 * 60_000)
    run_rollup(engine, now)
    return now


def count(engine, types: tuple[str, ...], since: int) -> int:
    e = schema.events
    with engine.connect() as connection:
        return int(connection.scalar(sa.select(sa.func.count()).where(e.c.type.in_(types), e.c.ts >= since)) or 0)


@pytest.mark.parametrize("slug", ["developer", "qa"])
def test_empty_store_renders_and_says_what_to_send(app_store, slug):
    at = run_page(slug)
    told = " ".join(i.value for i in at.info)
    wanted = {
        "developer": [
            "workflow.step_completed",
            "api_request_duration_seconds",
            "db_query_duration_seconds",
            "system.error_occurred",
            "system.deployment",
        ],
        "qa": ["workflow.quality_gate_passed", "qa.defect_found", "/api/v1/junit", "coverage_percentage"],
    }[slug]
    for name in wanted:
        assert name in told, f"the empty {slug} page does not say to send {name}"
    assert any("No " in w.value for w in at.warning)  # nothing has arrived: the stale/empty warning shows


def test_developer_kpis_equal_a_count_of_the_fixture(app_store):
    now = now_ms()
    midnight = now - now % DAY

    def step(n: int, kind: str, ts: int, wf: str, **data: object) -> Event:
        return Event(
            f"s{n}",
            f"workflow.step_{kind}",
            ts,
            "t",
            {
                "workflow_id": wf,
                "step": "progress_review",
                "attempt": 1,
                "agent_id": "qms-code-reviewer-1",
                "repository": "org/a",
                **data,
            },
        )

    done = [(now - 20 * 60_000, 300.0, 1800.0), (now - 3 * H, 600.0, 2400.0), (now - 20 * H, 60.0, 600.0)]
    events = [
        step(n, "completed", ts, f"WF-{n}", queue_wait_s=wait, duration_s=took, status="passed")
        for n, (ts, wait, took) in enumerate(done)
    ]
    events += [step(10, "started", now - 10 * 60_000, "WF-10"), step(11, "started", now - 50 * 60_000, "WF-11")]
    ingest(app_store, Batch(events=tuple(events)), origin="test")
    at = run_page("developer")
    shown = metrics(at)
    assert shown["Pending reviews"] == "2"
    assert shown["Completed today"] == str(sum(1 for ts, _, _ in done if ts >= midnight))
    assert sum(w + t for _, w, t in done) / len(done) == 32 * 60
    assert shown["Average feedback time"] == "32 min"


def test_qa_kpis_equal_a_count_of_the_fixture(app_store):
    now = now_ms()
    runs = [("passed", 30.0), ("passed", 90.0), ("failed", 150.0), ("passed", 210.0)]
    events = [
        Event(
            f"g{n}",
            f"workflow.quality_gate_{kind}",
            now - (n + 1) * H,
            "t",
            {
                "workflow_id": f"WF-{n}",
                "gate_name": "code-coverage-gate",
                "repository": "org/a",
                "metrics": {"execution_time": seconds},
            },
        )
        for n, (kind, seconds) in enumerate(runs)
    ]
    events += [
        Event(
            "d1",
            "qa.defect_found",
            now - 60_000,
            "t",
            {"defect_id": "D1", "severity": "critical", "repository": "org/a"},
        ),
        Event(
            "c1",
            "qa.compliance_check",
            now - 60_000,
            "t",
            {"workflow_id": "WF-1", "policy": "p", "passed": False, "score": 0.5},
        ),
        Event(
            "c2",
            "qa.compliance_check",
            now - 30_000,
            "t",
            {"workflow_id": "WF-2", "policy": "p", "passed": True, "score": 1.0},
        ),
    ]
    ingest(app_store, Batch(events=tuple(events)), origin="test")
    shown = metrics(run_page("qa"))
    assert shown["Gates executed"] == "4"
    assert shown["Gates passed"] == "3"
    assert shown["Gates failed"] == "1"
    assert sum(s for _, s in runs) / len(runs) == 120
    assert shown["Average gate time"] == "2 min"
    assert shown["Critical defects (open)"] == "1"
    assert shown["Compliance checks passed"] == "50.0%"
    assert shown["Audit readiness"] == "75.0%"
    assert (shown["Policy violations"], shown["Remediation pending"]) == ("1", "1")


def test_pages_on_demo_data_match_the_store(app_store):
    now = seed_demo(app_store, days=2)
    developer = metrics(run_page("developer"))
    assert developer["Completed today"] == str(count(app_store, ("workflow.step_completed",), now - now % DAY))
    qa = metrics(run_page("qa"))
    assert (
        qa["Gates executed"]
        == f"{count(app_store, ('workflow.quality_gate_passed', 'workflow.quality_gate_failed'), now - 7 * DAY):,}"
    )
    found_today = count(app_store, ("qa.defect_found",), now - now % DAY)
    assert qa["Defects found today"] == str(found_today)
    with app_store.connect() as connection:
        rows = connection.execute(
            sa.select(sa.cast(schema.events.c.data, sa.Text)).where(schema.events.c.type == "qa.compliance_check")
        ).scalars()
        checks = [json.loads(text) for text in rows]
    assert qa["Compliance checks passed"] == f"{sum(c['passed'] for c in checks) / len(checks) * 100:,.1f}%"


def test_per_person_figures_are_hidden_from_developers(app_store):
    seed_demo(app_store, days=1)
    admin = run_page("developer", ADMIN)
    assert len(admin.selectbox(key="reviewer").options) > 1
    assert any(e.label == "Feedback time per reviewer" for e in admin.expander)
    developer = run_page("developer", DEVELOPER)
    assert developer.selectbox(key="reviewer").options == ["All reviewers"]
    assert not any(e.label == "Feedback time per reviewer" for e in developer.expander)
    assert metrics(developer)["Pending reviews"] == metrics(admin)["Pending reviews"]  # team totals are for everyone


@pytest.mark.parametrize("slug", ["developer", "qa"])
def test_a_large_store_renders_at_the_longest_range(sqlite_engine, monkeypatch, tmp_path, slug):
    monkeypatch.setenv("PULSEBOARD_DATABASE_URL", sqlite_engine.url.render_as_string(hide_password=False))
    monkeypatch.setenv("PULSEBOARD_DATA_DIR", str(tmp_path))
    get_settings.cache_clear()
    clear_cache()
    users.create_user(sqlite_engine, ADMIN.username, "Correct-Horse-9-battery", ADMIN.roles, must_change_password=False)
    try:
        seed_demo(sqlite_engine, days=30)
        at = AppTest.from_file(str(ROOT / "pages" / f"{slug}.py"), default_timeout=300)
        at.session_state["viewer"] = ADMIN
        at.session_state["role"] = "admin"
        at.run()
        at.segmented_control(key="range").set_value("90d").run()
        assert not at.exception, [e.value for e in at.exception]
        assert at.segmented_control(key="range").value == "90d"
        assert any(m.value not in ("—", "0") for m in at.metric)
    finally:
        clear_cache()
        get_settings.cache_clear()
        dispose_engines()


def test_repository_filter_narrows_the_figures(app_store):
    now = now_ms()
    events = [
        Event(
            f"g{n}",
            "workflow.quality_gate_failed" if n % 2 else "workflow.quality_gate_passed",
            now - H,
            "t",
            {"workflow_id": f"WF-{n}", "gate_name": "g", "repository": repo, "metrics": {"execution_time": 60}},
        )
        for n, repo in enumerate(["org/a", "org/a", "org/a", "org/b"])
    ]
    ingest(app_store, Batch(events=tuple(events)), origin="test")
    at = run_page("qa")
    assert metrics(at)["Gates executed"] == "4"
    assert at.selectbox(key="repository").options == ["All", "org/a", "org/b"]
    at.selectbox(key="repository").set_value("org/b").run()
    assert not at.exception
    assert (metrics(at)["Gates executed"], metrics(at)["Gates failed"]) == ("1", "1")


@pytest.mark.parametrize("page_range", ["24h", "7d"])
def test_step_performance_covers_the_last_four_hours_whatever_the_range(app_store, page_range):
    now = now_ms()
    ages = [20 * 60_000, 3 * H, 5 * H, 20 * H]  # two inside the last 4 h, two before it (both inside 24 h)
    events = [
        Event(
            f"s{n}",
            "workflow.step_completed",
            now - age,
            "t",
            {
                "workflow_id": f"WF-{n}",
                "step": "progress_review",
                "attempt": 1,
                "duration_s": 60.0 * (n + 1),
                "status": "passed",
            },
        )
        for n, age in enumerate(ages)
    ]
    ingest(app_store, Batch(events=tuple(events)), origin="test")
    at = run_page("developer")
    at.segmented_control(key="range").set_value(page_range).run()
    assert not at.exception, [e.value for e in at.exception]
    assert any(s.value == "Workflow performance by step (last 4 h)" for s in at.subheader)
    steps = next(d.value for d in at.dataframe if "avg_wait_s" in d.value.columns)
    row = steps[steps["step"] == "progress_review"].iloc[0]
    assert row["completed"] == sum(1 for age in ages if age <= 4 * H)
