"""The QSE recording rules from crafted events, and the default QSE alert rules firing on a real store.

Expected values are worked out in the comments; the raw-input scenarios for the three alert rules
(session scope) are in tests/test_default_rules_from_raw_input.py, the organisation scope is here.
"""

from __future__ import annotations

import json

import numpy as np
import polars as pl
import pytest

from core.alerts import store as alert_store
from core.alerts.engine import evaluate_all
from core.alerts.evaluate import FIRING
from core.config import ROOT
from core.ingest import ingest
from core.model import Batch, now_ms
from core.programmes.qse import COF_DIMENSIONS
from core.programmes.qse_events import Weights
from core.recording import rules as rr
from core.recording.job import evaluate_recording_rules
from tests.qse_history import DAY, HOUR, T0, History

MIN = 60_000


def values(result: pl.DataFrame, **labels: str | None) -> list[float]:
    for key, value in labels.items():
        result = result.filter(pl.col(key).is_null() if value is None else pl.col(key) == value)
    return result.sort("ts")["value"].to_list()


def at(*times: int) -> np.ndarray:
    return np.array(times, dtype=np.int64)


def test_session_degradation_is_the_drop_against_the_previous_assessment_while_the_session_is_open():
    h = History()
    h.started("A", T0, "feature", "platform", ["design", "build"])
    h.assessed("A", T0 + HOUR, 0.9, 0.9)
    low = dict.fromkeys(COF_DIMENSIONS, 0.9) | {"Risk Management": 0.5}  # mean COF 0.86923
    h.assessed("A", T0 + DAY, low, 0.8)
    h.assessed("A", T0 + 2 * DAY, 0.95, 0.95)
    h.completed("A", T0 + 3 * DAY)
    h.assessed("B", T0 + 2 * HOUR, 0.7, 0.7, template="spike", team="data")  # no start event: open from its first
    events = h.frame().filter(pl.col("type").is_in(rr.rule("qse_compliance_degradation_percent").reads))
    instants = at(T0 + 2 * HOUR, T0 + DAY + HOUR, T0 + 2 * DAY + HOUR, T0 + 3 * DAY + HOUR, T0 + 10 * DAY)
    result = rr.compliance_degradation(events, instants, Weights())
    second = 0.6 * (12 * 0.9 + 0.5) / 13 + 0.4 * 0.8  # 0.84154 (the event's own overall is ignored)
    # first assessment: 0; then 90 → 84.15; then back above; completed at day 3: no more rows
    assert values(result, scope="session", session_id="A") == [0.0, pytest.approx((0.9 - second) * 100), 0.0]
    sessions = result.filter(pl.col("scope") == "session")
    assert sessions.filter(pl.col("session_id") == "A")["template"].unique().to_list() == ["feature"]
    # B's single assessment stands for 7 days: 0 at each instant up to T0 + 7 d 2 h, none at day 10
    assert values(result, scope="session", session_id="B") == [0.0, 0.0, 0.0, 0.0]
    org = values(result, scope="organisation", session_id=None)
    # the organisation's week: assessments in (t - 7 d, t], nothing the week before, so 0 until day 10 (none: no row)
    assert org == [0.0, 0.0, 0.0, 0.0]


def test_organisation_degradation_is_week_on_week():
    h = History()
    for day in (1, 2, 4):  # week one at 0.92
        h.assessed(f"W{day}", T0 + day * DAY, 0.92, 0.92)
    for day in (8, 9):  # week two at 0.80 and 0.86
        h.assessed(f"W{day}", T0 + day * DAY, 0.80 if day == 8 else 0.86, 0.80 if day == 8 else 0.86)
    result = rr.compliance_degradation(h.frame(), at(T0 + 5 * DAY, T0 + 10 * DAY), Weights())
    # day 10: (day 3, day 10] holds days 4, 8, 9 → (0.92 + 0.80 + 0.86) / 3; (day -4, day 3] holds days 1, 2 → 0.92
    drop = (0.92 - (0.92 + 0.80 + 0.86) / 3) * 100
    assert values(result, scope="organisation") == [0.0, pytest.approx(drop)]


def test_phase_overrun_is_hours_run_over_plan_until_the_next_phase_starts():
    h = History()
    h.started("L", T0, "feature", "payments", ["design", "build"])
    h.phase("L", "design", T0, 2, 5)  # planned 2 h, took 5 h
    h.phase("L", "build", T0 + 7 * HOUR, 10)
    h.completed("L", T0 + 9 * HOUR)
    instants = at(T0 - HOUR, T0 + HOUR, T0 + 4 * HOUR, T0 + 6 * HOUR, T0 + 8 * HOUR, T0 + 10 * HOUR)
    result = rr.phase_overrun(h.frame(), instants)
    # before it started: nothing; 1 h of 2; 4 h of 2; done in 5 h of 2 (until build starts); 1 h of 10; completed
    assert values(result, session_id="L") == [0.5, 2.0, 2.5, 0.1]
    assert set(result["team"]) == {"payments"}


def test_gates_failing_counts_the_gates_whose_latest_evaluation_failed():
    h = History()
    h.started("G", T0, "feature", "data", ["design", "build"])
    h.gate("G", "design", T0 + HOUR, False, 0.5)
    h.gate("G", "build", T0 + 2 * HOUR, False, 0.5)
    h.gate("G", "design", T0 + 3 * HOUR, True, 0.9)
    h.gate("G", "build", T0 + 4 * HOUR, True, 0.9)
    h.completed("G", T0 + 6 * HOUR)
    result = rr.gates_failing(h.frame(), at(T0, T0 + 90 * MIN, T0 + 150 * MIN, T0 + 210 * MIN, T0 + 5 * HOUR))
    assert values(result, session_id="G") == [1.0, 2.0, 1.0, 0.0]  # nothing evaluated at T0; completed at 6 h


def test_the_default_qse_alerts_fire_on_a_real_store(engine, settings):
    """An organisation a week worse than the week before, a phase past 1.5× its plan and a failed gate."""
    now = (now_ms() - HOUR) // (15 * MIN) * (15 * MIN)
    h = History()
    for day in (13, 12, 10, 9):
        h.assessed(f"OLD{day}", now - day * DAY, 0.92, 0.92, template="feature", team="platform")
    for day in (5, 4, 2, 1):
        h.assessed(f"NEW{day}", now - day * DAY, 0.84, 0.84, template="feature", team="platform")
    h.started("LATE", now - 10 * HOUR, "feature", "payments", ["design", "build"])
    h.phase("LATE", "design", now - 4 * HOUR, 2, template="feature", team="payments")  # 4 h of 2: 2.0×
    h.gate("LATE", "design", now - 3 * HOUR, False, 0.4)
    ingest(engine, Batch(events=tuple(h.events())), origin="api", settings=settings)
    config = settings.model_copy(
        update={"alert_rules_file": ROOT / "alert_rules.yaml", "query_cache_ttl_s": 0.0, "alert_resolve_wait_s": 0.0}
    )
    # seeded here: evaluate_all seeds once per store URL, and the Postgres store is shared by the session
    alert_store.seed_defaults(engine, ROOT / "alert_rules.yaml")
    evaluate_recording_rules(engine, config, now=now)
    report = evaluate_all(engine, config, now_ms=now + 1)
    assert not report.errors, report.errors
    frame = alert_store.alerts_frame(engine).filter(pl.col("state") == FIRING)
    firing = {
        (rule, json.loads(labels).get("scope"), json.loads(labels).get("session_id"), round(value, 2))
        for rule, labels, value in frame.select("rule", "labels", "last_value").iter_rows()
        if rule.startswith("qse_")
    }
    assert firing == {
        ("qse_compliance_degraded", "organisation", None, 8.0),  # 92 % the week before, 84 % this week
        ("qse_phase_overrun", None, "LATE", 2.0),
        ("qse_gate_failed", None, "LATE", 1.0),
    }
