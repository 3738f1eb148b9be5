"""Rule validation, YAML import/export of the defaults, and documentation of every rule field."""

from __future__ import annotations

from pathlib import Path

import pytest
from sqlalchemy.engine import Engine

from core.alerts import store
from core.alerts.kinds import KINDS
from core.alerts.rules import Rule, dump_yaml, format_duration, load_yaml, parse_duration, parse_rule, render
from core.config import ROOT

DEFAULTS = (ROOT / "alert_rules.yaml").read_text()


@pytest.mark.parametrize(
    ("text", "seconds"), [("30s", 30), ("5m", 300), ("1h30m", 5400), ("7d", 604_800), (90, 90), ("250ms", 0.25)]
)
def test_durations(text: str | int, seconds: float) -> None:
    assert parse_duration(text) == seconds
    assert parse_duration(format_duration(seconds)) == seconds


def test_defaults_cover_the_specification_and_round_trip() -> None:
    rules = load_yaml(DEFAULTS)
    names = {r.name for r in rules}
    assert {
        "high_queue_depth",
        "workflow_failure_rate_high",
        "agent_overload",
        "agent_down",
        "quality_score_drop",
        "critical_defect_detected",
        "api_error_rate_high",
        "api_error_rate_critical",
        "api_latency_p95_slow",
        "memory_high",
        "memory_critical",
        "connection_pool_exhaustion",
        "migration_success_rate_low",
        "migration_behind_schedule",
        "compliance_drop",
    } <= names
    queue = next(r for r in rules if r.name == "high_queue_depth")
    assert (queue.op, queue.threshold, queue.for_, queue.severity) == (">", 15, 300, "warning")
    assert {r.kind for r in rules} == {k.name for k in KINDS}
    assert load_yaml(dump_yaml(rules)) == rules


@pytest.mark.parametrize(
    ("change", "reason"),
    [
        ({"threshold": None}, "a threshold rule needs a threshold"),
        ({"selector": "cpu{host=}"}, "expected a quoted value"),
        ({"kind": "magic"}, "unknown rule kind 'magic'"),
        ({"for": "five minutes"}, "expected a duration"),
        ({"severity": "page"}, "severity"),
        ({"summary": "{{ valeu }}"}, "unknown template field"),
        ({"kind": "anomaly", "detector": "crystal-ball"}, "unknown anomaly detector"),
        ({"kind": "anomaly", "sensitivity": "extreme"}, "sensitivity must be one of low, medium, high or a number"),
        ({"kind": "anomaly", "sensitivity": 1.5}, "sensitivity must be one of low, medium, high or a number"),
        ({"kind": "forecast", "op": "=="}, "a forecast rule needs a threshold and one of"),
        ({"labels": {"severity": "x"}}, "bad label name"),
    ],
)
def test_a_bad_rule_is_refused_with_the_reason(change: dict[str, object], reason: str) -> None:
    with pytest.raises(ValueError, match=reason):
        parse_rule({"name": "r", "selector": "cpu_percent", "threshold": 1} | change)


def test_import_refuses_the_whole_file_naming_each_bad_rule(engine: Engine) -> None:
    text = (
        "rules:\n"
        "  - {name: good, selector: up, threshold: 1}\n"
        "  - {name: bad, selector: up}\n"
        "  - {name: good, selector: up, threshold: 2}\n"
    )
    with pytest.raises(ValueError) as refused:
        store.import_rules(engine, text, "alice")
    message = str(refused.value)
    assert "rule 'bad'" in message and "needs a threshold" in message and "used twice" in message
    assert store.load_rules(engine) == []


def test_import_then_export_keeps_the_rules(engine: Engine) -> None:
    imported = store.import_rules(engine, DEFAULTS, "alice")
    assert store.load_rules(engine) == sorted(imported, key=lambda r: r.name)
    assert load_yaml(dump_yaml(store.load_rules(engine))) == store.load_rules(engine)


def test_summary_template() -> None:
    rule = parse_rule(
        {
            "name": "r",
            "selector": "up",
            "threshold": 1,
            "summary": "{{ labels.host }}: {{ value }} {{ op }} {{ threshold }}",
        }
    )
    assert render(rule.summary, {"value": 0.123456, "op": "<", "threshold": 1.0}, {"host": "a"}) == "a: 0.1235 < 1"


def test_every_rule_field_and_alert_setting_is_documented() -> None:
    docs = (ROOT / "docs" / "alerting.md").read_text()
    for name, field in Rule.model_fields.items():
        assert f"`{field.alias or name}`" in docs, f"rule field {field.alias or name} missing from docs/alerting.md"
    from core.config import Settings

    for name in Settings.model_fields:
        if name.startswith(("alert_", "smtp_")):
            assert f"`{name}`" in docs, f"setting {name} missing from docs/alerting.md"


def test_seed_loads_defaults_once(engine: Engine, tmp_path: Path) -> None:
    assert store.seed_defaults(engine, ROOT / "alert_rules.yaml") == len(load_yaml(DEFAULTS))
    assert store.seed_defaults(engine, ROOT / "alert_rules.yaml") == 0


def test_rule_kinds_registry_validates_the_rule_model() -> None:
    assert isinstance(
        parse_rule({"name": "a", "kind": "anomaly", "selector": "x", "window": "5m", "lookback": "1d"}), Rule
    )


@pytest.mark.parametrize(("given", "stored"), [("high", "high"), ("LOW", "low"), (0.3, 0.3), ("0.7", 0.7)])
def test_anomaly_sensitivity_takes_a_preset_or_a_number_and_round_trips(given: object, stored: object) -> None:
    rule = parse_rule({"name": "a", "kind": "anomaly", "selector": "x", "sensitivity": given})
    assert rule.sensitivity == stored
    assert load_yaml(dump_yaml([rule])) == [rule]
    assert parse_rule({"name": "a", "kind": "anomaly", "selector": "x"}).sensitivity == "medium"
