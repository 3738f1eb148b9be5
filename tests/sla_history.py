"""Crafted workflow histories for the SLA tests: events built from minutes before a fixed NOW."""

from __future__ import annotations

import json

import polars as pl

from core.model import Event
from core.sla.compliance import EVENT_SCHEMA

NOW = 1_767_225_600_000  # 2026-01-01 00:00 UTC
MIN, HOUR, DAY = 60_000, 3_600_000, 86_400_000


def step(
    workflow: str,
    name: str,
    start_min: float,
    minutes: float | None,
    *,
    status: str = "passed",
    attempt: int = 1,
    wait_s: float | None = None,
    agent: str = "agent-1",
) -> list[Event]:
    """A step attempt that started ``start_min`` minutes before NOW and took ``minutes`` (None: still open)."""
    start = NOW - int(start_min * MIN)
    base = {"workflow_id": workflow, "step": name, "attempt": attempt, "agent_id": agent}
    if wait_s is not None:
        base["queue_wait_s"] = wait_s
    events = [Event(f"{workflow}-{name}-{attempt}-s", "workflow.step_started", start, "test", base)]
    if minutes is not None:
        events.append(
            Event(
                f"{workflow}-{name}-{attempt}-c",
                "workflow.step_completed",
                start + int(minutes * MIN),
                "test",
                base | {"status": status, "duration_s": minutes * 60},
            )
        )
    return events


def workflow(workflow_id: str, start_min: float, minutes: float | None, *, failed: bool = False) -> list[Event]:
    """A whole workflow created ``start_min`` minutes before NOW that ended after ``minutes`` (None: running)."""
    start = NOW - int(start_min * MIN)
    events = [Event(f"{workflow_id}-created", "workflow.pr_created", start, "test", {"workflow_id": workflow_id})]
    if minutes is not None:
        kind = "workflow.workflow_failed" if failed else "workflow.workflow_completed"
        events.append(
            Event(
                f"{workflow_id}-end",
                kind,
                start + int(minutes * MIN),
                "test",
                {"workflow_id": workflow_id, "duration_s": minutes * 60},
            )
        )
    return events


def frame(events: list[Event]) -> pl.DataFrame:
    """The (ts, type, data) frame core.sla.store.workflow_events returns."""
    return pl.DataFrame([(e.ts, e.type, json.dumps(e.data)) for e in events], schema=EVENT_SCHEMA, orient="row")


def dor_history() -> list[Event]:
    """Ten DoR validations in the last hour: 8 in 10 min, one 18 min, one 25 min (escalated); one failed;
    one still open for 30 min; one from 2 h ago of 16 min (outside the 1 h window)."""
    events: list[Event] = []
    for n in range(8):
        events += step(f"WF-{n}", "dor_validation", 55 - n * 5, 10, status="failed" if n == 0 else "passed")
    events += step("WF-8", "dor_validation", 40, 18)
    events += step("WF-9", "dor_validation", 50, 25)
    events += step("WF-10", "dor_validation", 30, None)
    events += step("WF-11", "dor_validation", 130, 16)
    return events


def bottleneck_history() -> list[Event]:
    """Four workflows with known bottlenecks (tests/test_sla_bottlenecks.py spells out the answers)."""
    events: list[Event] = []
    # DoR (target 15 min): mean 14 min > 80 % (12 min); three items past 12 min lose 2, 4, 4 min.
    for n, minutes in enumerate((10, 14, 16, 16)):
        events += workflow(f"W{n}", 600, 400)
        events += step(f"W{n}", "dor_validation", 590, minutes, wait_s=60, agent="agent-x")
    # Progress reviews (response 30 min): two waits of 40 min (mean 40 > 24): each loses 16 min.
    events += step("W0", "progress_review", 500, 60, wait_s=40 * 60, agent="agent-y")
    events += step("W1", "progress_review", 500, 60, wait_s=40 * 60, agent="agent-y")
    # DoD (target 10 min): 5 min, no bottleneck.
    events += step("W0", "dod_validation", 400, 5, wait_s=0, agent="agent-z")
    return events


UTILISATION = {"agent-x": 90.0, "agent-y": 97.0, "agent-z": 50.0}  # mean load percent of each agent
