"""The simulated long-running programmes: QSE sessions, the migration, deployments and incidents.

Like the workflow simulation, each item is drawn from a generator seeded by its day,
so any window can be produced independently. The migration is placed relative to an
``anchor`` (the demo's first start), so a fresh demo always opens in week 8 of 21.
"""

from __future__ import annotations

import math
import random
from typing import Any

from collectors.demo_workflow import DAY, HOUR, MIN, Incident, incidents_on, rng
from core.programmes.qse import COF_DIMENSIONS, UCL_LAWS, compliance_summary

Item = tuple[int, str, str, dict[str, Any]]  # (ts, event id, type, data)

TEMPLATES: dict[str, tuple[tuple[str, int], ...]] = {  # phases with planned hours
    "standard-feature": (("discovery", 8), ("design", 16), ("implementation", 40), ("validation", 12)),
    "research-spike": (("discovery", 12), ("analysis", 24), ("retrospective", 4)),
    "migration-plan": (("discovery", 8), ("analysis", 16), ("design", 24), ("validation", 16)),
    "compliance-audit": (("analysis", 16), ("validation", 24), ("retrospective", 6)),
    "incident-postmortem": (("analysis", 6), ("design", 6), ("retrospective", 4)),
}
TEMPLATE_QUALITY = {
    "standard-feature": 0.88,
    "research-spike": 0.84,
    "migration-plan": 0.9,
    "compliance-audit": 0.93,
    "incident-postmortem": 0.86,
}
TEAMS = ("platform", "payments", "data", "mobile")
# How teams change a template: (the phase some add at the end, its planned hours), the phase some skip.
CUSTOMISATIONS: dict[str, tuple[tuple[str, int], str | None]] = {
    "standard-feature": (("security-review", 6), "discovery"),
    "research-spike": (("stakeholder-review", 4), "retrospective"),
    "migration-plan": (("rollback-rehearsal", 8), None),
    "compliance-audit": (("remediation", 12), None),
    "incident-postmortem": (("follow-up", 4), "design"),
}
ADD_PHASE_SHARE, SKIP_PHASE_SHARE = 0.3, 0.15  # of sessions
# A fifth of sessions slip in one phase after the first: its COF/UCL assessment is 8 points lower, then recovers,
# so the session compliance-degradation alert has something to find.
SLIP_SHARE, SLIP = 0.2, 0.08
EXTRA_SESSIONS_PER_DAY = (0, 1, 1, 2)  # drawn uniformly: 1 more a weekday on average
EXTRA_SESSION_IDS = "JKLMNPQR"  # the first session's letter is one of A-H
MIGRATION_PHASES = (
    ("tests", "Tests", 0, 3),
    ("config", "Config", 2, 5),
    ("abstraction", "Abstraction", 4, 9),
    ("storage", "Storage", 5, 10),
    ("features", "Features", 8, 13),
    ("registration", "Registration", 11, 14),
    ("validation", "Validation", 13, 17),
    ("cleanup", "Cleanup", 16, 21),
)  # (id, name, start week, end week)
COMPONENTS = ("storage", "configuration", "features", "registration", "api", "cli")
DATASETS = ("customers", "orders", "devices", "registrations", "feature_flags")
SUITES = (
    ("Unit Tests", 200, 0.985),
    ("Integration", 140, 0.95),
    ("E2E Tests", 90, 0.88),
    ("Performance", 40, 0.99),
    ("Regression", 60, 0.93),
)
DEPLOYED = ("qms-orchestrator", "decision-engine", "dashboard-api", "notification-service")
# Operations timed on the old and the new system: (operation, component, old median seconds, new ÷ old).
OPERATIONS = (
    ("register dataset", "registration", 2.3, 0.8),
    ("generate features", "features", 4.0, 0.75),
    ("query dataset", "storage", 0.145, 1.0),
)
TIMING_EVERY = 10 * MIN
REGRESSED, REGRESSION_FACTOR = "generate features", 1.8  # on the new system, while a slow_step incident runs
ROLLBACK_BELOW, ROLLBACK_SHARE = 0.9, 0.08  # a batch this bad is rolled back now and then (trouble only)
WEEK = 7 * DAY
ABSTRACTION_SLIP = 10 * DAY


def _iso(ts: int) -> str:
    from datetime import UTC, datetime

    return datetime.fromtimestamp(ts / 1000, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def template_quality(template: str, day: int) -> float:
    """Mean quality of a template's work on ``day``; incident-postmortem slips by 8 points
    in the last ten days of every 30-day cycle."""
    # one template slips during part of every cycle: a compliance degradation to alert on
    return TEMPLATE_QUALITY[template] - (0.08 if template == "incident-postmortem" and day % 30 >= 20 else 0.0)


def qse_sessions(seed: int, day: int) -> list[Item]:
    """Sessions that start on ``day`` (weekdays): most days one, and up to two more, with every phase, gate and score.

    The day's first session is drawn exactly as it always was (generator ``qse``); the further sessions
    and each session's customisation and compliance slip come from generators of their own, so adding
    them left every earlier draw where it was.
    """
    if (day + 3) % 7 >= 5:
        return []
    out: list[Item] = []
    r = rng(seed, "qse", day)
    if r.random() <= 0.75:
        template = r.choice(list(TEMPLATES))
        sid = f"QSE-{_iso(day * DAY)[:10].replace('-', '')}-{r.choice('ABCDEFGH')}"
        team = r.choice(TEAMS)
        out += _session(r, rng(seed, "qse-custom", day), day, sid, template, team)
    more = rng(seed, "qse-more", day)
    for n in range(more.choice(EXTRA_SESSIONS_PER_DAY)):
        e = rng(seed, "qse-more", day, n)
        template, team = e.choice(list(TEMPLATES)), e.choice(TEAMS)
        sid = f"QSE-{_iso(day * DAY)[:10].replace('-', '')}-{EXTRA_SESSION_IDS[n]}"
        out += _session(e, rng(seed, "qse-custom", day, n), day, sid, template, team)
    return out


def _session(r: random.Random, custom: random.Random, day: int, sid: str, template: str, team: str) -> list[Item]:
    """One session drawn from ``r``; ``custom`` decides how the team changed the template and where it slipped.

    A skipped phase is still drawn (and dropped), so skipping one leaves the draws of the others as they were.
    """
    base = {"session_id": sid, "template": template, "team": team}
    quality = template_quality(template, day)
    t = day * DAY + (8 + r.randrange(3)) * HOUR
    (extra, extra_hours), skippable = CUSTOMISATIONS[template]
    add = custom.random() < ADD_PHASE_SHARE
    skipped = skippable if custom.random() < SKIP_PHASE_SHARE else None
    slip_at = custom.randrange(1, len(TEMPLATES[template])) if custom.random() < SLIP_SHARE else None
    phases = [p for p, _ in TEMPLATES[template] if p != skipped] + ([extra] if add else [])
    out: list[Item] = [
        (
            t,
            f"demo-{sid}-started",
            "qse.session_started",
            base | {"title": f"{template.replace('-', ' ')} #{day % 1000}", "phases": phases},
        )
    ]
    planned_total, started = 0, t
    for index, (phase, hours) in enumerate(TEMPLATES[template]):
        items, after = _phase(r, base, sid, phase, hours, t, quality, SLIP if index == slip_at else 0.0)
        if phase != skipped:
            out += items
            planned_total, t = planned_total + hours, after
    if add:
        items, t = _phase(custom, base, sid, extra, extra_hours, t, quality, 0.0)
        out += items
        planned_total += extra_hours
    out.append(
        (
            t,
            f"demo-{sid}-completed",
            "qse.session_completed",
            base
            | {"status": "completed", "duration_hours": round((t - started) / HOUR, 2), "planned_hours": planned_total},
        )
    )
    return out


def _phase(
    r: random.Random, base: dict[str, Any], sid: str, phase: str, hours: int, t: int, quality: float, slip: float
) -> tuple[list[Item], int]:
    """One phase starting at ``t``: its deliverables, evidence, gate and COF/UCL assessment (lower by ``slip``).

    Returns the items and when the next phase starts (the next working morning or so).
    """
    sid = str(base["session_id"])
    actual = hours * r.lognormvariate(0.05, 0.25)
    end = t + int(actual * HOUR)
    timing = base | {
        "phase": phase,
        "planned_start": _iso(t),
        "planned_end": _iso(t + hours * HOUR),
        "planned_hours": hours,
    }
    out: list[Item] = [(t, f"demo-{sid}-{phase}-started", "qse.phase_started", timing | {"actual_start": _iso(t)})]
    for n in range(2):
        score = round(min(1.0, r.gauss(quality, 0.05)), 3)
        out.append(
            (
                t + int((n + 1) * actual * HOUR / 3),
                f"demo-{sid}-{phase}-deliverable-{n}",
                "qse.deliverable_completed",
                base | {"phase": phase, "deliverable": f"{phase} deliverable {n + 1}", "quality_score": score},
            )
        )
    for n, (framework, names) in enumerate((("COF", COF_DIMENSIONS), ("UCL", UCL_LAWS))):
        criterion = r.choice(names)
        out.append(
            (
                t + int(actual * HOUR * 0.8),
                f"demo-{sid}-{phase}-evidence-{n}",
                "qse.evidence_recorded",
                {
                    "bundle_id": f"EB-{sid}",
                    "record_id": f"{phase}-{n}",
                    "session_id": sid,
                    "framework": framework,
                    "criterion": criterion,
                    "artefact": f"evidence/{sid}/{phase}-{n}.md",
                    "score": round(min(1.0, r.gauss(quality, 0.06)), 3),
                    "phase": phase,
                },
            )
        )
    gate_score = round(min(1.0, r.gauss(quality, 0.07)), 3)
    out.append(
        (
            end,
            f"demo-{sid}-{phase}-gate",
            "qse.gate_evaluated",
            base | {"phase": phase, "gate_name": f"{phase}-gate", "passed": gate_score >= 0.75, "score": gate_score},
        )
    )
    out.append(
        (
            end,
            f"demo-{sid}-{phase}-completed",
            "qse.phase_completed",
            timing
            | {
                "actual_start": _iso(t),
                "actual_end": _iso(end),
                "actual_hours": round(actual, 2),
                "status": "completed",
            },
        )
    )
    cof = {d: min(1.0, r.gauss(quality - slip, 0.05)) for d in COF_DIMENSIONS}
    ucl = {law: min(1.0, r.gauss(quality - 0.02 - slip, 0.05)) for law in UCL_LAWS}
    out.append(
        (
            end,
            f"demo-{sid}-{phase}-compliance",
            "qse.compliance_scored",
            base | {"phase": phase} | compliance_summary(cof, ucl),
        )
    )
    return out, end + r.randrange(1, 16) * HOUR


def phase_span(anchor: int, pid: str, w0: int, w1: int) -> tuple[int, int, int]:
    """(actual start, actual end, planned end) of a migration phase; Abstraction runs ten days late."""
    begin = (anchor // DAY - 56) * DAY  # the programme started eight weeks before the demo did
    planned_end = begin + w1 * WEEK
    return begin + w0 * WEEK, planned_end + (ABSTRACTION_SLIP if pid == "abstraction" else 0), planned_end


def migration_day(seed: int, day: int, anchor: int) -> list[Item]:
    """The migration programme's events for one day: phase changes, progress, components, issues."""
    begin = (anchor // DAY - 56) * DAY
    r, out = rng(seed, "migration", day), []
    now = day * DAY + 6 * HOUR
    progress: dict[str, float] = {}
    for pid, name, w0, w1 in MIGRATION_PHASES:
        start, end, _ = phase_span(anchor, pid, w0, w1)
        pct = max(0.0, min(100.0, (now - start) / (end - start) * 100))
        progress[pid] = pct
        status = "completed" if pct >= 100 else "in_progress" if pct > 0 else "not_started"
        risk = "high" if pid == "abstraction" and status == "in_progress" else "medium" if pid == "storage" else "low"
        data = {
            "phase_id": pid,
            "name": name,
            "status": status,
            "progress": round(pct, 1),
            "risk_level": risk,
            "planned_start": _iso(begin + w0 * WEEK),
            "planned_end": _iso(begin + w1 * WEEK),
        }
        if status != "not_started":  # when it really began (and ended): a status report carries them every day
            data["actual_start"] = _iso(start)
            if status == "completed":
                data["actual_end"] = _iso(end)
        for edge, kind in ((start, "migration.phase_started"), (end, "migration.phase_completed")):
            if day * DAY <= edge < (day + 1) * DAY:
                out.append((edge, f"demo-mig-{pid}-{kind.rsplit('.', 1)[1]}", kind, data))
        if status != "not_started":
            out.append((now, f"demo-mig-{pid}-progress-{day}", "migration.phase_progress", data))
    for n, component in enumerate(COMPONENTS):
        pct = progress[MIGRATION_PHASES[min(n + 2, len(MIGRATION_PHASES) - 1)][0]]
        total = 40 + 30 * n
        new_health = "healthy" if r.random() > 0.15 else "degraded"
        out.append(
            (
                now + MIN,
                f"demo-mig-{component}-{day}",
                "migration.component_status",
                {
                    "component": component,
                    "old_version": "1.8.4",
                    "new_version": "2.0.0-rc" + str(1 + day % 5),
                    "migration_progress": round(pct, 1),
                    "old_health": "healthy",
                    "new_health": new_health,
                    "tests_passed": int(total * min(1.0, pct / 100 + 0.1)),
                    "tests_total": total,
                    "perf_delta_percent": round(r.gauss(8 - 4 * n, 3), 1),
                    "error_rate": round(abs(r.gauss(0.01, 0.005)), 4),
                    "response_time_p95_s": round(r.uniform(0.08, 0.2), 3),
                },
            )
        )
    if r.random() < 0.25:
        at = day * DAY + r.randrange(8, 18) * HOUR
        issue: dict[str, Any] = {
            "issue_id": f"MIG-{day}",
            "severity": r.choice(("info", "warning", "error", "critical")),
            "component": r.choice(COMPONENTS),
            "title": r.choice(
                ("connection pool exhausted", "feature generation slower than baseline", "config cache cleared")
            ),
        }
        issue |= issue_impact(seed, day, str(issue["severity"]))
        out.append((at, f"demo-mig-issue-{day}", "migration.issue_detected", issue))
        out.append(
            (
                at + r.randrange(1, 30) * HOUR,
                f"demo-mig-issue-{day}-resolved",
                "migration.issue_resolved",
                issue | {"resolution_type": r.choice(("manual", "automatic", "rollback"))},
            )
        )
    return out


def nightly_suites(seed: int, day: int, phase: str) -> list[tuple[str, int, int, int, int, float]]:
    """The migration test suites run at 02:00: (suite, ts, passed, failed, skipped, seconds)."""
    r, runs = rng(seed, "suites", day), []
    for suite, total, rate in SUITES:
        failed = sum(1 for _ in range(total) if r.random() > rate)
        skipped = r.randrange(0, 3)
        runs.append(
            (
                suite,
                day * DAY + 2 * HOUR,
                total - failed - skipped,
                failed,
                skipped,
                round(total * r.uniform(0.5, 6), 1),
            )
        )
    return runs


def operations_day(seed: int, day: int) -> list[Item]:
    """Deployments (weekdays, 14:00) and the day's incidents as system.* events."""
    r, out = rng(seed, "ops", day), []
    if (day + 3) % 7 < 5:
        component = (
            "decision-engine" if day % 11 == 7 else r.choice(DEPLOYED)
        )  # the deployment before a slow_step incident
        version = f"2.{day // 7 % 50}.{day % 7}"
        out.append(
            (
                day * DAY + 14 * HOUR,
                f"demo-deploy-{day}",
                "system.deployment",
                {
                    "component": component,
                    "version": version,
                    "commit": f"{r.getrandbits(28):07x}",
                    "environment": "production",
                },
            )
        )
    for incident in incidents_on(seed, day):
        out.extend(incident_events(incident))
    return out


def incident_events(incident: Incident) -> list[Item]:
    """An incident's start (system.error_occurred) and, for outages, the agent going down and back."""
    message = {
        "queue_backlog": f"{incident.target} queue backlog building",
        "agent_outage": f"agent {incident.target} unreachable",
        "slow_step": f"{incident.target} running slower than its SLA",
    }[incident.kind]
    out: list[Item] = [
        (
            incident.start,
            f"demo-{incident.id}",
            "system.error_occurred",
            {
                "incident_id": incident.id,
                "kind": incident.kind,
                "component": incident.target,
                "severity": "critical" if incident.kind == "agent_outage" else "warning",
                "message": message,
                "started_at": _iso(incident.start),
                "ends_at": _iso(incident.end),
            },
        )
    ]
    if incident.kind == "agent_outage":
        out.append(
            (
                incident.start,
                f"demo-{incident.id}-down",
                "system.agent_status_changed",
                {"agent_id": incident.target, "old_status": "online", "new_status": "down", "reason": "heartbeat lost"},
            )
        )
        out.append(
            (
                incident.end,
                f"demo-{incident.id}-up",
                "system.agent_status_changed",
                {"agent_id": incident.target, "old_status": "down", "new_status": "online", "reason": "recovered"},
            )
        )
    return out


def api_profile(seed: int, endpoint: str, ts: int, incidents: list[Incident]) -> tuple[float, float, float]:
    """(requests per second, p50 seconds, error percent) for one endpoint at one time."""
    r = rng(seed, "api", endpoint, ts // (5 * MIN))
    hour = ts // HOUR % 24
    daily = 0.3 + 0.7 * math.sin(math.pi * max(0, min(hour - 6, 14)) / 14)
    rate = (5 + len(endpoint) % 7 * 3) * daily * r.uniform(0.85, 1.15)
    trouble = _trouble(ts, incidents)
    # the bad deployment behind a slow step hurts the API most:
    # p95 past 1 s and errors past 10 % on the busier endpoints
    bad_deploy = trouble and any(i.start <= ts < i.end and i.kind == "slow_step" for i in incidents)
    slowdown = 4.0 if bad_deploy else 2.2 if trouble else 1.0
    p50 = (0.04 + 0.01 * (len(endpoint) % 5)) * (1 + 0.5 * daily) * r.uniform(0.9, 1.1) * slowdown
    errors = abs(r.gauss(0.3, 0.1)) + (r.uniform(8, 14) if bad_deploy else r.uniform(2, 6) if trouble else 0.0)
    return rate, p50, errors


def _trouble(ts: int, incidents: list[Incident]) -> bool:
    return any(i.start <= ts < i.end and i.kind != "agent_outage" for i in incidents)


def db_pool_percent(seed: int, ts: int, incidents: list[Incident]) -> float:
    """Share of the database connection pool in use: follows the API's daily load;
    backlogs and slow steps hold connections."""
    r = rng(seed, "db-pool", ts // (5 * MIN))
    hour = ts // HOUR % 24
    daily = 0.3 + 0.7 * math.sin(math.pi * max(0, min(hour - 6, 14)) / 14)
    held = 40.0 if _trouble(ts, incidents) else 0.0
    return round(min(100.0, max(0.0, 30 + 35 * daily + held + r.gauss(0, 3))), 1)


def db_query_seconds(seed: int, ts: int, incidents: list[Incident]) -> float:
    """Mean time per transaction of the QMS database: a few milliseconds, ten times that in trouble."""
    r = rng(seed, "db-query", ts // (5 * MIN))
    return round(max(0.0005, r.lognormvariate(math.log(0.004), 0.3) * (10 if _trouble(ts, incidents) else 1)), 5)


def db_lock_waits(seed: int, ts: int, incidents: list[Incident]) -> int:
    """Sessions of the QMS database waiting on a lock: now and then one, a handful in trouble."""
    r = rng(seed, "db-locks", ts // (5 * MIN))
    return r.randrange(2, 9) if _trouble(ts, incidents) else int(r.random() < 0.08)


def migration_batches(seed: int, start: int, end: int, incidents: list[Incident]) -> list[Item]:
    """The migration's record batches finished in (start, end], one every 5 minutes.

    About 1.5 % of a batch's records fail verification, 14 % while the platform is in
    trouble: the recorded migration_success_rate_percent follows from these events.
    """
    out = []
    for ts in range((start // (5 * MIN) + 1) * 5 * MIN, end + 1, 5 * MIN):
        r = rng(seed, "migration-batch", ts // (5 * MIN))
        records = r.randrange(800, 1600)
        share = min(1.0, r.gauss(0.86, 0.025) if _trouble(ts, incidents) else r.gauss(0.985, 0.006))
        succeeded = round(records * share)
        data = {
            "batch_id": f"B-{ts // (5 * MIN)}",
            "dataset": r.choice(DATASETS),
            "records": records,
            "succeeded": succeeded,
            "failed": records - succeeded,
            "duration_s": round(r.uniform(60, 280), 1),
        }
        out.append((ts, f"demo-mig-batch-{ts // (5 * MIN)}", "migration.batch_completed", data))
        if share < ROLLBACK_BELOW and rng(seed, "migration-rollback", ts // (5 * MIN)).random() < ROLLBACK_SHARE:
            rollback = {
                "batch_id": data["batch_id"],
                "dataset": data["dataset"],
                "records": records,
                "reason": f"{(1 - share) * 100:.0f} % of records failed verification",
            }
            out.append((ts, f"demo-mig-rollback-{ts // (5 * MIN)}", "migration.rollback", rollback))
    return out


def issue_impact(seed: int, day: int, severity: str) -> dict[str, Any]:
    """What a migration issue affects (datasets, users, downtime), from a generator of its own (so adding it
    left every other draw of the day where it was); minor issues affect nothing."""
    r = rng(seed, "migration-impact", day)
    if severity in ("info", "warning"):
        return {"affected_datasets": 0, "affected_users": 0, "estimated_downtime_min": 0}
    heavy = severity == "critical"
    return {
        "affected_datasets": r.randrange(5, 20) if heavy else r.randrange(1, 6),
        "affected_users": r.randrange(50, 400) if heavy else r.randrange(0, 40),
        "estimated_downtime_min": r.randrange(15, 120) if heavy else 0,
    }


def migration_timings(seed: int, start: int, end: int, incidents: list[Incident]) -> list[Item]:
    """Each migrated operation timed on the old and on the new system every 10 minutes in (start, end].

    The new system is faster at registering datasets and generating features and as fast as the old at
    queries; while a bad deployment slows a step (the ``slow_step`` incident), feature generation on the
    new system runs 1.8 times slower, so the performance-regression alert has something to find.
    """
    out: list[Item] = []
    for ts in range((start // TIMING_EVERY + 1) * TIMING_EVERY, end + 1, TIMING_EVERY):
        slow = any(i.start <= ts < i.end and i.kind == "slow_step" for i in incidents)
        for n, (operation, component, median, ratio) in enumerate(OPERATIONS):
            r = rng(seed, "migration-timing", ts // TIMING_EVERY, n)
            regressed = slow and operation == REGRESSED
            for system, factor in (("old", 1.0), ("new", ratio * (REGRESSION_FACTOR if regressed else 1.0))):
                data = {
                    "operation": operation,
                    "system": system,
                    "component": component,
                    "duration_s": round(median * factor * r.lognormvariate(0, 0.04), 4),
                }
                out.append((ts, f"demo-mig-op-{ts // TIMING_EVERY}-{n}-{system}", "migration.operation_timed", data))
    return out
