"""Quality gate thresholds: validation naming the field, versioned and audited saves, permission, evaluation by hand."""

from __future__ import annotations

import json
import math

import polars as pl
import pytest
import sqlalchemy as sa
from alembic import command
from hypothesis import given
from hypothesis import strategies as st

from core.auth import audit
from core.auth.access import NotAllowed, Viewer
from core.kpis import gate_thresholds as gt
from core.kpis.quality_gates import (
    BUILT_IN,
    Thresholds,
    check_value,
    evaluate,
    gate_metric_runs,
    latest_by_project,
    parse_scope,
    thresholds_for,
)
from core.store import schema
from core.store.migrate import alembic_config, current_revision, upgrade

QA = Viewer.of("quinn", ["qa_lead"])
ADMIN = Viewer.of("ada", ["admin"])
DEV = Viewer.of("dev", ["developer"])
OPS = Viewer.of("otto", ["operations"])
LIMITS = {"coverage_min": 80, "pass_rate_min": 95, "defect_density_max": 1.5, "review_score_min": 0.8}


# --- pure evaluation, expected values worked out by hand ------------------------------------------------------------


def test_a_run_meeting_every_threshold_passes():
    t = Thresholds("*", 80, 95, 1.5, 0.8)
    result = evaluate(
        {"coverage_percentage": 80.0, "pass_rate_percentage": 97.5, "defect_density": 1.5, "review_score": 0.8}, t
    )
    assert (result.passed, result.failed) == (True, ())  # bounds are inclusive: 80 >= 80, 1.5 <= 1.5, 0.8 >= 0.8


def test_each_missed_criterion_is_named_with_value_and_bound():
    t = Thresholds("project:org/a", 80, 95, 1.5, 0.8)
    result = evaluate(
        {"coverage_percentage": 79.9, "pass_rate_percentage": 96, "defect_density": 2.25, "review_score": 0.9}, t
    )
    assert result.passed is False
    assert result.failed == ("coverage 79.9 < 80", "defect density 2.25 > 1.5")
    assert result.scope == "project:org/a"


def test_unset_threshold_and_unreported_metric_are_not_checked():
    t = Thresholds("*", coverage_min=None, pass_rate_min=95)
    assert evaluate({"coverage_percentage": 1.0}, t).passed is None  # coverage not checked, pass rate not reported
    assert evaluate({"coverage_percentage": 1.0, "pass_rate_percentage": 94.0}, t).failed == ("pass rate 94 < 95",)


def test_review_score_falls_back_to_the_gate_score_and_ignores_non_numbers():
    t = Thresholds("*", review_score_min=0.8)
    assert evaluate({"score": 0.79}, t).failed == ("review score 0.79 < 0.8",)
    assert evaluate({"review_score": 0.85, "score": 0.1}, t).passed is True  # review_score wins
    assert evaluate({"review_score": "high", "score": True}, t).passed is None


def test_most_specific_scope_decides_as_a_whole_set():
    current = {
        "*": Thresholds("*", 80, 95, 1.0, 0.8),
        "team:payments": Thresholds("team:payments", 90),
        "project:org/web": Thresholds("project:org/web", 60),
    }
    assert thresholds_for(current, "org/web", "payments").scope == "project:org/web"
    assert thresholds_for(current, "org/api", "payments").scope == "team:payments"
    assert thresholds_for(current, "org/api", None).scope == "*"
    assert thresholds_for({}, "org/api", None) == BUILT_IN
    # the team set leaves the review score empty, so a low score does not fail a payments run
    assert evaluate({"score": 0.1, "coverage_percentage": 91}, current["team:payments"]).passed is True


@pytest.mark.parametrize(
    ("key", "raw", "message"),
    [
        ("coverage_min", "120", "coverage_min: coverage must be 0–100 %"),
        ("coverage_min", -1, "coverage_min: coverage must be 0–100 %"),
        ("pass_rate_min", "lots", r"pass_rate_min: pass rate must be a number \(0–100\)"),
        ("defect_density_max", "-0.5", "defect_density_max: defect density must be at least 0"),
        ("review_score_min", "1.2", "review_score_min: review score must be 0–1"),
        ("review_score_min", "nan", "review_score_min: review score must be 0–1"),
    ],
)
def test_bad_values_name_the_field_and_its_range(key, raw, message):
    with pytest.raises(ValueError, match=message):
        check_value(key, raw)


@given(st.text(max_size=30))
def test_scope_parser_accepts_only_its_three_forms(text):
    try:
        scope = parse_scope(text)
    except ValueError as error:
        assert str(error).startswith("scope: ")
        return
    assert scope == "*" or scope.split(":", 1)[0] in ("project", "team")
    assert parse_scope(scope) == scope


@given(st.one_of(st.floats(allow_nan=True, allow_infinity=True), st.text(max_size=8)))
def test_threshold_parser_returns_a_value_in_range_or_names_the_field(raw):
    try:
        value = check_value("coverage_min", raw)
    except ValueError as error:
        assert str(error).startswith("coverage_min: ")
        return
    assert value is None or (math.isfinite(value) and 0 <= value <= 100)


def _gate(i, project, ts, metrics, gate="code-coverage-gate", kind="passed", team=None):
    data = {"workflow_id": f"WF-{i}", "gate_name": gate, "attempt": 1, "repository": project, "metrics": metrics}
    if team:
        data["team"] = team
    return (f"e{i}-{kind}", f"workflow.quality_gate_{kind}", ts, "qms", json.dumps(data))


def _events(rows):
    columns = {"id": pl.String, "type": pl.String, "ts": pl.Int64, "source": pl.String, "data": pl.String}
    return pl.DataFrame(rows, schema=columns, orient="row")


def test_latest_evaluation_per_project_against_its_thresholds():
    events = _events(
        [
            _gate(1, "org/a", 1_000, {"coverage_percentage": 85.0, "score": 0.9}),
            _gate(1, "org/a", 1_000, {"coverage_percentage": 85.0, "score": 0.9}, kind="executed"),  # same run
            _gate(2, "org/a", 2_000, {"coverage_percentage": 70.0, "score": 0.95}),
            _gate(3, "org/a", 3_000, {"score": 0.9}, gate="docs-gate"),
            _gate(4, "org/b", 1_500, {"coverage_percentage": 70.0, "score": 0.5}),
            _gate(5, "org/c", 1_500, {"execution_time": 3.0}, team="payments"),
        ]
    )
    runs = gate_metric_runs(events)
    assert runs.height == 5  # the executed copy of run 1 counts once
    current = {"*": Thresholds("*", 80, None, None, 0.8), "project:org/b": Thresholds("project:org/b", 65)}
    table = latest_by_project(runs, current)
    rows = {r["project"]: r for r in table.iter_rows(named=True)}
    # org/a: newest coverage 70 (run 2) < 80 fails; newest score 0.9 (run 3) >= 0.8 holds; 1 of 3 runs failed
    assert rows["org/a"]["result"] == "fail"
    assert rows["org/a"]["failed"] == "coverage 70 < 80"
    assert (rows["org/a"]["runs"], rows["org/a"]["runs_failing_pct"]) == (3, 33.3)
    # org/b: its own scope checks only coverage >= 65, so 70 passes and the 0.5 score is not judged
    assert (rows["org/b"]["scope"], rows["org/b"]["result"], rows["org/b"]["failed"]) == ("project:org/b", "pass", "")
    # org/c: reported none of the criteria
    assert (rows["org/c"]["result"], rows["org/c"]["team"], rows["org/c"]["runs"]) == ("no data", "payments", 0)
    assert table["project"].to_list() == ["org/a", "org/b", "org/c"]  # failing first


# --- the store: permission, versions, audit --------------------------------------------------------------------------


def test_qa_lead_saves_versions_and_each_change_is_audited(engine):
    assert gt.current_thresholds(engine) == {"*": BUILT_IN}
    first = gt.save_thresholds(engine, QA, "project:org/a", LIMITS, "release train", address="10.0.0.7")
    second = gt.save_thresholds(engine, ADMIN, "project:org/a", LIMITS | {"coverage_min": "85"}, "raise")
    assert (first.version, second.version) == (1, 2)
    now = gt.current_thresholds(engine)
    assert now["project:org/a"].coverage_min == 85.0
    assert now["project:org/a"].changed_by == "ada"
    assert list(now) == ["*", "project:org/a"]
    hist = gt.history(engine, "project:org/a")
    assert hist.select("version", "coverage_min", "changed_by", "note").rows() == [
        (2, 85.0, "ada", "raise"),
        (1, 80.0, "quinn", "release train"),
    ]
    entries = audit.entries(engine, actions=(audit.GATE_THRESHOLDS_CHANGED,))
    assert entries.height == 2
    oldest = entries.row(1, named=True)
    assert (oldest["actor"], oldest["target"], oldest["address"]) == ("quinn", "project:org/a", "10.0.0.7")
    detail = oldest["detail"] if isinstance(oldest["detail"], dict) else json.loads(oldest["detail"])
    assert detail["version"] == 1 and detail["coverage_min"] == 80.0 and detail["op"] == "save"


def test_removing_a_scope_is_a_version_and_the_default_stays(engine):
    gt.save_thresholds(engine, QA, "team:payments", {"coverage_min": 90})
    gt.remove_scope(engine, QA, "team:payments", "team merged")
    assert "team:payments" not in gt.current_thresholds(engine)
    assert gt.history(engine, "team:payments")["removed"].to_list() == [True, False]
    with pytest.raises(ValueError, match=r"scope: the default \* cannot be removed"):
        gt.remove_scope(engine, QA, "*")
    gt.save_thresholds(engine, QA, "*", {"coverage_min": 50})
    assert gt.current_thresholds(engine)["*"].coverage_min == 50.0
    assert gt.current_thresholds(engine)["*"].pass_rate_min is None  # a saved default replaces the built-in whole


@pytest.mark.parametrize("viewer", [DEV, OPS, None])
def test_people_without_the_permission_are_refused_and_nothing_is_written(engine, viewer):
    with pytest.raises(NotAllowed, match="manage_quality_gates"):
        gt.save_thresholds(engine, viewer, "*", {"coverage_min": 10})
    with pytest.raises(NotAllowed, match="manage_quality_gates"):
        gt.remove_scope(engine, viewer, "team:x")
    assert gt.history(engine).is_empty()
    assert audit.entries(engine, actions=(audit.GATE_THRESHOLDS_CHANGED,)).is_empty()


def test_a_bad_value_saves_nothing_and_names_the_field(engine):
    with pytest.raises(ValueError, match="coverage_min: coverage must be 0–100"):
        gt.save_thresholds(engine, QA, "*", LIMITS | {"coverage_min": 101})
    with pytest.raises(ValueError, match="scope: "):
        gt.save_thresholds(engine, QA, "repo:org/a", LIMITS)
    with pytest.raises(ValueError, match="speed: not a threshold"):
        gt.save_thresholds(engine, QA, "*", {"speed": 3})
    assert gt.history(engine).is_empty()


# --- the migration ---------------------------------------------------------------------------------------------------


def test_migration_0015_up_and_down_keeps_earlier_tables(empty_engine):
    upgrade(empty_engine, "0014")
    upgrade(empty_engine, "0015")
    config = alembic_config()
    with empty_engine.begin() as connection:
        assert current_revision(connection) == "0015"
        connection.execute(
            schema.quality_gate_thresholds.insert().values(
                scope="*", version=1, coverage_min=70.0, removed=False, note="", changed_by="t", changed_ms=1
            )
        )
    assert gt.current_thresholds(empty_engine)["*"].coverage_min == 70.0
    with empty_engine.begin() as connection:
        config.attributes["connection"] = connection
        command.downgrade(config, "0014")
    with empty_engine.connect() as connection:
        tables = set(sa.inspect(connection).get_table_names())
        assert current_revision(connection) == "0014"
    assert "quality_gate_thresholds" not in tables and "dashboards" in tables
    upgrade(empty_engine)
    assert gt.current_thresholds(empty_engine) == {"*": BUILT_IN}
