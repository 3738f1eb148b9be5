"""Every default alert rule fires on raw inputs posted through the API, and resolves when they recover.

The claim under test (issue): "with the demo off and only raw inputs posted through the API, each default
rule fires on a crafted history and resolves when it recovers."

How:

* one real server per module (``streamlit run app.py``, demo off, collectors and background jobs off);
* every input goes through real HTTP: ``POST /api/v1/events`` (workflow.*, qa.*, qse.*, migration.*,
  system.*) and ``POST /api/v1/metrics`` (the samples an exporter or Pulseboard's own collectors would
  produce). Nothing a recording rule derives (core/recording/rules.py ``RULES``) is ever posted — a guard
  below checks it — so ``qms_workflow_failure_percent`` and the other derived series come from the
  recording job only;
* then, in this process and against the server's SQLite file, the background jobs run on a synthetic
  clock: the rollup once (the anomaly and forecast rules read day/6-hour ranges from the 1m tier), then
  at every minute of the scenario window the recording job, the self-metrics collector (which writes
  ``pulseboard_feed_lag_ratio``) and the alert evaluation (``evaluate_all``) with the default rules
  seeded from the repository's alert_rules.yaml;
* every scenario shares one timeline (minutes from ``E0``) on its own metric or label set, so one
  loop of 91 one-minute steps covers them all. Each rule must go pending (or straight to firing for ``for: 0s``) no
  earlier than its inputs turn bad, fire after holding for its ``for``, and resolve — with a value on
  the good side of threshold and hysteresis, i.e. not merely because its data stopped — once the inputs
  recovered, within windows worked out from the rule's window/for/hysteresis in the comments below.

The rule names are read from alert_rules.yaml at run time: a rule without a scenario here fails
``test_every_default_rule_has_a_scenario`` and its own parametrised case, so no default rule can be added
without proving it can fire.
"""

from __future__ import annotations

import json
import random
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import pytest
import sqlalchemy as sa
import yaml
from prometheus_client import CollectorRegistry
from sqlalchemy.engine import Engine

from collectors.runner import collector_job, origin_of, store_sink
from collectors.selfstats import SelfStatsCollector
from core.alerts import store
from core.alerts.engine import evaluate_all
from core.alerts.evaluate import FIRING, INACTIVE, PENDING, RESOLVED
from core.alerts.rules import Rule
from core.analytics.anomaly import detector
from core.auth.tokens import create_token
from core.config import load_settings
from core.model import now_ms
from core.programmes.qse import COF_DIMENSIONS, UCL_LAWS, compliance_summary
from core.query.feeds import feed_status
from core.recording.job import evaluate_recording_rules
from core.recording.rules import RULES as RECORDING_RULES
from core.store import schema
from core.store.engine import make_engine
from core.store.rollup import run_rollup
from tests.live import ROOT, LiveServer, live_server

pytestmark = pytest.mark.server

RULES_FILE = ROOT / "alert_rules.yaml"
MIN = 60_000
HOUR = 60 * MIN
DAY = 24 * HOUR
# A whole hour about two days ago (so every timestamp is in the past, as ingest demands, and the recording
# rules' 5- and 15-minute instants fall on round minutes of the timeline); the scenarios run a day later.
T0 = (now_ms() - 2 * DAY) // HOUR * HOUR
E0 = T0 + DAY
LOOP = range(0, 91)  # evaluation minutes: E0, E0 + 1 min, ... E0 + 90 min
DATA_END = 110  # every raw feed keeps reporting (healthy) past the loop, so no rule resolves for lack of data
SCRAPE = 0.5  # minutes between two samples of a series, as a 30 s scrape or push
EDGE_TOKEN = "edge-1-agent"  # a second pushing client, the one that goes quiet in the feed_stale scenario
EDGE_QUIET, EDGE_BACK = 20, 50  # it pushes until minute 20 and comes back at minute 50


def default_rule_names() -> list[str]:
    """The rule names in alert_rules.yaml, read when the tests are collected (the file others edit)."""
    return [item["name"] for item in yaml.safe_load(RULES_FILE.read_text())["rules"]]


def at(minute: float) -> int:
    """Epoch ms of a timeline minute."""
    return E0 + round(minute * MIN)


def iso(ms: int) -> str:
    return datetime.fromtimestamp(ms / 1000, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def sample(name: str, labels: dict[str, str], value: float, ts_ms: int) -> dict[str, Any]:
    """One sample as POST /api/v1/metrics takes it (timestamp in epoch seconds)."""
    return {"name": name, "labels": labels, "value": round(value, 6), "timestamp": ts_ms / 1000}


def scrape(
    name: str, labels: dict[str, str], value: Callable[[float], float], start: float, end: float = DATA_END
) -> list[dict[str, Any]]:
    """``value(minute)`` every :data:`SCRAPE` minutes over [start, end)."""
    count = round((end - start) / SCRAPE)
    return [sample(name, labels, value(start + i * SCRAPE), at(start + i * SCRAPE)) for i in range(count)]


def stretch(*parts: tuple[float, float]) -> Callable[[float], float]:
    """A piecewise-constant series: ``(from_minute, value)`` pairs, the first from the beginning of time."""

    def value(minute: float) -> float:
        return [v for start, v in parts if minute >= start][-1] if minute >= parts[0][0] else parts[0][1]

    return value


def event(event_id: str, kind: str, ts_ms: int, data: dict[str, Any], source: str = "qms-orchestrator") -> dict:
    return {"id": event_id, "type": kind, "timestamp": ts_ms / 1000, "source": source, "data": data}


# --- the crafted inputs (minutes from E0) -----------------------------------------------------------------------------
# Each block says what a real source would send; the expectations below say why the alert moves when it does.


def system_samples() -> list[dict[str, Any]]:
    """Exporter/collector samples of the threshold rules, each with a healthy control series beside it."""
    return [
        # high_queue_depth (1m avg > 15 for 5m): 4 items, 25 over [10, 22), then 3.
        *scrape("qms_queue_depth", {"queue": "progress_review"}, stretch((-70, 4), (10, 25), (22, 3)), -70),
        *scrape("qms_queue_depth", {"queue": "dor_validation"}, stretch((-70, 6)), -70),
        # agent_overload (1m avg > 90 for 10m): agent-7 at 97 % over [25, 40).
        *scrape("qms_agent_load_percent", {"agent": "agent-7"}, stretch((-70, 55), (25, 97), (40, 60)), -70),
        *scrape("qms_agent_load_percent", {"agent": "agent-1"}, stretch((-70, 50)), -70),
        # agent_down (last over 1m < 1 for 1m): agent-3 reports 0 over [30, 36).
        *scrape("qms_agent_up", {"agent": "agent-3"}, stretch((-70, 1), (30, 0), (36, 1)), -70),
        *scrape("qms_agent_up", {"agent": "agent-1"}, stretch((-70, 1)), -70),
        # api_error_rate_high (>5, for 5m, hysteresis 1) / _critical (>10, for 2m, hysteresis 1), 5m avg:
        # 14 % over [40, 52); then 4.5 % over [52, 64) — below 5 but inside the warning's hysteresis band, so
        # only the critical may resolve there; then 1 %.
        *scrape(
            "api_errors_percent",
            {"endpoint": "/api/v1/orders"},
            stretch((-70, 0.8), (40, 14), (52, 4.5), (64, 1)),
            -70,
        ),
        *scrape("api_errors_percent", {"endpoint": "/api/v1/health"}, stretch((-70, 0.2)), -70),
        # memory_high (>80 for 5m) / memory_critical (>90 for 2m), 5m avg: 86 % over [5, 20) (only the
        # warning), 95 % over [20, 28) (both), then 55 %.
        *scrape("system_memory_used_percent", {"host": "db-1"}, stretch((-70, 62), (5, 86), (20, 95), (28, 55)), -70),
        *scrape("system_memory_used_percent", {"host": "web-1"}, stretch((-70, 40)), -70),
        # connection_pool_exhaustion (2m avg > 90 for 2m), labelled as the database collector labels it.
        *scrape(
            "db_connection_pool_used_percent",
            {"database": "orders", "driver": "postgresql"},
            stretch((-70, 35), (45, 97), (55, 40)),
            -70,
        ),
        *scrape(
            "db_connection_pool_used_percent", {"database": "pulseboard", "driver": "sqlite"}, stretch((-70, 10)), -70
        ),
        # store_unavailable (5m avg < 0.5 for 1m): what Pulseboard's self-metrics collector stores about its own
        # store, here for a replica whose writes were refused over [60, 67) (0, as replayed from its spool after
        # the outage) beside one whose store stayed up.
        *scrape("pulseboard_store_up", {"host": "replica-2"}, stretch((-70, 1), (60, 0), (67, 1)), -70),
        *scrape("pulseboard_store_up", {"host": "replica-1"}, stretch((-70, 1)), -70),
    ]


DISK = {"host": "db-1", "mount": "/var/lib/postgresql", "device": "/dev/sdb1", "fstype": "ext4"}


def disk_samples() -> list[dict[str, Any]]:
    """disk_full_soon (forecast over 6h, horizon 24h, > 95, for 15m): a steady climb of 3 %/h since E0 - 7h
    (55 % at E0: the trend reaches 95 % within the day), then at minute 30 a clean-up to 35 % that stays flat,
    which turns the least-squares trend of the last 6 h down within ~20 minutes."""
    climb = lambda minute: 40 + 3 * (minute + 300) / 60 if minute < 30 else 35.0  # noqa: E731
    return scrape("system_filesystem_used_percent", DISK, climb, -7 * 60)


def latency_samples() -> list[dict[str, Any]]:
    """api_latency_p95_slow (5m avg > 1 for 5m) and api_latency_anomaly (auto detector, lookback 1d, for 5m):
    a day of normal, noisy p95 latency (0.25 s, sd 0.02) on /api/v1/orders, a spike to 2.6 s over [70, 80),
    then normal again; /api/v1/health stays normal (no alert of either rule may fire on it)."""
    noise = random.Random(20_250_817)
    out = []
    for endpoint, p50, p95 in (("/api/v1/orders", 0.08, 0.25), ("/api/v1/health", 0.004, 0.012)):
        for i in range(round((DATA_END + 25 * 60) / SCRAPE)):
            minute = -25 * 60 + i * SCRAPE
            spike = endpoint == "/api/v1/orders" and 70 <= minute < 80
            level = 2.6 if spike else p95
            value = max(level + noise.gauss(0, level * 0.08), 0.001)
            ts = at(minute)
            out.append(sample("api_request_duration_seconds", {"endpoint": endpoint, "quantile": "0.95"}, value, ts))
            out.append(sample("api_request_duration_seconds", {"endpoint": endpoint, "quantile": "0.5"}, p50, ts))
    return out


def edge_agent_samples(start: float, end: float) -> list[dict[str, Any]]:
    """What `python -m collectors agent --push` on host edge-1 sends with its own token (feed api:edge-1-agent)."""
    return [
        *scrape("system_cpu_percent", {"host": "edge-1"}, stretch((-70, 23)), start, end),
        *scrape("system_memory_used_percent", {"host": "edge-1"}, stretch((-70, 41)), start, end),
    ]


REPOS = ("org/payments", "org/web")


def workflow_events() -> list[dict[str, Any]]:
    """One pull request finishing every minute (created 20 min before, one quality gate 15 min later).

    workflow_failure_rate_high reads the recording rule qms_workflow_failure_percent (failed ÷ finished in the
    past hour): the ten workflows finishing in [10, 20) fail. quality_score_drop reads qms_quality_score_percent
    (mean gate score of the past hour): the fifteen gate runs in [5, 20) score 0 instead of 0.95.
    """
    out = []
    for m in range(-90, DATA_END):
        wf = {"workflow_id": f"WF-{m + 1000}", "pr_number": m + 1000, "repository": REPOS[m % 2]}
        done = at(m + 0.5)
        out.append(
            event(
                f"wf{m}-created",
                "workflow.pr_created",
                done - 20 * MIN,
                wf | {"author": "dev", "priority": "normal", "lines_changed": 120},
            )
        )
        score = 0.0 if 5 <= m < 20 else 0.95
        out.append(
            event(
                f"wf{m}-gate",
                "workflow.quality_gate_executed",
                at(m + 0.25),
                wf
                | {
                    "step": "progress_review",
                    "attempt": 1,
                    "agent_id": "agent-1",
                    "gate_name": "code-coverage-gate",
                    "passed": score >= 0.8,
                    "metrics": {"score": score, "threshold": 0.8, "execution_time": 42.0},
                },
            )
        )
        if 10 <= m < 20:
            out.append(
                event(
                    f"wf{m}-failed",
                    "workflow.workflow_failed",
                    done,
                    wf | {"failed_step": "dod_validation", "reason": "tests failed", "duration_s": 1200, "retries": 2},
                )
            )
        else:
            out.append(
                event(f"wf{m}-done", "workflow.workflow_completed", done, wf | {"duration_s": 1200, "retries": 0})
            )
    return out


def qa_and_agent_events() -> list[dict[str, Any]]:
    """critical_defect_detected (events, count over 5m by repository > 0, for 0s): one critical defect in
    org/payments at 12:30, a high one in org/web at 13:00 (must not alert), the critical resolved at 40."""
    defect = {"workflow_id": "WF-1012", "pr_number": 1012, "step": "progress_review", "agent_id": "agent-7"}
    critical = defect | {"repository": "org/payments", "defect_id": "DEF-1", "severity": "critical"}
    return [
        event("def-1", "qa.defect_found", at(12.5), critical | {"category": "security"}, "qa-tooling"),
        event(
            "def-2",
            "qa.defect_found",
            at(13),
            defect | {"repository": "org/web", "defect_id": "DEF-2", "severity": "high", "category": "logic"},
            "qa-tooling",
        ),
        event(
            "def-1-fixed",
            "qa.defect_resolved",
            at(40),
            critical | {"category": "security", "resolution_hours": 0.5, "resolution": "fixed"},
            "qa-tooling",
        ),
        # The orchestrator's own events for agent-3's outage (shown on the Operations page; qms_agent_up is
        # what agent_down reads, exported alongside them).
        event(
            "agent-3-down",
            "system.agent_status_changed",
            at(30),
            {"agent_id": "agent-3", "old_status": "online", "new_status": "down", "reason": "heartbeat lost"},
        ),
        event(
            "agent-3-up",
            "system.agent_status_changed",
            at(36),
            {"agent_id": "agent-3", "old_status": "down", "new_status": "online", "reason": "restarted"},
        ),
    ]


PHASE = {"phase_id": "phase-3", "name": "Data migration", "risk_level": "medium"}
PLANNED = {"planned_start": iso(E0 - 30 * DAY), "planned_end": iso(E0 + 10 * DAY)}


def migration_events() -> list[dict[str, Any]]:
    """migration_behind_schedule (recording rule migration_schedule_delay_days, 15-min instants; last over 1h > 7,
    for 0s): phase-3 planned over 40 days, started 30 days ago; 25 % done at day 10 (on plan), 50 % at minute 5
    (it would finish 20 days late), 85 % at minute 40 (back within plan).

    migration_success_rate_low (recording rule migration_success_rate_percent, records succeeded ÷ attempted in
    the past hour, 5-min instants; 15m avg < 90 for 15m): a 1,000-record batch every 5 minutes (998 verified);
    the two batches at minutes 7 and 12 fail verification for 900 records. One bad batch in the hour still
    leaves 92.3 %, two 84.8 %: bad while both are within the hour, i.e. until minute 67.
    """
    phase = "migration.phase_progress"
    out = [
        event(
            "mig-start",
            "migration.phase_started",
            E0 - 30 * DAY,
            PHASE | PLANNED | {"status": "in_progress", "progress": 0},
        ),
        event("mig-p25", phase, E0 - 20 * DAY, PHASE | PLANNED | {"status": "in_progress", "progress": 25}),
        event("mig-p50", phase, at(5), PHASE | PLANNED | {"status": "in_progress", "progress": 50}),
        event("mig-p85", phase, at(40), PHASE | PLANNED | {"status": "in_progress", "progress": 85}),
    ]
    for m in range(-93, DATA_END, 5):
        bad = m in (7, 12)
        batch = {"batch_id": f"B{m + 100}", "dataset": "customers", "records": 1000, "duration_s": 240}
        counts = {"succeeded": 100, "failed": 900} if bad else {"succeeded": 998, "failed": 2}
        out.append(event(f"batch{m}", "migration.batch_completed", at(m), batch | counts, "migration-tool"))
    return out + migration_rollback_and_timing_events()


def migration_rollback_and_timing_events() -> list[dict[str, Any]]:
    """migration_rollback (recording rule migration_rollbacks_per_hour, rollbacks in the past hour, 5-min instants;
    last over 15m > 0, for 0s): batch B120 is rolled back at minute 20; the batches above keep the rule at 0 before
    and after (instant 80's hour, (20, 80], no longer holds it).

    migration_performance_regression (recording rule migration_performance_regression_percent, the past hour's
    timings per operation, 5-min instants; last over 15m > 10, for 0s): every minute "register dataset" is timed on
    the old system (1.000–1.006 s) and the new (0.800–0.804 s, but 1.500–1.504 s over minutes [5, 50)); "query
    dataset" is the control, equal on both. With 60 timings a side, the new median turns slow once 31 are slow, but
    the Mann–Whitney test only finds it significant when 37 are (U = 37 × 60 = 2220 against a mean of 1800 and an sd
    of 190: z = 2.2): instant 40 holds 36 slow (5..40; p = 0.06), instant 45 holds 41 (p < 0.001), so it fires at
    45. Instant 70 still holds 40 (10..49), instant 75 only 35 (z = 1.6): resolved at 75, with 0 recorded.
    """
    out = [
        event(
            "rollback-b120",
            "migration.rollback",
            at(20),
            {"batch_id": "B120", "dataset": "customers", "reason": "verification failed"},
            "migration-tool",
        )
    ]
    for m in range(-80, DATA_END):
        new = (1.5 if 5 <= m < 50 else 0.8) + 0.001 * (m % 5)
        timings = {
            "register dataset": (1.0 + 0.001 * (m % 7), new),
            "query dataset": (0.2 + 0.0001 * (m % 3), 0.2 + 0.0001 * (m % 3)),
        }
        for n, (operation, (old_s, new_s)) in enumerate(timings.items()):
            for system, seconds in (("old", old_s), ("new", new_s)):
                data = {"operation": operation, "system": system, "duration_s": round(seconds, 4)}
                out.append(event(f"op{m}-{n}-{system}", "migration.operation_timed", at(m), data, "migration-tool"))
    return out


def compliance(score: float) -> dict[str, Any]:
    """A full QSE assessment with every dimension and law at ``score`` (overall_compliance = score)."""
    return compliance_summary(dict.fromkeys(COF_DIMENSIONS, score), dict.fromkeys(UCL_LAWS, score))


def qse_events() -> list[dict[str, Any]]:
    """compliance_drop (recording rule qse_compliance_drop_percent, 15-min instants; last over 1h > 5, for 0s):
    daily assessments at 92 % for six days, one at 78 % at minute 20 (14 points under the baseline of the five
    before it), then 93 % at minute 50 (above its baseline: drop 0)."""
    session = {"session_id": "QSE-7", "template": "qse-standard", "team": "platform", "phase": "validation"}
    out = [
        event(f"qse-day{d}", "qse.compliance_scored", E0 - d * DAY, session | compliance(0.92), "qse-tooling")
        for d in range(6, 0, -1)
    ]
    out.append(event("qse-low", "qse.compliance_scored", at(20), session | compliance(0.78), "qse-tooling"))
    out.append(event("qse-back", "qse.compliance_scored", at(50), session | compliance(0.93), "qse-tooling"))
    return out + qse_session_events()


def phase(session: dict[str, str], name: str, start: int, planned_hours: float) -> dict[str, Any]:
    """The timing fields of a QSE phase that started at ``start`` (epoch ms) with its plan."""
    return session | {
        "phase": name,
        "planned_start": iso(start),
        "planned_end": iso(start + round(planned_hours * HOUR)),
        "planned_hours": planned_hours,
        "actual_start": iso(start),
    }


def qse_session_events() -> list[dict[str, Any]]:
    """qse_compliance_degraded reads the recording rule qse_compliance_degradation_percent (15-min instants; last
    over 1h >= 5, for 0s): QSE-7 above is an open session (no completion event) whose assessment at minute 20 is
    14 points under the one before it (92 %, a day earlier) and whose next one, at minute 50, is back above it. The
    organisation's week of assessments has no week before it here, so its scope stays at 0.

    qse_phase_overrun (recording rule qse_phase_overrun_ratio, 15-min instants; last over 1h > 1.5, for 0s):
    QSE-LATE's design phase, planned for 30 minutes, starts at minute -20 (ratio 0.67 at instant 0, 1.17 at 15,
    1.67 at 30: past 1.5 from minute 25), completes at 40 after an hour, and validation (planned 4 h) starts at
    42, so instant 45 reads validation's 0.0125.

    qse_gate_failed (recording rule qse_gates_failing, 15-min instants; last over 1h > 0, for 0s): QSE-GATE's
    design-review gate fails at minute 10 and passes its re-evaluation at minute 50. QSE-ONTIME is the control:
    an 8-hour phase an hour in and a passed gate.
    """
    late = {"session_id": "QSE-LATE", "template": "qse-standard", "team": "payments"}
    gated = {"session_id": "QSE-GATE", "template": "qse-standard", "team": "data"}
    fine = {"session_id": "QSE-ONTIME", "template": "qse-standard", "team": "platform"}
    plan = {"phases": ["analysis", "design", "validation"]}
    out = [
        event("late-start", "qse.session_started", at(-120), late | plan | {"title": "late"}, "qse-tooling"),
        event("late-analysis", "qse.phase_started", at(-120), phase(late, "analysis", at(-120), 1), "qse-tooling"),
        event(
            "late-analysis-done",
            "qse.phase_completed",
            at(-70),
            phase(late, "analysis", at(-120), 1)
            | {"actual_end": iso(at(-70)), "actual_hours": 0.83, "status": "completed"},
            "qse-tooling",
        ),
        event("late-design", "qse.phase_started", at(-20), phase(late, "design", at(-20), 0.5), "qse-tooling"),
        event(
            "late-design-done",
            "qse.phase_completed",
            at(40),
            phase(late, "design", at(-20), 0.5)
            | {"actual_end": iso(at(40)), "actual_hours": 1.0, "status": "completed"},
            "qse-tooling",
        ),
        event("late-validation", "qse.phase_started", at(42), phase(late, "validation", at(42), 4), "qse-tooling"),
        event("gate-start", "qse.session_started", at(-60), gated | plan | {"title": "gated"}, "qse-tooling"),
        event("gate-design", "qse.phase_started", at(-60), phase(gated, "design", at(-60), 6), "qse-tooling"),
        event(
            "gate-fail",
            "qse.gate_evaluated",
            at(10),
            gated | {"phase": "design", "gate_name": "design-review", "passed": False, "score": 0.6},
            "qse-tooling",
        ),
        event(
            "gate-pass",
            "qse.gate_evaluated",
            at(50),
            gated | {"phase": "design", "gate_name": "design-review", "passed": True, "score": 0.82},
            "qse-tooling",
        ),
        event("fine-start", "qse.session_started", at(-180), fine | plan | {"title": "fine"}, "qse-tooling"),
        event("fine-analysis", "qse.phase_started", at(-60), phase(fine, "analysis", at(-60), 8), "qse-tooling"),
        event(
            "fine-gate",
            "qse.gate_evaluated",
            at(5),
            fine | {"phase": "analysis", "gate_name": "analysis-review", "passed": True, "score": 0.9},
            "qse-tooling",
        ),
    ]
    return out


# --- what each rule must do -------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Expect:
    """One rule's scenario: which alert (labels it must carry) and when it may go active, fire and resolve."""

    labels: dict[str, str]
    bad_from: float  # minute the inputs turn bad: nothing of this alert may happen before
    fire: tuple[float, float]  # fired_at within these minutes
    resolve: tuple[float, float]  # resolved_at within these minutes (the lower end: when inputs are healthy again)
    why: str
    value_clear: bool = True  # the resolving evaluation saw a value on the good side (not just no data)
    held: tuple[float, float, float, float] | None = None  # still firing over [a, b] with a value in (lo, hi)


EXPECT: dict[str, Expect] = {
    "high_queue_depth": Expect(
        {"queue": "progress_review"}, 10, (16, 17), (22, 23), "1m avg > 15 from minute 11, for 5m; 3 at minute 22"
    ),
    "workflow_failure_rate_high": Expect(
        {},
        10,
        (18, 22),
        (70.5, 78),
        "7 failed of 60 in the hour (11.7 %) at minute 17, 2m avg > 10 for 2m; the failures leave the hour from "
        "minute 70.5 and it is <= 10 % once four have left",
    ),
    "agent_overload": Expect({"agent": "agent-7"}, 25, (35, 37), (40, 41), "97 % from 25, for 10m; 60 % at 40"),
    "agent_down": Expect({"agent": "agent-3"}, 30, (31, 32), (36, 37), "0 from 30, for 1m; 1 at 36"),
    "quality_score_drop": Expect(
        {},
        5,
        (30, 40),
        (67.25, 78),
        "ten gates at 0 in the hour (79.2 %) at minute 15, 5m avg < 80 from ~18 for 15m; the zeros leave the hour "
        "from 65.25 and the mean is back at 80 % once six have left",
    ),
    "critical_defect_detected": Expect(
        {"repository": "org/payments"},
        12.5,
        (13, 13),
        (17.5, 18),
        "counted at the first evaluation after 12:30, for 0s; out of the 5m window at 18. An event-count rule has "
        "no zero rows: it resolves because the window holds no critical defect any more (no data = ok)",
        value_clear=False,
    ),
    "api_error_rate_high": Expect(
        {"endpoint": "/api/v1/orders"},
        40,
        (46, 48),
        (64, 66),
        "5m avg > 5 from ~42, for 5m; below 5 from ~57 but not <= 4 (hysteresis 1) until the 1 % samples at 64",
        held=(58, 63, 4.0, 5.0),
    ),
    "api_error_rate_critical": Expect(
        {"endpoint": "/api/v1/orders"},
        40,
        (44, 47),
        (54, 56),
        "5m avg > 10 from ~43, for 2m; <= 9 (hysteresis 1) once the 4.5 % samples hold the window at ~55",
    ),
    "api_latency_p95_slow": Expect(
        {"endpoint": "/api/v1/orders"}, 70, (76, 78), (82, 84), "5m avg > 1 s from 72, for 5m; <= 1 s at ~83"
    ),
    "memory_high": Expect({"host": "db-1"}, 5, (13, 15), (29, 31), "5m avg > 80 from ~9, for 5m; 55 % from 28"),
    "memory_critical": Expect(
        {"host": "db-1"}, 20, (23, 25), (28, 30), "only the 95 % stretch (from 20) passes 90, for 2m; 55 % from 28"
    ),
    "connection_pool_exhaustion": Expect(
        {"database": "orders"}, 45, (48, 50), (55, 57), "2m avg > 90 from 47, for 2m; 40 % from 55"
    ),
    "migration_success_rate_low": Expect(
        {},
        7,
        (30, 40),
        (70, 80),
        "instants every 5 min: 84.8 % from 15, 15m avg < 90 from 20, for 15m; the minute-7 batch leaves the hour at "
        "67, the 15m avg is >= 90 at 75",
    ),
    "migration_behind_schedule": Expect(
        {"phase": "phase-3"}, 5, (15, 16), (45, 46), "instant 15 sees 20 days of delay, for 0s; instant 45 sees 0"
    ),
    "compliance_drop": Expect(
        {"template": "qse-standard"},
        20,
        (30, 31),
        (60, 61),
        "instant 30 sees a 14-point drop, for 0s; instant 60 sees 0",
    ),
    "qse_compliance_degraded": Expect(
        {"scope": "session", "session_id": "QSE-7"},
        20,
        (30, 31),
        (60, 61),
        "instant 30 sees QSE-7 14 points under its previous assessment, for 0s; instant 60 sees 0",
    ),
    "qse_phase_overrun": Expect(
        {"session_id": "QSE-LATE"},
        25,
        (30, 31),
        (45, 46),
        "instant 30 sees the design phase at 1.67x its plan, for 0s; instant 45 sees validation just begun",
    ),
    "qse_gate_failed": Expect(
        {"session_id": "QSE-GATE"},
        10,
        (15, 16),
        (60, 61),
        "instant 15 sees the failed design-review gate, for 0s; instant 60 sees it passed again",
    ),
    "api_latency_anomaly": Expect(
        {"endpoint": "/api/v1/orders"},
        70,
        (75, 78),
        (80, 90),
        "the spike scores far above the detector threshold from 70, for 5m; normal again after 80, and resolved once "
        "no point of the last 5m scores high",
    ),
    "disk_full_soon": Expect(
        {"mount": "/var/lib/postgresql"},
        0,
        (15, 16),
        (31, 55),
        "the 6h trend projects past 95 % within 24h from the first evaluation, for 15m; the clean-up at 30 bends "
        "the trend down",
    ),
    "feed_stale": Expect(
        {"feed": f"api:{EDGE_TOKEN}"},
        EDGE_QUIET + 15,
        (EDGE_QUIET + 20, EDGE_QUIET + 21),
        (EDGE_BACK, EDGE_BACK + 1),
        "the edge agent's last push is at 19:30; a push feed is expected every feed_push_interval_s (5 min), so its "
        "lag ratio passes 3 at 35, for 5m; it pushes again at 50 and the ratio drops to 0",
    ),
    "migration_rollback": Expect(
        {}, 20, (20, 21), (80, 81), "instant 20 counts the rollback, for 0s; instant 80's hour no longer holds it"
    ),
    "migration_performance_regression": Expect(
        {"operation": "register dataset"},
        5,
        (45, 46),
        (75, 76),
        "instant 45 holds 41 slow timings of 60 (significant, median +50 %), for 0s; instant 75 only 35 (p = 0.12)",
    ),
    "store_unavailable": Expect(
        {"host": "replica-2"},
        60,
        (63, 64),
        (68, 70),
        "0 from 60: the 5m avg is below 0.5 once more than half the window is 0 (~62.5), for 1m; 1 again from 67, "
        "and the avg is back at 0.5 when half the window is 1 (~69)",
    ),
}


# --- the run ----------------------------------------------------------------------------------------------------------


@dataclass
class Run:
    """What the synthetic clock produced."""

    rules: dict[str, Rule]
    labels: dict[str, dict[str, str]]  # fingerprint -> alert labels (of every alert that ever left inactive)
    transitions: list[dict[str, Any]]  # alert_transitions rows, oldest first
    history: list[dict[str, Any]]  # alert_history rows
    snapshots: dict[int, dict[str, tuple[str, float | None]]] = field(default_factory=dict)  # minute -> fp -> state
    final: dict[str, str] = field(default_factory=dict)  # fingerprint -> state after the last evaluation


def post(client: httpx.Client, server: LiveServer, path: str, key: str, items: list[dict], token: str = "") -> None:
    headers = {"Authorization": f"Bearer {token}"} if token else server.headers
    for start in range(0, len(items), 5_000):
        reply = client.post(f"{server.url}{path}", json={key: items[start : start + 5_000]}, headers=headers)
        assert reply.status_code == 200, reply.text


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[LiveServer, Path, str]]:
    tmp = tmp_path_factory.mktemp("raw_input")
    tokens: list[str] = []

    def edge_token(engine: Engine) -> None:  # an admin gives the edge host's agent its own ingest token
        tokens.append(create_token(engine, EDGE_TOKEN, ["ingest"], "tests")[1])

    with live_server(tmp, env={"PULSEBOARD_COLLECTORS": "false"}, prepare=edge_token) as running:
        yield running, tmp, tokens[0]


def test_no_posted_input_is_a_recorded_series() -> None:
    """The guard behind "raw inputs only": no sample posted here carries a name a recording rule writes."""
    derived = {rule.name for rule in RECORDING_RULES}
    posted = {s["name"] for s in system_samples() + disk_samples() + latency_samples() + edge_agent_samples(-30, 20)}
    assert posted and not posted & derived


@pytest.fixture(scope="module")
def run(server: tuple[LiveServer, Path, str]) -> Iterator[Run]:
    live, tmp, edge = server
    with httpx.Client(timeout=120) as client:
        samples = system_samples() + disk_samples() + latency_samples()
        post(client, live, "/api/v1/metrics", "samples", samples)
        post(client, live, "/api/v1/metrics", "samples", edge_agent_samples(-30, EDGE_QUIET), edge)
        events = workflow_events() + qa_and_agent_events() + migration_events() + qse_events()
        post(client, live, "/api/v1/events", "events", events)

        engine = make_engine(f"sqlite:///{tmp / 'pulseboard.db'}")
        base = load_settings(
            database_url=f"sqlite:///{tmp / 'pulseboard.db'}", data_dir=tmp, demo=False, collectors=False
        )
        settings = base.model_copy(
            update={
                "query_cache_ttl_s": 0.0,
                "alert_rules_file": RULES_FILE,
                "alert_resolve_wait_s": 0.0,
                # the collector runs once per synthetic minute, so that is the interval it declares
                "selfstats_interval_s": 60.0,
            }
        )
        # The server's rollup job, run once: the anomaly (1 d) and forecast (6 h) rules read the 1m tier.
        run_rollup(engine)
        # Pulseboard's own self-metrics collector, as collectors.selfstats.build makes it for a store, but on the
        # synthetic clock; it writes pulseboard_feed_lag_ratio{feed} from core.query.feeds.feed_status, the
        # function the real collector calls, and is delivered through the runner's own sink and job (origin
        # collector:selfstats, with its declared interval), exactly as the scheduler would.
        clock = [float(at(LOOP[0]))]
        selfstats = SelfStatsCollector(
            settings.selfstats_interval_s,
            registry=CollectorRegistry(),
            clock=lambda: clock[0] / 1000,
            host="pulseboard-test",
            max_gap_intervals=settings.collector_max_gap_intervals,
            feeds=lambda now: feed_status(engine, settings, now),
        )
        collect = collector_job(selfstats, store_sink(settings, engine, {origin_of(selfstats): selfstats.interval}))

        snapshots: dict[int, dict[str, tuple[str, float | None]]] = {}
        labels: dict[str, dict[str, str]] = {}
        for minute in LOOP:
            now = at(minute) + 1
            if minute >= EDGE_BACK:  # the edge agent is back: its push of this minute, through the API
                post(client, live, "/api/v1/metrics", "samples", edge_agent_samples(minute, minute + SCRAPE), edge)
            evaluate_recording_rules(engine, settings, now=now)
            clock[0] = float(now)
            collect()
            report = evaluate_all(engine, settings, now_ms=now)
            assert not report.errors, report.errors
            frame = store.alerts_frame(engine)
            snapshots[minute] = {
                fp: (state, value)
                for fp, state, value in frame.select("fingerprint", "state", "last_value").iter_rows()
            }
            labels.update({fp: json.loads(text) for fp, text in frame.select("fingerprint", "labels").iter_rows()})

        with engine.connect() as connection:
            transitions = [
                dict(r)
                for r in connection.execute(
                    sa.select(schema.alert_transitions).order_by(schema.alert_transitions.c.id)
                ).mappings()
            ]
            history = [dict(r) for r in connection.execute(sa.select(schema.alert_history)).mappings()]
        final = {fp: state for fp, state in store.alerts_frame(engine).select("fingerprint", "state").iter_rows()}
        rules = {rule.name: rule for rule in store.load_rules(engine)}
        engine.dispose()
    yield Run(rules, labels, transitions, history, snapshots, final)


# --- the checks -------------------------------------------------------------------------------------------------------


def test_every_default_rule_has_a_scenario() -> None:
    names = set(default_rule_names())
    missing, stale = sorted(names - set(EXPECT)), sorted(set(EXPECT) - names)
    assert not missing, f"default rules without a raw-input scenario in {__name__}: {missing}"
    assert not stale, f"scenarios for rules no longer in alert_rules.yaml: {stale}"


def test_every_default_rule_was_seeded_and_evaluated(run: Run) -> None:
    """The store evaluated exactly the rules of alert_rules.yaml (the loop itself fails on any rule error)."""
    assert sorted(run.rules) == sorted(default_rule_names())


def minute_of(ts: int) -> float:
    """The timeline minute of an evaluation (they run 1 ms past the minute)."""
    return round((ts - E0) / MIN, 2)


def is_clear(rule: Rule, value: float) -> bool:
    """The value a resolving evaluation saw is on the good side, as the rule's kind judges it."""
    if rule.kind == "anomaly":
        return value < detector(rule.detector).threshold(rule.sensitivity)
    assert rule.threshold is not None
    if rule.op in (">", ">="):
        return value <= rule.threshold - rule.hysteresis
    return value >= rule.threshold + rule.hysteresis


@pytest.mark.parametrize("name", default_rule_names())
def test_default_rule_fires_on_bad_input_and_resolves_on_recovery(run: Run, name: str) -> None:
    expect = EXPECT.get(name)
    assert expect is not None, f"{name} (alert_rules.yaml) has no raw-input scenario here; add one to EXPECT"
    rule = run.rules[name]
    mine = [fp for fp, labels in run.labels.items() if labels["alertname"] == name]
    wanted = [fp for fp in mine if expect.labels.items() <= run.labels[fp].items()]
    assert len(wanted) == 1, f"{name}: expected one alert labelled {expect.labels}, got {[run.labels[f] for f in mine]}"
    fp = wanted[0]
    others = {
        json.dumps(run.labels[f], sort_keys=True)
        for f in mine
        if f != fp and any(s[0] == FIRING for s in states(run, f))
    }
    assert not others, f"{name} also fired on healthy series: {others}"

    moves = [t for t in run.transitions if t["fingerprint"] == fp]
    path = [(t["from_state"], t["to_state"]) for t in moves]
    times = [minute_of(t["ts"]) for t in moves]
    if rule.for_ > 0:
        assert path == [(INACTIVE, PENDING), (PENDING, FIRING), (FIRING, RESOLVED)], (
            name,
            list(zip(times, path, strict=True)),
        )
        pending, fired, resolved = moves
        assert fired["ts"] - pending["ts"] >= rule.for_ * 1000, f"{name} fired before holding for {rule.for_} s"
    else:
        assert path == [(INACTIVE, FIRING), (FIRING, RESOLVED)], (name, list(zip(times, path, strict=True)))
        pending, (fired, resolved) = moves[0], moves
    assert minute_of(pending["ts"]) >= expect.bad_from, f"{name} went active at {times[0]} before its bad input"
    assert expect.fire[0] <= minute_of(fired["ts"]) <= expect.fire[1], (name, times, expect.why)
    assert expect.resolve[0] <= minute_of(resolved["ts"]) <= expect.resolve[1], (name, times, expect.why)
    if expect.value_clear:
        assert resolved["value"] is not None and is_clear(rule, resolved["value"]), (name, resolved["value"])
    assert run.final[fp] == RESOLVED

    episodes = [h for h in run.history if h["fingerprint"] == fp]
    assert [(h["fired_at"], h["resolved_at"]) for h in episodes] == [(fired["ts"], resolved["ts"])]
    if expect.held is not None:
        start, end, low, high = expect.held
        held = [run.snapshots[m][fp] for m in range(int(start), int(end) + 1)]
        assert all(state == FIRING and value is not None and low < value <= high for state, value in held), held


def states(run: Run, fp: str) -> list[tuple[str, float | None]]:
    return [snapshot[fp] for snapshot in run.snapshots.values() if fp in snapshot]
