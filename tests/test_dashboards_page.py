"""The Dashboards page and the widget kinds through AppTest on a real store: every kind draws from a minimal and a
full config, a dashboard is built through the editor (a variable, two widgets) and saved, a bad one is refused with
the field named, sharing decides who sees it, ``?kiosk=1`` shows it alone; sources resolve with variables."""

from __future__ import annotations

import json

import pytest
from streamlit.testing.v1 import AppTest

from core.auth.access import Viewer
from core.config import ROOT
from core.dashboards import model, store
from core.dashboards.kinds import CONFIGS
from core.ingest import ingest
from core.model import Batch, Sample, now_ms
from core.query.timewindow import window
from core.store.rollup import run_rollup
from core.ui import widgets as w

MIN = 60_000
COMMON = {
    "id": "w1",
    "range": "6h",
    "agg": "max",
    "thresholds": {"warning": 10, "critical": 20, "higher_is_worse": False},
    "unit": "ms",
    "help": "How it is computed.",
    "empty": "Send data.",
    "height": 240,
    "sensitive": False,
}
FULL: dict[str, dict] = {
    "kpi": {"format": "{:,.2f}", "delta_good": "down"},
    "trend": {
        "color": "series",
        "y": "value",
        "y_title": "Depth",
        "area": True,
        "integer": True,
        "zero": False,
        "annotations": False,
    },
    "gauge": {"target": 90.0, "lo": 0.0, "hi": 120.0},
    "progress": {"target": 200.0, "format": "{:,.1f}"},
    "bar": {
        "category": "category",
        "value": "value",
        "color": "category",
        "horizontal": False,
        "pick": True,
        "sort": ["q2", "q1"],
        "extra_tooltip": [],
        "integer": True,
    },
    "table": {"columns": ["a", "b"], "max_rows": 1, "progress": ["a"], "trend": []},
    "heatmap": {"x": "ts", "y": "series", "value": "value", "x_type": "T", "pick": True},
    "pipeline": {"order": ["review", "dor"]},
    "queue": {"queue": "series", "depth": "value"},
    "status_grid": {"columns": 3, "note": "detail", "pick": False},
    "timeline": {"lane": "severity"},
    "alert_list": {"severities": ["critical", "warning"]},
    "topk": {"k": 1, "category": "series", "value": "value", "bottom": True},
    "forecast": {"y_title": "Queue"},
    "gantt": {
        "task": "task",
        "start": "start",
        "end": "end",
        "lane": "kind",
        "status": "status",
        "order": ["design"],
        "pick": True,
    },
    "roadmap": {"order": ["Tests · 100 %"]},
    "delta": {"category": "operation", "value": "delta_pct", "verdict": "verdict", "extra_tooltip": []},
    "note": {"text": "## Heading\n\nA [runbook](https://example.org) link."},
}


def test_the_full_configs_here_cover_every_kind_and_every_field():
    assert set(FULL) == set(CONFIGS)
    for kind, extra in FULL.items():
        fields = set(CONFIGS[kind].model_fields) - {"kind", "title", "source"}
        assert fields == set(COMMON) | set(extra), kind


def draw_one(kind: str, full: bool) -> None:
    """AppTest script: one widget of ``kind`` drawn by core.ui.chrome from the sample data of test_widgets."""
    from core.dashboards.kinds import parse_widget
    from core.ui import chrome
    from tests.test_dashboards_page import COMMON, FULL
    from tests.test_widgets import SAMPLES

    spec = {"kind": kind, "title": f"A {kind}"} | ((COMMON | FULL[kind]) if full else {})
    if kind == "note" and not full:
        spec["text"] = "Minimal note."
    chrome.widget(parse_widget(spec), SAMPLES[kind])


@pytest.mark.parametrize("full", [False, True], ids=["minimal", "full"])
@pytest.mark.parametrize("kind", sorted(CONFIGS))
def test_every_widget_kind_renders_from_a_minimal_and_a_full_config(kind, full):
    at = AppTest.from_function(draw_one, kwargs={"kind": kind, "full": full}, default_timeout=60)
    at.run()
    assert not at.exception, [e.value for e in at.exception]
    assert not at.error, [e.value for e in at.error]
    drawn = (
        len(at.get("vega_lite_chart"))
        + len(at.get("metric"))
        + len(at.dataframe)
        + len(at.get("progress"))
        + sum("note" in m.value.lower() or "heading" in m.value.lower() for m in at.markdown)
    )
    assert drawn >= 1, f"{kind} drew nothing"
    assert not at.info, [i.value for i in at.info]  # no empty state: the data was there


@pytest.fixture
def data(app_store):
    """Queue depths for two queues over the last hour (one odd name), rolled up."""
    now = now_ms()
    samples = [
        Sample.of("qms_queue_depth", {"queue": queue}, float(depth + i), now - (30 - i) * MIN)
        for queue, depth in (("review", 3), ('odd"} or up{x="', 40))
        for i in range(30)
    ]
    ingest(app_store, Batch(tuple(samples)))
    run_rollup(app_store, now)
    return app_store


def test_sources_resolve_selectors_and_promql_with_a_variable(data):
    ctx = w.SourceContext(data, window("1h"), {}, Viewer.of("a", ["operations"]), {"queue": 'odd"} or up{x="'})
    frame = w.resolve(w.TrendConfig(title="t", source="metric:qms_queue_depth{queue=$queue}", agg="max"), ctx)
    assert set(frame["series"]) == {"qms_queue_depth"}  # the one series the odd value selects, named by its metric
    assert (frame["value"].min(), frame["value"].max()) == (40.0, 69.0)
    both = w.resolve(w.TrendConfig(title="t", source="metric:qms_queue_depth"), ctx)
    assert set(both["series"]) == {"review", 'odd"} or up{x="'}  # named by the label that tells them apart
    summed = w.resolve(w.TrendConfig(title="t", source="promql:sum by (queue) (qms_queue_depth)"), ctx)
    assert set(summed["series"]) == {"review", 'odd"} or up{x="'}
    kpi = w.resolve(w.KpiConfig(title="k", source="promql:max(qms_queue_depth{queue=$queue})"), ctx)
    assert kpi.value is not None and 40 <= kpi.value <= 69
    gauge = w.resolve(w.GaugeConfig(title="g", source='promql:qms_queue_depth{queue="review"} * 2'), ctx)
    assert gauge == 64.0
    with pytest.raises(ValueError, match="unknown variable"):
        w.resolve(w.TrendConfig(title="t", source="metric:qms_queue_depth{queue=$host}"), ctx)


def run_page(role: str = "admin", **query: str) -> AppTest:
    at = AppTest.from_file(str(ROOT / "pages" / "dashboards.py"), default_timeout=120)
    at.session_state["role"] = role  # login off in page tests: the local viewer takes this role
    for key, value in query.items():
        at.query_params[key] = value
    at.run()
    assert not at.exception, [e.value for e in at.exception]
    return at


def ok(at: AppTest) -> AppTest:
    """``at`` after a run with no exception and no error box."""
    assert not at.exception, [e.value for e in at.exception]
    assert not at.error, [e.value for e in at.error]
    return at


def by_label(elements, label: str):
    return next(e for e in elements if e.label == label)


def test_build_a_dashboard_in_the_editor_save_and_open_it_again(data):
    at = run_page()
    assert "No dashboard is shared with you yet" in at.info[0].value
    by_label(at.button, "New dashboard").click().run()
    by_label(at.text_input, "Title").input("Queues").run()
    by_label(at.text_input, "URL name (slug)").input("queues").run()
    # a variable: $queue from the queue label of qms_queue_depth
    by_label(at.text_input, "Variable name").input("queue")
    by_label(at.selectbox, "Metric").select("qms_queue_depth")
    by_label(at.text_input, "Label").input("queue")
    ok(by_label(at.button, "Add variable").click().run())
    # two widgets through the generated forms
    by_label(at.selectbox, "Kind").select("trend").run()
    by_label(at.text_input, "Title").set_value("Queues")  # the dashboard title, unchanged
    forms = [t for t in at.text_input if t.label == "Title"]
    forms[-1].input("Depth of $queue")
    by_label(at.text_input, "Source").input("metric:qms_queue_depth{queue=$queue}")
    ok(by_label(at.button, "Add widget").click().run())
    by_label(at.selectbox, "Kind").select("kpi").run()
    [t for t in at.text_input if t.label == "Title"][-1].input("Deepest queue")
    [t for t in at.text_input if t.label == "Source"][-1].input("promql:max(qms_queue_depth)")
    ok(by_label(at.button, "Add widget").click().run())
    ok(by_label(at.button, "Save dashboard").click().run())
    assert [s.value for s in at.success] == ["Saved Queues (version 1)"]
    assert by_label(at.selectbox, "Dashboard").value == "queues"  # the picker moved to the saved dashboard
    saved = store.get(data, "queues")
    assert saved is not None and saved.version == 1 and saved.owner == "local"
    assert [p.widget.kind for p in saved.dashboard.widgets] == ["trend", "kpi"]
    assert [v.name for v in saved.dashboard.variables] == ["queue"]
    # a new session (a reload) finds it and draws it with the variable's values offered
    again = run_page(d="queues")
    assert not again.error, [e.value for e in again.error]
    picker = by_label(again.selectbox, "$queue")
    assert set(picker.options) == {"review", 'odd"} or up{x="'}
    assert len(again.get("vega_lite_chart")) == 1 and len(again.get("metric")) == 1


def test_a_bad_dashboard_is_not_saved_and_the_field_is_named(data):
    at = run_page()
    by_label(at.button, "New dashboard").click().run()
    by_label(at.text_input, "URL name (slug)").input("Not A Slug").run()
    by_label(at.button, "Save dashboard").click().run()
    assert any("`slug`" in e.value and "Not saved" in e.value for e in at.error), [e.value for e in at.error]
    assert store.visible(data, Viewer.of("x", ["admin"])) == []


def test_a_widget_form_with_a_bad_value_names_the_field(data):
    at = run_page()
    by_label(at.button, "New dashboard").click().run()
    by_label(at.selectbox, "Kind").select("table").run()
    [t for t in at.text_input if t.label == "Title"][-1].input("Rows")
    by_label(at.number_input, "Max rows").set_value(0)
    by_label(at.button, "Add widget").click().run()
    assert any("max_rows" in e.value for e in at.error), [e.value for e in at.error]


def shared_board(engine) -> None:
    dashboard = model.validate(
        {
            "schema_version": 2,
            "slug": "anas",
            "title": "Ana's board",
            "widgets": [{"config": {"kind": "note", "title": "Hi", "text": "Hello **team**"}}],
        }
    )
    store.save(engine, dashboard, Viewer.of("ana", ["developer"]))


def test_another_role_sees_a_dashboard_only_once_shared(data):
    shared_board(data)
    qa = run_page("qa_lead")
    assert qa.selectbox and not by_label(qa.selectbox, "Dashboard").options
    store.share(data, "anas", ["qa_lead"], Viewer.of("ana", ["developer"]))
    qa = run_page("qa_lead")
    assert by_label(qa.selectbox, "Dashboard").options == ["Ana's board (anas)"]
    assert "Hello **team**" in [m.value for m in qa.markdown]
    modes = [option.content for option in qa.get("button_group")[0].proto.options]
    assert modes == ["View", "Import / export"]  # not the owner: no editor, no sharing
    assert not [b for b in qa.button if b.label == "Save dashboard"]


def test_kiosk_shows_only_the_dashboard_and_a_playlist_rotates(data):
    shared_board(data)
    store.share(data, "anas", ["operations"], Viewer.of("ana", ["developer"]))
    at = run_page("operations", kiosk="1", d="anas")
    assert [h.value for h in at.title] == ["Ana's board"]  # the dashboard's title, not the page's
    assert not [b for b in at.button if b.label == "New dashboard"]  # no picker, no editor
    assert any("stSidebar" in m.value for m in at.markdown)  # the chrome-hiding style
    assert "Hello **team**" in [m.value for m in at.markdown]
    missing = run_page("operations", kiosk="1", d="nope")
    assert "No dashboard nope" in missing.info[0].value
    listed = run_page("operations", kiosk="1", playlist="anas,nope", every="10")
    assert [h.value for h in listed.title] == ["Ana's board"]


def test_export_import_through_the_store_keeps_the_dashboard(data):
    shared_board(data)
    saved = store.get(data, "anas")
    assert model.load(model.export(saved.dashboard)) == saved.dashboard
    assert json.loads(model.export(saved.dashboard))["schema_version"] == 2


def test_editor_reorders_duplicates_resizes_and_deletes_widgets(data):
    two = model.validate(
        {
            "schema_version": 2,
            "slug": "two",
            "title": "Two",
            "widgets": [
                {"config": {"kind": "note", "title": "First", "text": "1"}, "grid": {"x": 0, "y": 0, "w": 6}},
                {"config": {"kind": "note", "title": "Second", "text": "2"}, "grid": {"x": 6, "y": 0, "w": 6}},
            ],
        }
    )
    store.save(data, two, Viewer.of("local", ["admin"]))
    at = run_page(d="two")
    at.get("button_group")[0].set_value("Edit").run()
    ok(by_label(at.button, "Move down").click().run())  # the first widget's
    ok(by_label(at.button, "Duplicate").click().run())  # now "Second", at the top
    deletes = [b for b in at.button if b.label == "Delete"]
    assert len(deletes) == 3
    ok(deletes[2].click().run())  # "First", now last
    width = next(n for n in at.number_input if n.label == "Width (columns)")
    width.set_value(12).run()
    ok(by_label(at.button, "Save dashboard").click().run())
    saved = store.get(data, "two")
    assert saved.version == 2
    assert [p.widget.title for p in saved.dashboard.widgets] == ["Second", "Second (copy)"]
    assert saved.dashboard.widgets[0].grid == model.Grid(x=0, y=0, w=12, h=4)
    assert saved.dashboard.widgets[1].grid.y == 1  # the copy goes below the others


def test_an_unknown_or_hidden_dashboard_in_the_url_opens_the_picker_without_an_error(data):
    shared_board(data)  # ana's, not shared
    at = ok(run_page("operations", d="anas"))
    assert by_label(at.selectbox, "Dashboard").options == []
    assert "Hello **team**" not in [m.value for m in at.markdown]
    at = ok(run_page("admin", d="nope"))
    assert by_label(at.selectbox, "Dashboard").value == "anas"
    ok(run_page("operations", kiosk="1", playlist="anas", every="soon"))


def test_a_widget_the_viewer_may_not_see_shows_its_refusal_in_its_own_cell(data):
    now = now_ms()
    ingest(data, Batch((Sample.of("cost_per_task_usd", {"team": "a"}, 1.5, now - MIN),)))
    board = model.validate(
        {
            "schema_version": 2,
            "slug": "costs",
            "title": "Costs",
            "widgets": [
                {"config": {"kind": "trend", "title": "Cost", "source": "metric:cost_per_task_usd"}},
                {"config": {"kind": "note", "title": "Still here", "text": "Other widgets draw."}},
            ],
        }
    )
    owner = Viewer.of("exec", ["executive"])
    store.save(data, board, owner)
    store.share(data, "costs", ["developer"], owner)
    at = run_page("developer", d="costs")
    assert not at.exception
    assert [e.value for e in at.error] and "not allowed" in at.error[0].value
    assert "Other widgets draw." in [m.value for m in at.markdown]


def test_a_dashboard_saved_elsewhere_refuses_the_stale_save_then_reloads(data):
    shared_board(data)
    ana = Viewer.of("ana", ["developer"])
    store.share(data, "anas", [], ana)
    at = run_page("admin", d="anas")
    at.get("button_group")[0].set_value("Edit").run()
    by_label(at.text_input, "Title").input("Admin's title").run()
    newer = store.get(data, "anas").dashboard.model_copy(update={"title": "Ana's newer title"})
    store.save(data, newer, ana, expected_version=1)  # saved in another tab meanwhile
    by_label(at.button, "Save dashboard").click().run()
    assert any("saved by someone else" in e.value for e in at.error), [e.value for e in at.error]
    assert store.get(data, "anas").dashboard.title == "Ana's newer title"
    at.run()  # the next run starts again from the stored version
    assert by_label(at.text_input, "Title").value == "Ana's newer title"


def test_the_named_alerts_source_feeds_an_alert_list(data):
    from core.store import schema
    from core.ui import dashboard_view

    assert "alerts" in w.SOURCES, dashboard_view.NAMED_SOURCES  # the page's view module registers it

    ctx = w.SourceContext(data, window("1h"), {}, Viewer.of("a", ["operations"]))
    assert w.resolve(w.AlertListConfig(title="Alerts", source="alerts"), ctx).is_empty()
    now = now_ms()
    with data.begin() as connection:
        for key, severity, state in (("a", "warning", "firing"), ("b", "critical", "firing"), ("c", "info", "pending")):
            connection.execute(
                schema.alerts.insert().values(
                    fingerprint=key,
                    rule=f"rule_{key}",
                    labels="{}",
                    severity=severity,
                    state=state,
                    active_since=now - 60_000,
                    fired_at=None if state == "pending" else now - 30_000,
                    last_eval_ms=now,
                    summary=f"{key} fires",
                )
            )
    frame = w.resolve(w.AlertListConfig(title="Alerts", source="alerts"), ctx)
    assert frame.columns == ["severity", "state", "rule", "summary", "age_min"]
    assert frame["rule"].to_list() == ["rule_b", "rule_a", "rule_c"]  # firing before pending, worst first
    out = w.build(w.AlertListConfig(title="Alerts", source="alerts", severities=["critical", "warning"]), frame)
    assert out.frame["rule"].to_list() == ["rule_b", "rule_a"]
