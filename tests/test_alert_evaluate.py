"""The state machine with a synthetic clock: pending, firing, resolved, flapping,
keep_firing_for, hysteresis, no data."""

from __future__ import annotations

import pytest

from core.alerts.evaluate import AlertState, evaluate_rule
from core.alerts.kinds import Observation
from core.alerts.rules import Rule

S = 1000


def rule(**extra: object) -> Rule:
    return Rule.model_validate({"name": "q", "selector": "qms_queue_depth", "threshold": 15, "for": "1m", **extra})


def run(r: Rule, values: list[float | None], step_s: int = 15) -> list[str]:
    """Evaluate once per value (None: no data at all) and return the state after each evaluation."""
    states: dict[str, AlertState] = {}
    out = []
    for i, value in enumerate(values):
        seen = [] if value is None else [Observation({"queue": "a"}, value, value > 15, value <= 15 - r.hysteresis)]
        states, _ = evaluate_rule(r, seen, states, i * step_s * S)
        out.append(next(iter(states.values())).state if states else "none")
    return out


def test_pending_until_for_elapses_then_firing_then_resolved() -> None:
    assert run(rule(), [20, 20, 20, 20, 20, 5]) == ["pending", "pending", "pending", "pending", "firing", "resolved"]


def test_for_must_hold_continuously() -> None:
    assert run(rule(), [20, 20, 20, 5, 20, 20, 20, 20]) == ["pending"] * 3 + ["inactive"] + ["pending"] * 4


def test_zero_for_fires_at_once() -> None:
    assert run(rule(**{"for": "0s"}), [20, 5]) == ["firing", "resolved"]


def test_keep_firing_for_rides_out_brief_recoveries() -> None:
    # the condition was last seen at 30 s; the alert stays firing until 30 s after that
    states = run(rule(**{"for": "0s", "keep_firing_for": "30s"}), [20, 5, 20, 5, 5, 5])
    assert states == ["firing", "firing", "firing", "firing", "resolved", "resolved"]


def test_hysteresis_needs_a_clear_value_to_resolve() -> None:
    states = run(rule(**{"for": "0s", "hysteresis": 3}), [20, 14, 13, 11])
    assert states == ["firing", "firing", "firing", "resolved"]


@pytest.mark.parametrize(("mode", "expected"), [("ok", "resolved"), ("alerting", "firing"), ("keep", "firing")])
def test_no_data_modes_for_a_firing_alert(mode: str, expected: str) -> None:
    assert run(rule(**{"for": "0s", "no_data": mode}), [20, None, None])[-1] == expected


def test_no_data_alerting_raises_a_nodata_alert_when_nothing_was_ever_seen() -> None:
    states, transitions = evaluate_rule(rule(**{"for": "0s", "no_data": "alerting"}), [], {}, 0)
    (alert,) = states.values()
    assert alert.state == "firing" and dict(alert.labels)["alertstate"] == "nodata"
    assert [(t.from_state, t.to_state) for t in transitions] == [("inactive", "firing")]


def test_a_label_set_that_disappears_resolves_while_others_report() -> None:
    r = rule(**{"for": "0s", "no_data": "keep"})
    both = [Observation({"queue": "a"}, 20, True, False), Observation({"queue": "b"}, 20, True, False)]
    states, _ = evaluate_rule(r, both, {}, 0)
    states, _ = evaluate_rule(r, both[1:], states, 15 * S)
    assert sorted(s.state for s in states.values()) == ["firing", "resolved"]


def test_one_alert_per_rule_and_label_set() -> None:
    seen = [Observation({"queue": "a"}, 20, True, False)] * 2 + [Observation({"queue": "b"}, 20, True, False)]
    states, _ = evaluate_rule(rule(), seen, {}, 0)
    assert len(states) == 2
    labels = {dict(s.labels)["queue"]: dict(s.labels) for s in states.values()}
    assert labels["a"]["alertname"] == "q" and labels["a"]["severity"] == "warning"
