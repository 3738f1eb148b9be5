"""Overview, Executive and Operations through AppTest on a real store: empty, demo data, a large store, exact KPIs."""

from __future__ import annotations

import pytest
from streamlit.testing.v1 import AppTest

from collectors.demo import BACKFILL_STEP, DemoCollector, DemoWorkload
from core.config import ROOT, get_settings
from core.ingest import ingest
from core.model import Batch, Event, Sample, now_ms
from core.query import clear_cache
from core.query.timewindow import RANGE_LABELS
from core.store.engine import dispose_engines
from core.store.rollup import run_rollup

PAGES = ("overview", "executive", "operations")
H, DAY = 3_600_000, 86_400_000


@pytest.fixture
def store(app_store):
    """The test's store, pointed at by the process settings (conftest)."""
    return app_store


def run(page: str, **query: str) -> AppTest:
    at = AppTest.from_file(str(ROOT / "pages" / f"{page}.py"), default_timeout=120)
    for key, value in query.items():
        at.query_params[key] = value
    at.run()
    assert not at.exception, [e.value for e in at.exception]
    return at


def metrics(at: AppTest) -> dict[str, str]:
    return {m.label.split(" · ")[0]: m.value for m in at.metric}


def charts(at: AppTest) -> int:
    return len(at.get("vega_lite_chart"))


def demo(engine, days: float) -> None:
    collector = DemoCollector(engine)
    now = now_ms()
    collector.workload = DemoWorkload(7, now)
    collector.generate(now - int(days * DAY), now, BACKFILL_STEP)
    run_rollup(engine, now)


@pytest.mark.parametrize("page", PAGES)
def test_empty_store_renders_and_says_what_to_send(store, page):
    at = run(page)
    infos = " ".join(i.value for i in at.info)
    assert "Send" in infos or "send" in infos
    assert all(
        m.value in ("—", "0")
        for m in at.metric
        if m.label not in ("Series", "Samples, last hour", "Events, last 24 h", "Last sample")
    )


@pytest.mark.parametrize("page", PAGES)
def test_demo_data_renders_charts(store, page):
    demo(store, 2)
    at = run(page)
    assert charts(at) >= 3
    assert not at.error


def test_large_store_every_range(sqlite_engine, monkeypatch, tmp_path):
    monkeypatch.setenv("PULSEBOARD_DATABASE_URL", sqlite_engine.url.render_as_string(hide_password=False))
    monkeypatch.setenv("PULSEBOARD_DATA_DIR", str(tmp_path))
    get_settings.cache_clear()
    clear_cache()
    demo(sqlite_engine, 30)  # ~90,000 events, ~75 series with 30 days of 5/15-minute samples
    for page in PAGES:
        for key in ("1h", "24h", "30d", "90d"):
            at = run(page, range=RANGE_LABELS[key])
            assert at.segmented_control[0].value == key
            assert charts(at) >= 1, (page, key)
    clear_cache()
    get_settings.cache_clear()
    dispose_engines()


def fixture_batch(now: int) -> tuple[Batch, dict[str, float]]:
    """Workflows, gates, compliance checks and agent samples placed well inside the 24 h and 7 d windows."""
    evts, expected = [], {}
    durations = [3.0, 5.0, 4.0]  # hours, created → completed
    for n, hours in enumerate(durations):
        end = now - (2 + n) * H
        wid = f"WF-{n}"
        evts += [
            Event(
                f"c{n}", "workflow.pr_created", end - int(hours * H), "t", {"workflow_id": wid, "repository": "org/a"}
            ),
            Event(f"d{n}", "workflow.workflow_completed", end, "t", {"workflow_id": wid, "duration_s": hours * 3600}),
        ]
    evts += [
        Event("f0", "workflow.pr_created", now - 9 * H, "t", {"workflow_id": "WF-X"}),
        Event("f1", "workflow.workflow_failed", now - 6 * H, "t", {"workflow_id": "WF-X", "duration_s": 3 * 3600}),
    ]
    evts += [
        Event("o0", "workflow.pr_created", now - 3 * H, "t", {"workflow_id": "WF-OPEN-1"}),
        Event("o1", "workflow.pr_created", now - 4 * H, "t", {"workflow_id": "WF-OPEN-2"}),
    ]
    scores = [0.9, 0.7, 0.8, 1.0]
    evts += [
        Event(
            f"g{n}",
            "workflow.quality_gate_passed" if s >= 0.8 else "workflow.quality_gate_failed",
            now - (5 + n) * H,
            "t",
            {"workflow_id": f"WF-{n}", "gate_name": "g", "attempt": 1, "metrics": {"score": s}},
        )
        for n, s in enumerate(scores)
    ]
    evts += [
        Event(
            f"q{n}",
            "qa.compliance_check",
            now - 5 * H,
            "t",
            {"workflow_id": f"WF-{n}", "policy": "p", "passed": ok, "score": 0.9},
        )
        for n, ok in enumerate([True, True, False, True, True])
    ]
    samples = [Sample.of("qms_agent_up", {"agent": f"a{n}"}, 0.0 if n == 0 else 1.0, now - 60_000) for n in range(4)]
    samples += [
        Sample.of("qms_agent_load_percent", {"agent": f"a{n}"}, [0.0, 50.0, 0.0, 95.0][n], now - 60_000)
        for n in range(4)
    ]
    completed = len(durations)
    expected = {
        "Completed": completed,
        "Completion rate": completed / (completed + 1) * 100,
        "Time to merge": sum(durations) / completed,
        "Active workflows": 2,
        "Gate pass rate": 3 / 4 * 100,
        "Agents up": 3,
        "Quality score": sum(scores) / 4 * 100,
        "Compliance adherence": 4 / 5 * 100,
        "Down": 1,
        "Idle": 1,
        "Active": 1,
        "Overloaded": 1,
    }
    return Batch(tuple(samples), tuple(evts)), expected


def number(text: str) -> float:
    return float(text.replace("%", "").replace(" h", "").replace(",", "").split()[0])


def test_kpis_equal_an_independent_computation(store):
    now = now_ms()
    batch, want = fixture_batch(now)
    ingest(store, batch, origin="test")
    overview = metrics(run("overview"))
    for name in ("Completed", "Completion rate", "Time to merge", "Active workflows", "Gate pass rate", "Agents up"):
        assert number(overview[name]) == pytest.approx(want[name], abs=0.05), name
    execu = metrics(run("executive"))
    assert number(execu["Reviews completed"]) == want["Completed"]
    assert number(execu["Workflow completion"]) == pytest.approx(want["Completion rate"], abs=0.05)
    assert number(execu["Time to merge"]) == pytest.approx(want["Time to merge"], abs=0.005)
    assert number(execu["Quality score"]) == pytest.approx(want["Quality score"], abs=0.05)
    assert number(execu["Compliance adherence"]) == pytest.approx(want["Compliance adherence"], abs=0.05)
    ops = metrics(run("operations"))
    for name in ("Active workflows", "Down", "Idle", "Active", "Overloaded"):
        assert number(ops[name]) == want[name], name


def test_executive_shows_the_predictions_the_forecast_job_stored(store):
    """The page reads what the forecast job stored and fits nothing itself; with four whole days of demo history
    each KPI says how many daily values a forecast needs (tests/test_kpis_executive_predictions.py fits them)."""
    at = run("executive")
    assert any("No predictions yet" in i.value for i in at.info)
    demo(store, 5)
    from core.forecasting.job import tasks
    from core.store import forecasts

    (job,) = [t for t in tasks(store, get_settings()) if t.subject == "executive"]
    forecasts.save(store, job.run(now_ms()))
    at = run("executive")
    assert any("Performance predictions" in m.value for m in at.markdown)
    table = next(d.value for d in at.dataframe if "vs target" in d.value.columns)
    assert list(table["KPI (%)"]) == ["Quality score", "SLA adherence", "Completion rate"]
    days = table["daily values"].iloc[0]
    assert 4 <= days < 12 and (table["daily values"] == days).all()
    assert (table["vs target"] == f"need at least 12 values (have {days})").all()
