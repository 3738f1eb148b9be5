"""The QSE page under AppTest on a real store: both views for each role that may open it, a refusal for the rest,
and the figures on the page equal to the domain functions' for the same range and filters."""

from __future__ import annotations

import pytest
from streamlit.testing.v1 import AppTest

from core.auth.catalogue import page
from core.config import ROOT, get_settings
from core.ingest import ingest
from core.kpis.records import load_events, within
from core.model import Batch, now_ms
from core.programmes.compliance import QseRules
from core.programmes.qse import COF_DIMENSIONS
from core.programmes.views import EVENT_TYPES, history_start, programme_view, session_detail
from core.query.timewindow import window
from tests.qse_history import DAY, HOUR, History

ALLOWED = page("qse").roles
REFUSED = ("developer", "operations")


def history(now: int) -> History:
    """Three sessions in the past 30 days: one finished, one running late with a failed gate, one just assessed."""
    h = History()
    done, late, fresh = now - 20 * DAY, now - 3 * DAY, now - 2 * DAY
    h.started("QSE-DONE", done, "feature", "platform", ["design", "build"])
    h.phase("QSE-DONE", "design", done, 8, 8, template="feature", team="platform")
    h.gate("QSE-DONE", "design", done + 8 * HOUR, True, 0.9)
    h.phase("QSE-DONE", "build", done + 10 * HOUR, 16, 18, template="feature", team="platform")
    h.deliverable("QSE-DONE", "build", done + 20 * HOUR, 0.88, "service")
    h.assessed("QSE-DONE", done + 28 * HOUR, 0.9, 0.88, template="feature", team="platform")
    h.evidence("QSE-DONE", done + 20 * HOUR, "COF", "Risk Management", 0.9, 1)
    h.completed("QSE-DONE", done + 30 * HOUR)
    h.started("QSE-LATE", late, "audit", "payments", ["analysis", "validation", "retrospective"])
    h.phase("QSE-LATE", "analysis", late, 10, 25, template="audit", team="payments")
    h.gate("QSE-LATE", "analysis", late + 25 * HOUR, False, 0.6, "analysis-review")
    h.phase("QSE-LATE", "validation", late + 30 * HOUR, 12, template="audit", team="payments")
    h.assessed("QSE-LATE", late + 25 * HOUR, 0.86, 0.84, template="audit", team="payments")
    h.assessed(
        "QSE-LATE",
        late + 40 * HOUR,
        dict.fromkeys(COF_DIMENSIONS[:9], 0.74),  # partial: four dimensions not scored, two laws
        {"Systematic Approach": 0.7, "Adaptive Execution": 0.72, "Holistic Integration": 0.7},
        template="audit",
        team="payments",
    )
    h.evidence("QSE-LATE", late + 20 * HOUR, "UCL", "Systematic Approach", 0.6, 2)
    h.started("QSE-FRESH", fresh, "feature", "data", ["design"])
    h.phase("QSE-FRESH", "design", fresh, 30, template="feature", team="data")
    h.assessed("QSE-FRESH", fresh + 5 * HOUR, 0.93, 0.95, template="feature", team="data")
    return h


@pytest.fixture
def now(app_store) -> int:
    at = now_ms()
    ingest(app_store, Batch(events=tuple(history(at).events())), origin="test")
    return at


def run(role: str, **query: str) -> AppTest:
    at = AppTest.from_file(str(ROOT / "pages" / "qse.py"), default_timeout=120)
    at.session_state["role"] = role  # login off (conftest): the local session's role
    for key, value in query.items():
        at.query_params[key] = value
    at.run()
    assert not at.exception, [e.value for e in at.exception]
    return at


def metrics(at: AppTest) -> dict[str, str]:
    return {m.label.split(" · ")[0]: m.value for m in at.metric}


def number(text: str) -> float:
    return float(text.replace("%", "").replace("×", "").replace(",", "").split()[0])


def expected(app_store, now: int, filters: dict[str, str] | None = None):
    """The programme view the domain computes for the page's default range (30 days) and the same filters."""
    win = window("30d", now)
    first = history_start(win.start_ms, win.end_ms)
    events = within(load_events(app_store, EVENT_TYPES, first, win.end_ms), first, win.end_ms)
    return events, programme_view(events, win.start_ms, win.end_ms, QseRules.of(get_settings()), filters)


def test_an_empty_store_says_what_to_send(app_store):
    at = run("qa_lead")
    assert at.title[0].value == "QSE compliance"
    assert all(m.value == "—" for m in at.metric)
    assert any("qse" in i.value for i in at.info)


@pytest.mark.parametrize("role", ALLOWED)
def test_the_programme_view_opens_for_each_role_allowed(now, role):
    at = run(role)
    assert at.title[0].value == "QSE compliance" and not at.error
    assert set(metrics(at)) == {"Active sessions", "Adoption rate", "Average compliance", "Gate pass rate"}
    assert len(at.get("vega_lite_chart")) >= 6  # trend, COF grid, UCL panel, effectiveness, heatmap, teams
    assert {"QSE-DONE", "QSE-LATE", "QSE-FRESH"} == set(at.dataframe[0].value["session"])


@pytest.mark.parametrize("role", ALLOWED)
def test_the_session_view_opens_for_each_role_allowed(now, role):
    at = run(role, session="QSE-LATE")
    assert at.selectbox(key="session").value == "QSE-LATE"
    shown = metrics(at)
    assert {"Progress", "Compliance", "Projected hours ÷ plan", "Failed gates"} <= set(shown)
    assert shown["Failed gates"] == "1"
    assert any("Projected completion" in m.value and "risk **high**" in m.value for m in at.markdown)
    assert any(m.value.startswith("**Phases") for m in at.markdown)  # the Gantt's heading
    gates = next(d.value for d in at.dataframe if "gate" in d.value.columns)  # the session's quality gates
    assert list(zip(gates["gate"], gates["result"], strict=True)) == [("analysis-review", "failed")]


@pytest.mark.parametrize("role", REFUSED)
def test_other_roles_are_refused(now, role):
    at = run(role)
    assert [t.value for t in at.title] == ["Access refused"]
    at = run(role, session="QSE-LATE")
    assert [t.value for t in at.title] == ["Access refused"] and not at.metric


def test_the_numbers_on_the_page_are_the_domain_functions(app_store, now):
    events, view = expected(app_store, now)
    shown = metrics(run("executive"))
    k = view.kpis
    assert number(shown["Active sessions"]) == k.active_sessions == 2
    assert number(shown["Adoption rate"]) == pytest.approx(k.adoption_pct, abs=0.05)
    assert number(shown["Average compliance"]) == pytest.approx(k.compliance_pct, abs=0.05)
    assert number(shown["Gate pass rate"]) == pytest.approx(k.gate_pass_pct, abs=0.05) and k.gate_pass_pct == 50.0
    at = run("executive")
    table = at.dataframe[0].value
    page_rows = {r["session"]: (r["compliance"], r["band"], r["progress"]) for r in table.to_dict("records")}
    domain_rows = {
        r["session"]: (r["compliance"], r["band"], r["progress"]) for r in view.sessions.iter_rows(named=True)
    }
    assert page_rows == domain_rows
    assert domain_rows["QSE-LATE"][1] == "critical"
    detail = session_detail(events, "QSE-LATE", window("30d", now).end_ms, QseRules.of(get_settings()))
    assert detail is not None
    shown = metrics(run("qa_lead", session="QSE-LATE"))
    assert number(shown["Compliance"]) == pytest.approx(detail.header["compliance"], abs=0.05)
    assert number(shown["Projected hours ÷ plan"]) == pytest.approx(detail.prediction.ratio, abs=0.005)


def test_filters_live_in_the_url_and_narrow_every_figure(app_store, now):
    at = run("admin", team="payments")
    assert at.selectbox(key="team").value == "payments"
    assert set(at.dataframe[0].value["session"]) == {"QSE-LATE"}
    _, view = expected(app_store, now, {"team": "payments"})
    shown = metrics(at)
    assert number(shown["Average compliance"]) == pytest.approx(view.kpis.compliance_pct, abs=0.05)
    assert number(shown["Active sessions"]) == view.kpis.active_sessions == 1
    done = run("admin", status="completed")
    assert set(done.dataframe[0].value["session"]) == {"QSE-DONE"}
    assert list(done.dataframe[0].value["status"]) == ["completed"]
