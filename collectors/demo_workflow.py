"""The simulated QMS review pipeline: PR arrivals, four steps, agents, gates, defects, incidents.

Everything is a pure function of (seed, time): a PR's whole life is drawn from a
random generator seeded by its arrival hour and index, so any time window can be
generated on its own, a restart continues exactly where it stopped, and event ids
repeat identically (ingest skips them). Queues and loads are counted from the
simulated intervals rather than kept as state. See docs/demo.md.
"""

from __future__ import annotations

import hashlib
import math
import random
from dataclasses import dataclass, field
from typing import Any

MIN, HOUR, DAY = 60_000, 3_600_000, 86_400_000
STEPS = ("dor_validation", "progress_review", "dod_validation", "final_qms_review")
STEP_SIGMA = 0.22
STEP_MINUTES = {"dor_validation": 8.0, "progress_review": 70.0, "dod_validation": 6.0, "final_qms_review": 18.0}
WAIT_MINUTES = {"dor_validation": 3.0, "progress_review": 8.0, "dod_validation": 2.0, "final_qms_review": 4.0}
GATES = {
    "dor_validation": (("requirements-completeness-gate", 0.95),),
    "progress_review": (("code-coverage-gate", 0.9), ("static-analysis-gate", 0.94), ("security-scan-gate", 0.96)),
    "dod_validation": (("test-pass-gate", 0.93), ("documentation-gate", 0.97)),
    "final_qms_review": (("compliance-gate", 0.97),),
}
AGENTS: tuple[tuple[str, tuple[str, ...], int], ...] = (
    *((f"qms-dor-validator-{n}", ("dor_validation",), 4) for n in (1, 2)),
    *((f"qms-code-reviewer-{n}", ("progress_review",), 3) for n in (1, 2, 3, 4, 5)),
    *((f"qms-security-reviewer-{n}", ("progress_review",), 3) for n in (1, 2)),
    *((f"qms-testing-specialist-{n}", ("dod_validation", "progress_review"), 4) for n in (1, 2, 3)),
    *((f"qms-compliance-officer-{n}", ("final_qms_review",), 3) for n in (1, 2)),
    ("qms-architect-1", ("final_qms_review", "progress_review"), 2),
)
REPOSITORIES = ("org/payments-api", "org/web-portal", "org/data-pipeline", "org/mobile-app", "org/platform-infra")
AUTHORS = tuple(f"dev-{n}" for n in ("anna", "bram", "chen", "dara", "eli", "fay", "gus", "hana", "ivo", "jun"))
SEVERITIES = (("critical", 0.03), ("high", 0.15), ("medium", 0.45), ("low", 0.37))
CATEGORIES = ("logic", "security", "performance", "style", "documentation", "testing")
# How review findings are closed: most fixed, a few rejected by the author as false positives, some
# accepted but not worth fixing. Resolution-time means in hours; fixes scale with severity.
RESOLUTIONS = (("fixed", 0.89), ("false_positive", 0.06), ("wont_fix", 0.05))
FALSE_POSITIVE_HOURS, WONT_FIX_HOURS = 0.8, 20.0
FIX_SPEED = {"critical": 0.5, "high": 0.75, "medium": 1.0, "low": 1.4}
# Defects review missed, found in production after the merge: per merged PR, higher when the PR went
# through the pipeline during an incident (rushed reviews behind a backlog, a reviewer short, a bad deploy);
# production defects are always fixed, within hours.
ESCAPE_CHANCE, ESCAPE_CHANCE_INCIDENT = 0.02, 0.12
ESCAPED_SEVERITIES = (("critical", 0.1), ("high", 0.3), ("medium", 0.4), ("low", 0.2))
ESCAPED_STAGE = "production"
MAX_ATTEMPTS = 3
LIFETIME = 3 * DAY  # a PR's events all fall within this of its arrival


def rng(seed: int, *parts: object) -> random.Random:
    """A generator fixed by the seed and the parts, independent of call order."""
    key = hashlib.blake2b(repr((seed, *parts)).encode(), digest_size=8).digest()
    return random.Random(int.from_bytes(key, "big"))


@dataclass(frozen=True)
class Incident:
    """A scheduled disturbance: queue_backlog (target = step), agent_outage (agent), slow_step (step)."""

    id: str
    kind: str
    start: int
    end: int
    target: str


def incidents_on(seed: int, day: int) -> list[Incident]:
    """The incidents of one UTC day (day = epoch ms // DAY); each kind recurs every week or so."""
    found, r = [], rng(seed, "incident", day)
    weekday = (day + 3) % 7  # 0 = Monday
    if weekday == 1:  # Tuesdays: the progress-review queue stalls
        start = day * DAY + (9 + r.randrange(4)) * HOUR
        found.append(
            Incident(f"INC-{day}-Q", "queue_backlog", start, start + r.randint(2, 3) * HOUR, "progress_review")
        )
    if day % 9 == 5:
        start = day * DAY + (8 + r.randrange(8)) * HOUR
        agent = r.choice([a for a, skills, _ in AGENTS if "progress_review" in skills])
        found.append(Incident(f"INC-{day}-A", "agent_outage", start, start + r.randint(1, 3) * HOUR, agent))
    if day % 11 == 7 and weekday < 5:
        start = day * DAY + 14 * HOUR + 10 * MIN  # just after the day's decision-engine deployment
        found.append(Incident(f"INC-{day}-S", "slow_step", start, start + 2 * HOUR, r.choice(STEPS)))
    return found


def arrival_rate(ts: int) -> float:
    """Expected PRs per hour: a working-day curve (UTC), quieter nights, a fraction at weekends."""
    hour = ts // HOUR % 24
    weekday = (ts // DAY + 3) % 7  # 1970-01-01 was a Thursday; 0 = Monday
    profile = 0.15 if hour < 6 or hour >= 22 else 0.5 if hour < 8 or hour >= 19 else 1.0
    return 7.0 * profile * (0.2 if weekday >= 5 else 1.0)


@dataclass
class Pr:
    """One simulated PR: its events and the intervals the samplers count."""

    number: int
    created: int
    finished: int = 0
    failed: bool = False
    events: list[tuple[int, str, dict[str, Any]]] = field(default_factory=list)
    queued: list[tuple[str, int, int]] = field(default_factory=list)  # (step, entered, started)
    worked: list[tuple[str, str, int, int]] = field(default_factory=list)  # (agent, step, start, end)


def _poisson(r: random.Random, mean: float) -> int:
    limit, k, p = math.exp(-mean), 0, 1.0
    while True:
        p *= r.random()
        if p <= limit:
            return k
        k += 1


def _active(incidents: list[Incident], kind: str, target: str | None, ts: int) -> Incident | None:
    return next(
        (i for i in incidents if i.kind == kind and i.start <= ts < i.end and (target is None or i.target == target)),
        None,
    )


def prs_in_hour(seed: int, hour: int, incidents: list[Incident]) -> list[Pr]:
    """All PRs that arrive in one epoch hour, each simulated to the end of its life."""
    r = rng(seed, "arrivals", hour)
    count = min(_poisson(r, arrival_rate(hour * HOUR)), 9)
    return [simulate_pr(seed, hour * 10 + i, hour * HOUR + r.randrange(HOUR), incidents) for i in range(count)]


def review_resolution(seed: int, defect_id: str, severity: str, fix_hours: float) -> tuple[str, float]:
    """How a review finding is closed and after how many hours (``fix_hours``: the drawn time to fix a medium one).

    Drawn from the defect's own generator, so the PR's stream (and every other event) is unchanged.
    """
    r = rng(seed, "resolution", defect_id)
    resolution = r.choices([n for n, _ in RESOLUTIONS], [w for _, w in RESOLUTIONS])[0]
    if resolution == "false_positive":  # the author disputes it and the reviewer withdraws it quickly
        return resolution, r.lognormvariate(math.log(FALSE_POSITIVE_HOURS), 0.5)
    if resolution == "wont_fix":  # triaged into the backlog at the next planning
        return resolution, r.lognormvariate(math.log(WONT_FIX_HOURS), 0.4)
    return resolution, fix_hours * FIX_SPEED[severity]


def escaped_defects(seed: int, pr: Pr, base: dict[str, Any]) -> list[tuple[int, str, dict[str, Any]]]:
    """A merged PR's defect that review missed: found in production hours after the merge, then hot-fixed.

    The incidents are looked up from the schedule rather than taken from the caller, whose
    window may not know yet of one that starts later: the outcome is the same in every window.
    """
    r = rng(seed, "escape", pr.number)
    chance = r.random()
    if chance >= ESCAPE_CHANCE_INCIDENT:
        return []
    if chance >= ESCAPE_CHANCE and not any(
        i.start < pr.finished and i.end > pr.created
        for day in range(pr.created // DAY - 1, pr.finished // DAY + 1)
        for i in incidents_on(seed, day)
    ):
        return []
    found_at = pr.finished + int(r.lognormvariate(math.log(10.0), 0.6) * HOUR)
    severity = r.choices([s for s, _ in ESCAPED_SEVERITIES], [w for _, w in ESCAPED_SEVERITIES])[0]
    hours = r.lognormvariate(math.log(6.0 * FIX_SPEED[severity]), 0.5)
    # the PR's events stay within LIFETIME of its arrival (the generator looks back that far)
    last = pr.created + LIFETIME - MIN
    found_at = min(found_at, last - 2 * HOUR)
    hours = min(hours, (last - found_at) / HOUR)
    defect = base | {
        "defect_id": f"DEF-{pr.number}-P",
        "severity": severity,
        "category": r.choice(CATEGORIES),
        "step": ESCAPED_STAGE,
        "escaped": True,
        "agent_id": "production-monitoring",
    }
    return [
        (found_at, "qa.defect_found", defect),
        (
            found_at + int(hours * HOUR),
            "qa.defect_resolved",
            defect | {"resolution_hours": round(hours, 2), "resolution": "fixed"},
        ),
    ]


COVERAGE_GATE = "code-coverage-gate"
COVERAGE_BASE = {  # each repository's usual line coverage, in percent
    "org/payments-api": 88.0,
    "org/web-portal": 74.0,
    "org/data-pipeline": 82.0,
    "org/mobile-app": 69.0,
    "org/platform-infra": 79.0,
}


def coverage_percent(seed: int, repository: str, number: int, attempt: int, passed: bool) -> float:
    """Line coverage the coverage gate reports for a PR: the repository's usual level, lower when the gate fails."""
    r = rng(seed, "coverage", number, attempt)
    value = COVERAGE_BASE[repository] + r.gauss(0, 2.5) - (0 if passed else r.uniform(6, 12))
    return round(min(100.0, max(0.0, value)), 1)


def simulate_pr(seed: int, number: int, created: int, incidents: list[Incident]) -> Pr:
    """Walk one PR through the four steps with queue waits, agents, gates, retries and defects."""
    r = rng(seed, "pr", number)
    pr = Pr(number, created)
    base = {"workflow_id": f"WF-PR-{number}", "pr_number": number, "repository": r.choice(REPOSITORIES)}
    priority = r.choices(("low", "normal", "high", "critical"), (0.2, 0.6, 0.15, 0.05))[0]
    pr.events.append(
        (
            created,
            "workflow.pr_created",
            base | {"author": r.choice(AUTHORS), "priority": priority, "lines_changed": int(r.lognormvariate(5, 1))},
        )
    )
    t, retries = created + r.randrange(30_000, 180_000), 0
    for step in STEPS:
        for attempt in range(1, MAX_ATTEMPTS + 1):
            wait = r.expovariate(1 / WAIT_MINUTES[step]) * MIN * (0.6 + arrival_rate(t) / 7)
            backlog = _active(incidents, "queue_backlog", step, t)
            if backlog:
                wait += (backlog.end - t) + r.uniform(0, 1.5) * HOUR  # held until the stall ends, then drained
            start = int(t + wait)
            down = {i.target for i in incidents if i.kind == "agent_outage" and i.start <= start < i.end}
            agents = [(a, c) for a, skills, c in AGENTS if step in skills and a not in down]
            agent = r.choices([a for a, _ in agents], [c for _, c in agents])[0]
            slow = 3.0 if _active(incidents, "slow_step", step, start) else 1.0
            # sigma 0.22 keeps ~99.5 % of steps inside their SLA target outside incidents, as a healthy
            # pipeline would; the incidents (slow step, backlog, outage) are what breach it.
            duration = int(r.lognormvariate(math.log(STEP_MINUTES[step] * MIN), STEP_SIGMA) * slow)
            end = start + duration
            pr.queued.append((step, int(t), start))
            pr.worked.append((agent, step, start, end))
            ctx = base | {"step": step, "attempt": attempt, "agent_id": agent}
            pr.events.append((start, "workflow.agent_assigned", base | {"agent_id": agent, "step": step}))
            pr.events.append((start, "workflow.step_started", ctx | {"queue_wait_s": round((start - t) / 1000, 1)}))
            if step == "progress_review" and attempt == 1:
                pr.events.append((start, "workflow.review_started", base | {"agent_id": agent}))
            passed = True
            for n, (gate, chance) in enumerate(GATES[step]):
                at = start + duration * (n + 1) // (len(GATES[step]) + 1)
                ok = r.random() < chance
                metrics = {
                    "score": round(r.uniform(0.8, 1.0) if ok else r.uniform(0.5, 0.8), 3),
                    "threshold": 0.8,
                    "execution_time": round(r.uniform(5, 240), 1),
                }
                if gate == COVERAGE_GATE:  # the coverage the gate measured (its own generator: the PR's draws stay put)
                    metrics["coverage_percentage"] = coverage_percent(
                        seed, str(base["repository"]), number, attempt, ok
                    )
                gate_data = ctx | {"gate_name": gate, "metrics": metrics}
                pr.events.append((at, "workflow.quality_gate_executed", gate_data | {"passed": ok}))
                pr.events.append(
                    (at, "workflow.quality_gate_passed" if ok else "workflow.quality_gate_failed", gate_data)
                )
                passed = passed and ok
            if step == "progress_review" and r.random() < 0.3:
                for k in range(1 + (r.random() < 0.3)):
                    found_at = start + int(duration * r.uniform(0.2, 0.9))
                    severity = r.choices([s for s, _ in SEVERITIES], [w for _, w in SEVERITIES])[0]
                    defect_id = f"DEF-{number}-{attempt}{k}"
                    defect = base | {
                        "defect_id": defect_id,
                        "severity": severity,
                        "category": r.choice(CATEGORIES),
                        "step": step,
                        "agent_id": agent,
                    }
                    pr.events.append((found_at, "qa.defect_found", defect))
                    hours = r.lognormvariate(math.log(4.0), 0.6)
                    resolution, hours = review_resolution(seed, defect_id, severity, hours)
                    pr.events.append(
                        (
                            found_at + int(hours * HOUR),
                            "qa.defect_resolved",
                            defect | {"resolution_hours": round(hours, 2), "resolution": resolution},
                        )
                    )
            pr.events.append(
                (
                    end,
                    "workflow.step_completed",
                    ctx
                    | {
                        "status": "passed" if passed else "failed",
                        "duration_s": round(duration / 1000, 1),
                        "queue_wait_s": round((start - t) / 1000, 1),
                    },
                )
            )
            if step == "final_qms_review":
                pr.events.append(
                    (
                        end,
                        "qa.compliance_check",
                        base
                        | {
                            "policy": "qms-release-policy",
                            "passed": passed,
                            "score": round(r.uniform(0.85, 1.0) if passed else r.uniform(0.6, 0.85), 3),
                        },
                    )
                )
            t = end
            if passed:
                break
            retries += 1
            if attempt == MAX_ATTEMPTS:
                pr.finished, pr.failed = end, True
                pr.events.append(
                    (
                        end,
                        "workflow.workflow_failed",
                        base
                        | {
                            "failed_step": step,
                            "reason": "quality gate failed 3 times",
                            "duration_s": round((end - created) / 1000, 1),
                            "retries": retries,
                        },
                    )
                )
                return pr
            t = end + int(r.expovariate(1 / 15) * MIN)  # the author reworks the change
    pr.finished = int(t)
    pr.events.append(
        (
            pr.finished,
            "workflow.workflow_completed",
            base | {"duration_s": round((t - created) / 1000, 1), "retries": retries},
        )
    )
    pr.events.extend(escaped_defects(seed, pr, base))
    return pr
