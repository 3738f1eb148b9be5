"""The role pages' panels as shipped dashboard definitions, and admins' levels on top (SQLite and Postgres):
adjusting is admin-only, versioned and audited, a bad level is refused with its field named, the pages draw
with the levels in force, and the reserved ``builtin-`` slugs are neither listed nor taken by people or files."""

from __future__ import annotations

import json
import math

import pytest
from streamlit.testing.v1 import AppTest

from core.auth import audit
from core.auth.access import Viewer
from core.config import ROOT
from core.dashboards import builtin, model, store
from core.dashboards.kinds import Thresholds
from core.dashboards.provision import provision

ADMIN = Viewer.of("root", ["admin"])
ANA = Viewer.of("ana", ["developer"])


@pytest.mark.parametrize("page", builtin.PAGES)
def test_every_page_ships_a_valid_definition_with_unique_ids(page):
    shipped = builtin.shipped(page)
    ids = [p.widget.key for p in shipped.widgets]
    assert shipped.slug == f"builtin-{page}" and len(ids) == len(set(ids)) >= 1
    assert any(p.widget.thresholds != Thresholds() for p in shipped.widgets), "a page with nothing to adjust"


def test_an_unknown_page_is_named():
    with pytest.raises(KeyError, match="no built-in panels for 'sla'"):
        builtin.shipped("sla")


def test_without_a_stored_copy_the_shipped_levels_hold(engine):
    levels = {key: config.thresholds for key, config in builtin.panels(engine, "executive").items()}
    assert levels["quality-score"] == Thresholds(warning=85, critical=70, higher_is_worse=False)
    assert levels["false-positive-rate"] == Thresholds(warning=10, critical=20)
    assert builtin.stored_levels(engine, "executive") == ({}, None)


def test_an_admin_adjusts_levels_in_versions_and_each_change_is_audited(engine):
    tighter = Thresholds(warning=95, critical=90, higher_is_worse=False)
    assert builtin.adjust(engine, "executive", {"quality-score": tighter}, ADMIN, expected_version=None) == 1
    panels = builtin.panels(engine, "executive")
    assert panels["quality-score"].thresholds == tighter
    assert panels["quality-score"].title == "Quality score"  # wording stays the shipped one
    assert panels["false-positive-rate"].thresholds == Thresholds(warning=10, critical=20)  # untouched
    looser = Thresholds(warning=15, critical=30)
    assert builtin.adjust(engine, "executive", {"false-positive-rate": looser}, ADMIN, expected_version=1) == 2
    panels = builtin.panels(engine, "executive")
    assert (panels["quality-score"].thresholds, panels["false-positive-rate"].thresholds) == (tighter, looser)
    with pytest.raises(store.Conflict, match="version 2, you started from 1"):
        builtin.adjust(engine, "executive", {"quality-score": tighter}, ADMIN, expected_version=1)
    rows = audit.entries(engine, actions=(audit.DASHBOARD_CHANGED,))
    details = [json.loads(d) if isinstance(d, str) else d for d in rows["detail"]]
    assert [d["version"] for d in details] == [2, 1] and set(rows["target"]) == {"builtin-executive"}
    assert details[0]["levels"]["false-positive-rate"] == {"warning": 15.0, "critical": 30.0, "higher_is_worse": True}
    assert set(rows["actor"]) == {"root"}


def test_only_admins_adjust_levels(engine):
    with pytest.raises(store.Refused, match="admins only"):
        builtin.adjust(engine, "overview", {}, ANA, expected_version=None)
    assert builtin.stored_levels(engine, "overview") == ({}, None)


@pytest.mark.parametrize(
    ("panel", "levels", "field", "message"),
    [
        ("quality-score", Thresholds(warning=70, critical=85, higher_is_worse=False), "critical", "at or below"),
        ("false-positive-rate", Thresholds(warning=20, critical=10), "critical", "at or above"),
        ("false-positive-rate", Thresholds(warning=math.nan), "warning", "finite"),
        ("false-positive-rate", Thresholds(critical=math.inf), "critical", "finite"),
        ("quality-score", Thresholds(warning=90), "higher_is_worse", "fixed by the panel"),
    ],
)
def test_a_bad_level_is_refused_with_its_field_named_and_nothing_is_stored(engine, panel, levels, field, message):
    index = [p.widget.key for p in builtin.shipped("executive").widgets].index(panel)
    with pytest.raises(model.DashboardError) as refused:
        builtin.adjust(engine, "executive", {panel: levels}, ADMIN, expected_version=None)
    assert [(f, m) for f, m in refused.value.problems if message in m] == [
        (f"widgets[{index}].config.thresholds.{field}", next(m for _, m in refused.value.problems if message in m))
    ]
    assert builtin.stored_levels(engine, "executive") == ({}, None)


def test_a_panel_the_page_does_not_have_is_named(engine):
    with pytest.raises(model.DashboardError) as refused:
        builtin.adjust(engine, "overview", {"no-such-panel": Thresholds(warning=1)}, ADMIN, expected_version=None)
    assert refused.value.problems == [("thresholds.no-such-panel", "overview has no panel 'no-such-panel'")]


def test_reset_returns_to_the_shipped_levels(engine):
    builtin.adjust(engine, "overview", {"health-score": Thresholds(warning=99, critical=98, higher_is_worse=False)},
                   ADMIN, expected_version=None)  # fmt: skip
    with pytest.raises(store.Refused):
        builtin.reset(engine, "overview", ANA)
    builtin.reset(engine, "overview", ADMIN)
    assert builtin.panels(engine, "overview")["health-score"].thresholds.warning == 85
    assert builtin.stored_levels(engine, "overview") == ({}, None)


def test_a_stored_copy_from_another_release_only_lends_its_levels(engine):
    """A stored level for a panel this release dropped is ignored; a panel it added keeps its shipped level."""
    old = builtin.shipped("overview").model_dump(mode="json")
    old["widgets"] = [w for w in old["widgets"] if w["config"]["id"] != "gate-pass-rate"]
    old["widgets"].append(
        {"config": {"kind": "kpi", "id": "retired", "title": "Retired", "thresholds": {"warning": 1}}}
    )
    old["widgets"][0]["config"]["title"] = "Old wording"
    old["widgets"][0]["config"]["thresholds"]["warning"] = 90.0
    store.put_builtin(engine, model.validate(old), ADMIN, expected_version=None)
    panels = builtin.panels(engine, "overview")
    assert "retired" not in panels
    assert panels["health-score"].title == "Health score" and panels["health-score"].thresholds.warning == 90
    assert panels["gate-pass-rate"].thresholds.warning == 90  # shipped
    assert builtin.adjust(engine, "overview", {}, ADMIN, expected_version=1) == 2  # the dropped id is left behind


def test_reserved_slugs_are_not_listed_nor_taken_by_people_or_files(engine, tmp_path):
    builtin.adjust(engine, "overview", {}, ADMIN, expected_version=None)
    assert all(not s.slug.startswith("builtin-") for s in store.visible(engine, ADMIN))
    mine = builtin.shipped("overview").model_copy(update={"slug": "builtin-mine"})
    with pytest.raises(store.Conflict, match="reserved"):
        store.save(engine, mine, ANA)
    (tmp_path / "x.json").write_text(model.export(mine))
    report = provision(engine, tmp_path)
    assert report.changes == {} and "reserved" in " ".join(str(p) for p in report.problems)
    assert store.get(engine, "builtin-mine") is None


@pytest.fixture
def demo_store(app_store):
    from collectors.demo import BACKFILL_STEP, DemoCollector, DemoWorkload
    from core.model import now_ms
    from core.store.rollup import run_rollup

    collector, now = DemoCollector(app_store), now_ms()
    collector.workload = DemoWorkload(7, now)
    collector.generate(now - 2 * 86_400_000, now, BACKFILL_STEP)
    run_rollup(app_store, now)
    return app_store


def test_the_executive_page_draws_with_the_levels_an_admin_set(demo_store):
    def quality_label() -> str:
        at = AppTest.from_file(str(ROOT / "pages" / "executive.py"), default_timeout=120)
        at.run()
        assert not at.exception, [e.value for e in at.exception]
        return next(m.label for m in at.metric if m.label.startswith("Quality score"))

    assert quality_label() in ("Quality score", "Quality score · warning", "Quality score · critical")
    impossible = Thresholds(warning=1_001, critical=1_000, higher_is_worse=False)  # no score reaches 1000 %
    builtin.adjust(demo_store, "executive", {"quality-score": impossible}, ADMIN, expected_version=None)
    assert quality_label() == "Quality score · critical"


def test_the_dashboards_page_offers_the_editor_to_admins_only(app_store):
    def run(role: str) -> AppTest:
        at = AppTest.from_file(str(ROOT / "pages" / "dashboards.py"), default_timeout=120)
        at.session_state["role"] = role
        at.run()
        assert not at.exception, [e.value for e in at.exception]
        return at

    admin = run("admin")
    assert any(e.label == "Built-in thresholds of the role pages" for e in admin.expander)
    admin.selectbox(key="builtin-page").set_value("overview").run()
    admin.button(key="builtin-save").click().run()  # the table as shown: stored as version 1
    assert builtin.stored_levels(app_store, "overview")[1] == 1
    assert any("Saved the overview levels (version 1)" in s.value for s in admin.success)
    assert not any(e.label == "Built-in thresholds of the role pages" for e in run("developer").expander)
