"""Demo workload: a realistic, deterministic QMS pipeline, QSE programme and migration.

On first start with an empty store it back-fills 30 days (samples every 5 minutes,
every event), then generates live on each run. Output depends only on the seed and
the clock, so a restart resumes where it left off and re-generated events are
skipped by id. Events have ``source = "demo"``, samples the label ``source="demo"``,
test runs and deployments ``source = "demo"``; core.ingest.demo_data finds and purges them.
PULSEBOARD_DEMO=0 turns it off. What it simulates: docs/demo.md; fields: docs/events.md.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np
import sqlalchemy as sa
from sqlalchemy.engine import Engine

from collectors.demo_ci_tests import ci_runs
from collectors.demo_programmes import (
    api_profile,
    db_lock_waits,
    db_pool_percent,
    db_query_seconds,
    migration_batches,
    migration_day,
    migration_timings,
    nightly_suites,
    operations_day,
    qse_sessions,
)
from collectors.demo_workflow import (
    AGENTS,
    DAY,
    HOUR,
    LIFETIME,
    MIN,
    STEPS,
    Incident,
    Pr,
    incidents_on,
    prs_in_hour,
    rng,
)
from core.config import Settings
from core.ingest import ingest
from core.ingest.demo_data import DEMO_SOURCE, STATE, demo_disabled
from core.ingest.junit import TestCase, TestRun, store_test_run
from core.model import Batch, Event, Labels, Sample, canonical_labels, now_ms
from core.recording.job import recompute_from_scratch
from core.store import schema
from core.store.collector_state import get_state, put_state
from core.store.forecasts import request_refit

log = logging.getLogger(__name__)

ENDPOINTS = (
    "/api/v1/workflows",
    "/api/v1/agents",
    "/api/v1/metrics",
    "/api/v1/events",
    "/api/v1/reports",
    "/api/v1/dashboard",
)
BACKFILL_DAYS = 30
BACKFILL_STEP = 5 * MIN
OLD_STEP = 15 * MIN  # back-fill resolution older than RECENT
RECENT = 3 * DAY  # the 1-minute tier serves ranges up to 3 days; beyond, 15-minute points suffice
QUEUE_EVENT_EVERY = 15 * MIN
CHUNK = 20_000


class DemoWorkload:
    """Pure generator of the demo's events, samples and test runs for any time window."""

    def __init__(self, seed: int, anchor_ms: int) -> None:
        self.seed, self.anchor = seed, anchor_ms
        self._hours: dict[int, list[Pr]] = {}
        self._labels: dict[tuple[str, ...], Labels] = {}

    def incidents(self, start: int, end: int) -> list[Incident]:
        """Incidents overlapping [start, end]."""
        return [
            i
            for day in range(start // DAY - 1, end // DAY + 1)
            for i in incidents_on(self.seed, day)
            if i.end >= start and i.start <= end
        ]

    def prs(self, start: int, end: int) -> list[Pr]:
        """PRs whose life may touch [start, end]; hours are cached, old ones dropped."""
        incidents = self.incidents(start - LIFETIME, end)
        hours = range((start - LIFETIME) // HOUR, end // HOUR + 1)
        for hour in hours:
            if hour not in self._hours:
                self._hours[hour] = prs_in_hour(self.seed, hour, incidents)
        for hour in [h for h in self._hours if h < hours.start]:
            del self._hours[hour]
        return [pr for hour in hours for pr in self._hours[hour]]

    def events(self, start: int, end: int, prs: list[Pr], depth: _Depth | None = None) -> list[Event]:
        """Every event with start < ts <= end."""
        items: list[tuple[int, str, str, dict[str, Any]]] = []
        for pr in prs:
            items.extend(
                (ts, f"demo-pr{pr.number}-{n:02d}", kind, data) for n, (ts, kind, data) in enumerate(pr.events)
            )
        for day in range(start // DAY - 10, end // DAY + 1):  # QSE sessions run for days after they start
            items.extend(qse_sessions(self.seed, day))
        for day in range(start // DAY - 2, end // DAY + 1):  # an issue is resolved up to 30 h after the day it began
            items.extend(migration_day(self.seed, day, self.anchor))
        for day in range(start // DAY, end // DAY + 1):
            items.extend(operations_day(self.seed, day))
        items.extend(migration_batches(self.seed, start, end, self.incidents(start, end)))
        items.extend(migration_timings(self.seed, start, end, self.incidents(start, end)))
        tick = (start // QUEUE_EVENT_EVERY + 1) * QUEUE_EVENT_EVERY
        depth = depth or _Depth(prs)
        for ts in range(tick, end + 1, QUEUE_EVENT_EVERY):
            for step in STEPS:
                items.append(
                    (
                        ts,
                        f"demo-queue-{step}-{ts}",
                        "system.queue_depth_updated",
                        {
                            "queue": step,
                            "depth": depth.queue(step, ts),
                            "warning_threshold": 10,
                            "critical_threshold": 20,
                        },
                    )
                )
        return [
            Event(i, kind, ts, DEMO_SOURCE, data, {"source": DEMO_SOURCE})
            for ts, i, kind, data in items
            if start < ts <= end
        ]

    def samples(self, times: Sequence[int], prs: list[Pr], depth: _Depth | None = None) -> list[Sample]:
        """The demo's series at each of ``times``."""
        depth, out = depth or _Depth(prs), []
        incidents = self.incidents(min(times, default=0) - DAY, max(times, default=0))
        labelled = self._labels

        def add(name: str, labels: dict[str, str], value: float, ts: int) -> None:
            key = (name, *labels.values())
            if key not in labelled:
                labelled[key] = canonical_labels({**labels, "source": DEMO_SOURCE})
            out.append(Sample(name, labelled[key], float(value), ts, "gauge"))

        for ts in times:
            for step in STEPS:
                add("qms_queue_depth", {"queue": step}, depth.queue(step, ts), ts)
            down = {i.target for i in incidents if i.kind == "agent_outage" and i.start <= ts < i.end}
            for agent, _, capacity in AGENTS:
                add("qms_agent_load_percent", {"agent": agent}, min(100.0, depth.busy(agent, ts) / capacity * 100), ts)
                add("qms_agent_up", {"agent": agent}, 0.0 if agent in down else 1.0, ts)
            qms_db = {"database": "qms-primary", "driver": "postgresql"}  # the simulated QMS's own database
            add("db_connection_pool_used_percent", qms_db, db_pool_percent(self.seed, ts, incidents), ts)
            add("db_query_duration_seconds", qms_db, db_query_seconds(self.seed, ts, incidents), ts)
            add("db_lock_waiting_sessions", qms_db, db_lock_waits(self.seed, ts, incidents), ts)
            for endpoint in ENDPOINTS:
                rate, p50, errors = api_profile(self.seed, endpoint, ts, incidents)
                add("api_requests_per_second", {"endpoint": endpoint}, round(rate, 3), ts)
                add("api_errors_percent", {"endpoint": endpoint}, round(errors, 3), ts)
                for quantile, factor in (("0.5", 1.0), ("0.95", 2.6), ("0.99", 4.5)):
                    add(
                        "api_request_duration_seconds",
                        {"endpoint": endpoint, "quantile": quantile},
                        round(p50 * factor, 4),
                        ts,
                    )
            ops = api_profile(self.seed, "migration", ts, incidents)
            add("migration_operations_per_second", {}, round(ops[0] * 90, 1), ts)
            add("migration_response_time_seconds", {"system": "old"}, round(ops[1] * 3.6, 4), ts)
            add("migration_response_time_seconds", {"system": "new"}, round(ops[1] * 2.2, 4), ts)
        return out

    def test_runs(self, start: int, end: int) -> list[tuple[TestRun, dict[str, str]]]:
        """The migration's nightly suites run in (start, end], as JUnit-like runs."""
        runs = []
        for day in range(start // DAY, end // DAY + 1):
            for suite, ts, passed, failed, skipped, seconds in nightly_suites(self.seed, day, "migration"):
                if not start < ts <= end:
                    continue
                cases = [
                    TestCase(
                        suite,
                        f"tests.migration.test_{suite.split()[0].lower()}",
                        f"test_{n:03d}",
                        status,
                        round(seconds / (passed + failed + skipped), 3),
                        "AssertionError: new system differs from old" if status == "failed" else None,
                    )
                    for n, status in enumerate(suite_statuses(self.seed, suite, passed, failed, skipped))
                ]
                run = TestRun(suite, tuple(cases), seconds, ts, f"demo-{suite}-{day}")
                runs.append(
                    (
                        run,
                        {
                            "suite": suite,
                            "component": "migration",
                            "phase": "nightly",
                            "source": DEMO_SOURCE,
                            "run_key": f"demo-{self.seed}-{suite}-{day}",
                        },
                    )
                )
        return runs + ci_runs(self.seed, self.anchor, start, end)


def suite_statuses(seed: int, suite: str, passed: int, failed: int, skipped: int) -> list[str]:
    """Each test's status by its index: the suite's most fragile tests fail, its last ones are skipped.

    A fixed order per suite decides which tests those are, so the same tests fail run after run
    and those at the edge flip (flaky), as in a real suite, instead of failures moving at random.
    """
    total = passed + failed + skipped
    order = rng(seed, "fragility", suite).sample(range(total), total)
    statuses = ["passed"] * total
    for n in order[:failed]:
        statuses[n] = "failed"
    for n in order[total - skipped :]:
        statuses[n] = "skipped"
    return statuses


class _Depth:
    """Queue depths and agent work over the simulated intervals, counted with sorted arrays."""

    def __init__(self, prs: list[Pr]) -> None:
        def arrays(pairs: list[tuple[int, int]]) -> tuple[np.ndarray, np.ndarray]:
            return np.sort(np.array([a for a, _ in pairs] or [0])), np.sort(np.array([b for _, b in pairs] or [0]))

        self._queues = {s: arrays([(a, b) for pr in prs for step, a, b in pr.queued if step == s]) for s in STEPS}
        self._agents = {
            a: arrays([(s, e) for pr in prs for agent, _, s, e in pr.worked if agent == a]) for a, _, _ in AGENTS
        }

    @staticmethod
    def _open(pair: tuple[np.ndarray, np.ndarray], ts: int) -> int:
        return int(np.searchsorted(pair[0], ts, "right") - np.searchsorted(pair[1], ts, "right"))

    def queue(self, step: str, ts: int) -> int:
        return max(0, self._open(self._queues[step], ts))

    def busy(self, agent: str, ts: int) -> int:
        return max(0, self._open(self._agents[agent], ts))


def store_is_empty(engine: Engine) -> bool:
    """No events yet: the only case in which the demo back-fills.

    Series are not counted: the system and self-metrics collectors start with the demo
    and write host samples within the first second, which must not block the back-fill.
    """
    with engine.connect() as connection:
        return connection.scalar(sa.select(schema.events.c.id).limit(1)) is None


class DemoCollector:
    """Runs the workload: back-fill once, then the window since the last run on each call."""

    name = "demo"
    shared = True  # one replica writes the workload (collectors.base)

    def __init__(
        self,
        engine: Engine,
        settings: Settings | None = None,
        *,
        seed: int = 7,
        interval: float = 10.0,
        clock: Callable[[], int] = now_ms,
        backfill_days: int = BACKFILL_DAYS,
    ) -> None:
        self.engine, self.settings, self.seed, self.interval, self.clock = engine, settings, seed, interval, clock
        self.backfill_days = backfill_days
        self.workload: DemoWorkload | None = None

    def collect(self) -> Batch:
        """Generate and store what is due; returns an empty batch (the demo writes directly)."""
        if demo_disabled(self.engine):
            return Batch()
        now = self.clock()
        state = get_state(self.engine, STATE, "state")
        if state is None:
            state = {"anchor_ms": now, "watermark_ms": now, "seed": self.seed}
            if store_is_empty(self.engine):
                self.workload = DemoWorkload(self.seed, now)
                started = time.perf_counter()
                self.generate(now - self.backfill_days * DAY, now, BACKFILL_STEP)
                state["backfill_s"] = round(time.perf_counter() - started, 2)
                log.info("demo back-filled %d days in %.1f s", self.backfill_days, state["backfill_s"])
                recompute_from_scratch(self.engine)  # the recording job may have run on half the history
                request_refit(self.engine, "demo", now_ms())  # forecasts fitted meanwhile saw an empty store
            put_state(self.engine, STATE, "state", state)
            return Batch()
        if self.workload is None or self.workload.anchor != state["anchor_ms"]:
            self.workload = DemoWorkload(int(state.get("seed", self.seed)), int(state["anchor_ms"]))
        start = max(int(state["watermark_ms"]), now - BACKFILL_DAYS * DAY)
        if now > start:
            self.generate(start, now, BACKFILL_STEP if now - start > HOUR else now - start)
            put_state(self.engine, STATE, "state", state | {"watermark_ms": now})
        return Batch()

    def generate(self, start: int, end: int, step: int) -> None:
        """Store everything in (start, end], one day at a time, samples every ``step`` ms."""
        assert self.workload is not None
        for day_start in range(start, end, DAY):
            day_end = min(end, day_start + DAY)
            prs = self.workload.prs(day_start, day_end)
            every = (
                max(step, OLD_STEP) if end - day_end > RECENT else step
            )  # older than the 5-minute tier reaches: coarser
            times = (
                range(day_end - (day_end - day_start) // every * every + every, day_end + 1, every)
                if every
                else [day_end]
            )
            depth = _Depth(prs)
            events = self.workload.events(day_start, day_end, prs, depth)
            samples = self.workload.samples(times, prs, depth)
            for n in range(0, max(len(events), len(samples)), CHUNK):
                batch = Batch(tuple(samples[n : n + CHUNK]), tuple(events[n : n + CHUNK]))
                ingest(self.engine, batch, origin="demo", settings=self.settings)
            for run, labels in self.workload.test_runs(day_start, day_end):
                store_test_run(self.engine, run, labels)
            if self.engine.dialect.name == "postgresql" and (day_start - start) // DAY in (0, 1, 3, 7, 15):
                # a table filled faster than autovacuum analyses it gets seq-scan plans for id lookups
                with self.engine.begin() as connection:
                    connection.exec_driver_sql("ANALYZE events, series, test_runs")


def build(settings: Settings, engine: Engine | None) -> list[DemoCollector]:
    """Registry factory: the demo when PULSEBOARD_DEMO is on and a store is attached."""
    if engine is None or not settings.demo:
        return []
    return [DemoCollector(engine, settings, seed=settings.demo_seed, interval=settings.demo_interval_s)]
