"""The dashboard document: validation naming the field, export → import round trips, older versions upgrade,
and variables substituted as literals that cannot add matchers (hypothesis)."""

from __future__ import annotations

import json

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from core.config import get_settings
from core.dashboards import model
from core.dashboards.kinds import CONFIGS
from core.dashboards.sources import selectors_in
from core.dashboards.variables import VariableError, substitute
from core.query import promql
from core.query.selectors import Matcher, Selector, parse_selector

FULL = {
    "schema_version": 2,
    "slug": "ops-wall",
    "title": "Ops wall",
    "description": "Queues and hosts",
    "time": {"range": "6h", "refresh_s": 30},
    "variables": [{"name": "host", "label": "host", "metric": "cpu_usage_percent", "default": "web-1"}],
    "widgets": [
        {
            "config": {
                "kind": "trend",
                "title": "CPU on $host",
                "source": "metric:cpu_usage_percent{host=$host}",
                "thresholds": {"warning": 80, "critical": 95},
                "unit": "%",
            },
            "grid": {"x": 0, "y": 0, "w": 8, "h": 4},
        },
        {
            "config": {"kind": "kpi", "title": "Load", "source": "promql:avg(system_load1{host=$host})"},
            "grid": {"x": 8, "y": 0, "w": 4, "h": 2},
        },
        {"config": {"kind": "note", "title": "Runbook", "text": "Restart **the agent**."}, "grid": {"y": 1, "w": 12}},
    ],
}


def problems(document) -> dict[str, str]:
    with pytest.raises(model.DashboardError) as caught:
        model.validate(document)
    return dict(caught.value.problems)


def test_export_then_import_gives_an_identical_dashboard():
    dashboard = model.validate(FULL)
    text = model.export(dashboard)
    assert json.loads(text)["schema_version"] == model.SCHEMA_VERSION
    again = model.load(text)
    assert again == dashboard
    assert model.export(again) == text


def test_invalid_configs_are_rejected_with_the_field_named():
    bad = json.loads(json.dumps(FULL))
    bad["widgets"][0]["config"]["thresholds"]["warning"] = "high"
    bad["widgets"][1]["config"]["kind"] = "radar"
    bad["widgets"][2]["grid"] = {"x": 6, "w": 8}
    bad["widgets"].append({"config": {"kind": "table", "title": "T", "max_rows": 0}})
    bad["widgets"].append({"config": {"kind": "trend", "title": "T2", "colour": "red"}})
    found = problems(bad)
    assert "valid number" in found["widgets[0].config.thresholds.warning"]
    assert "unknown widget kind" in found["widgets[1].config.kind"]
    assert "does not fit in 12 columns" in found["widgets[2].grid"]
    assert "greater than or equal to 1" in found["widgets[3].config.max_rows"]
    assert "Extra inputs" in found["widgets[4].config.colour"]


def test_consistency_problems_name_the_field():
    doc = json.loads(json.dumps(FULL))
    doc["variables"].append(dict(doc["variables"][0]))
    doc["widgets"][1]["config"]["source"] = "metric:q{queue=$queue}"
    doc["widgets"][2]["config"]["title"] = "CPU on $host"  # same key as widget 0
    found = problems(doc)
    assert found["variables[1].name"] == "$host is defined twice"
    assert found["widgets[1].config.source"] == "$queue is not a variable of this dashboard"
    assert "used twice" in found["widgets[2].config.id"]
    untitled = FULL | {"widgets": [{"config": {"kind": "kpi", "title": " "}}]}
    assert problems(untitled) == {"widgets[0].config.title": "give the widget a title"}
    doc = json.loads(json.dumps(FULL))
    doc["widgets"][0]["config"]["source"] = "metric:cpu{host=$host"
    doc["widgets"][1]["config"]["source"] = "promql:sum(rate(x[5m])"
    found = problems(doc)
    assert "bad selector" in found["widgets[0].config.source"]
    assert "parse error" in found["widgets[1].config.source"]
    assert "slug" in problems(FULL | {"slug": "Bad Slug!"})
    assert "variables[0].name" in problems(FULL | {"variables": [{"name": "9x", "label": "a", "metric": "m"}]})
    assert problems([1]) == {"": "a dashboard is a JSON object"}
    with pytest.raises(model.DashboardError, match="not JSON"):
        model.load("{oops")


def test_a_version_1_document_upgrades_and_a_future_one_is_refused():
    v1 = {
        "slug": "old",
        "title": "Old export",
        "range": "7d",
        "widgets": [{"kind": "gauge", "title": "Disk", "source": "metric:disk_used_percent", "x": 6, "w": 6, "h": 3}],
    }
    dashboard = model.validate(v1)
    assert dashboard.time.range == "7d"
    assert dashboard.widgets[0].grid == model.Grid(x=6, y=0, w=6, h=3)
    assert dashboard.widgets[0].widget.kind == "gauge"
    assert model.validate(json.loads(model.export(dashboard))) == dashboard
    assert "newer" in problems(FULL | {"schema_version": 99})["schema_version"]


@pytest.mark.parametrize("kind", sorted(CONFIGS))
def test_every_kind_is_accepted_in_a_dashboard_with_a_minimal_config(kind):
    dashboard = model.validate(
        {"schema_version": 2, "slug": "k", "title": "K", "widgets": [{"config": {"kind": kind, "title": kind}}]}
    )
    assert dashboard.widgets[0].widget.kind == kind


LABEL_VALUES = st.text(max_size=40)


@settings(max_examples=300, deadline=None)
@given(LABEL_VALUES)
def test_any_label_value_substitutes_as_one_literal_matcher(value):
    for template in ("cpu{host=$host}", 'cpu{host="$host"}', "cpu{host='$host'}"):
        selector = parse_selector(substitute(template, {"host": value}))
        assert selector == Selector("cpu", (Matcher("host", "=", value),))


@settings(max_examples=200, deadline=None)
@given(LABEL_VALUES)
def test_a_value_in_a_regex_matcher_matches_exactly_itself(value):
    selector = parse_selector(substitute("cpu{host=~$host, env!=$host}", {"host": value}))
    assert [m.label for m in selector.matchers] == ["host", "env"]
    assert selector.matchers[0].matches(value)
    assert not selector.matchers[0].matches(value + "x")
    assert selector.matchers[1] == Matcher("env", "!=", value)


@settings(max_examples=200, deadline=None)
@given(LABEL_VALUES)
def test_promql_queries_get_the_value_as_a_literal_too(value):
    tree = promql.parse(substitute('sum(rate(http_requests_total{host=$host, job="api"}[5m]))', {"host": value}))
    (node,) = selectors_in(tree)
    selector = promql.selector_of(node, get_settings())
    assert selector.name == "http_requests_total"
    assert sorted((m.label, m.op, m.value) for m in selector.matchers) == sorted(
        [("host", "=", value), ("job", "=", "api")]
    )


def test_injection_attempts_stay_inside_the_value():
    attack = 'x"} or up{job=~".*'
    text = substitute("cpu{host=$host}", {"host": attack})
    assert parse_selector(text).matchers == (Matcher("host", "=", attack),)


def test_unknown_variables_and_backticks_are_refused():
    with pytest.raises(VariableError, match=r"unknown variable \$queue"):
        substitute("q{queue=$queue}", {"host": "a"})
    with pytest.raises(VariableError, match="backtick"):
        substitute("q{queue=`$host`}", {"host": "a"})
    assert substitute("no variables", {}) == "no variables"
