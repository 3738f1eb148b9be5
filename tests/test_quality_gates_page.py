"""The Quality gate thresholds section under AppTest: qa_lead edits through the QA page, a developer only reads."""

from __future__ import annotations

import pytest
from streamlit.testing.v1 import AppTest

from core.auth import audit, sessions, users
from core.auth.access import NotAllowed, Viewer
from core.config import ROOT, get_settings
from core.ingest import ingest
from core.kpis import gate_thresholds as gt
from core.model import Batch, Event, now_ms
from core.store import get_engine
from core.ui.login import SESSION_KEY

H = 3_600_000
QA = Viewer.of("quinn", ["qa_lead"])
DEVELOPER = Viewer.of("dev", ["developer"])


@pytest.fixture
def store(app_store, monkeypatch):
    """The test's store with login on and two users: a QA lead and a developer."""
    monkeypatch.setenv("PULSEBOARD_AUTH", "on")
    get_settings.cache_clear()
    for viewer in (QA, DEVELOPER):
        users.create_user(
            app_store, viewer.username, "Correct-Horse-9-battery", viewer.roles, must_change_password=False
        )
    return app_store


def run_page(slug: str, viewer: Viewer) -> AppTest:
    """``pages/<slug>.py`` as ``viewer``, logged in through a real store session."""
    settings = get_settings()
    at = AppTest.from_file(str(ROOT / "pages" / f"{slug}.py"), default_timeout=120)
    at.session_state[SESSION_KEY] = sessions.start(
        get_engine(),
        viewer.username,
        idle_s=settings.auth_session_idle_timeout_s,
        absolute_s=settings.auth_session_absolute_timeout_s,
    )[1]
    at.run()
    assert not at.exception, [e.value for e in at.exception]
    return at


def seed(engine) -> None:
    now = now_ms()
    events = [
        Event(
            f"g{n}",
            "workflow.quality_gate_passed",
            now - (3 - n) * H,
            "t",
            {
                "workflow_id": f"WF-{n}",
                "gate_name": "code-coverage-gate",
                "repository": repo,
                "attempt": 1,
                "metrics": {"coverage_percentage": coverage, "score": 0.9, "execution_time": 10.0},
            },
        )
        for n, (repo, coverage) in enumerate([("org/a", 91.0), ("org/b", 72.5), ("org/a", 78.0)])
    ]
    ingest(engine, Batch(events=tuple(events)), origin="test")


def table(at: AppTest, first_column: str):
    return next(frame.value for frame in at.dataframe if first_column in frame.value.columns)


def test_qa_lead_sees_judgements_and_saves_a_new_version(store):
    seed(store)
    at = run_page("qa", QA)
    judged = table(at, "runs_failing_pct")
    rows = {r["project"]: r for r in judged.to_dict("records")}
    # built-in default: coverage >= 80; org/a's newest coverage is 78 (fails), org/b's 72.5 (fails)
    assert rows["org/a"]["result"] == "fail" and rows["org/a"]["failed"] == "coverage 78 < 80"
    assert rows["org/b"]["failed"] == "coverage 72.5 < 80"
    assert rows["org/a"]["runs_failing_pct"] == 50.0  # run 0 (91) passed, run 2 (78) failed
    at.text_input(key="gate-coverage_min").set_value("75")
    at.text_input[-1].set_value("lower bar for legacy repos")
    at.button(key="FormSubmitter:gate-thresholds-Save thresholds").click().run()
    assert not at.exception and not at.error, [e.value for e in at.error]
    assert [s.value for s in at.success] == ["Saved \\* as version 1."]  # shown once, after the rerun
    now = gt.current_thresholds(store)["*"]
    assert (now.coverage_min, now.version, now.changed_by, now.note) == (75.0, 1, "quinn", "lower bar for legacy repos")
    rows = {r["project"]: r for r in table(at, "runs_failing_pct").to_dict("records")}
    assert rows["org/a"]["result"] == "pass"  # 78 >= 75 now
    assert rows["org/b"]["result"] == "fail"
    assert audit.entries(store, actions=(audit.GATE_THRESHOLDS_CHANGED,))["actor"].to_list() == ["quinn"]


def test_a_bad_value_is_refused_naming_the_field(store):
    at = run_page("qa", QA)
    at.text_input(key="gate-review_score_min").set_value("8")
    at.button(key="FormSubmitter:gate-thresholds-Save thresholds").click().run()
    assert any("review_score_min: review score must be 0–1" in e.value.replace("\\", "") for e in at.error)
    assert gt.history(store).is_empty()


def test_developer_reads_the_thresholds_without_a_form_and_the_store_refuses_them(store):
    seed(store)
    at = run_page("developer", DEVELOPER)
    assert "coverage_min" in table(at, "coverage_min").columns
    assert not [t for t in at.text_input if t.key and t.key.startswith("gate-")]
    assert any("manage_quality_gates" in i.value for i in at.info)
    with pytest.raises(NotAllowed, match="manage_quality_gates"):
        gt.save_thresholds(store, DEVELOPER, "*", {"coverage_min": 1})
    assert gt.history(store).is_empty()
