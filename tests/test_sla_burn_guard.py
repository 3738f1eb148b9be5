"""Burn-rate alerts wait for enough items and a warm-up: a fresh install's first slow page loads do not page.

The pure guard on crafted outcome streams, then the self-monitoring case end to end on a real SQLite file and a real
Postgres database: Pulseboard's own page-load samples, the SLA check, the live alerts table.
"""

from __future__ import annotations

import json

import polars as pl
import sqlalchemy as sa

from core.ingest import ingest
from core.model import Batch, Sample
from core.sla import budget as b
from core.sla.jobs import check_slas
from core.store import schema
from core.store.rollup import run_rollup
from tests.sla_history import DAY, HOUR, MIN, NOW

GUARD = b.BurnGuard(min_items=20, warmup_ms=HOUR)


def bad_items(count: int, every_ms: int = MIN) -> pl.DataFrame:
    """``count`` bad items, the last one just before NOW, ``every_ms`` apart."""
    ts = [NOW - 30_000 - n * every_ms for n in range(count)]
    return pl.DataFrame({"ts": ts, "bad": [1.0] * count, "weight": [1.0] * count}, schema=b.OUTCOME_SCHEMA)


def test_three_bad_items_burn_but_are_held_for_too_few_items():
    alerts = {a.rule.name: a for a in b.evaluate(bad_items(3), 0.99, NOW, guard=GUARD)}
    assert all(a.burning for a in alerts.values())  # 100x everywhere: the workbook rule alone would page
    assert not any(a.firing for a in alerts.values())
    assert alerts["fast_burn"].held == "3 of 20 items in the long window"
    assert {a.firing for a in b.evaluate(bad_items(3), 0.99, NOW)} == {True}  # no guard: all fire


def test_enough_items_still_wait_for_the_warm_up_then_fire():
    young = b.evaluate(bad_items(40), 0.99, NOW, guard=GUARD)  # 40 items over the last 40 minutes
    assert all(a.burning and not a.firing for a in young)
    assert {a.held for a in young} == {"warming up: data 39 min old, 60 min needed"}
    old = b.evaluate(bad_items(40, every_ms=2 * MIN), 0.99, NOW, guard=GUARD)  # the same 40 over 80 minutes
    assert {a.rule.name for a in old if a.firing} == {"fast_burn", "slow_burn", "steady_burn"}
    assert [a.long_items for a in old] == [30.0, 40.0, 40.0]  # the hour holds 30 of them


def test_first_seen_counts_from_the_end_of_a_rollup_bucket_and_only_within_the_longest_window():
    outcomes = pl.DataFrame({"ts": [NOW - 4 * DAY, NOW - 2 * HOUR, NOW - HOUR]}, schema={"ts": pl.Int64}).with_columns(
        bad=pl.lit(0.0), weight=pl.lit(1.0)
    )
    assert b.first_seen(outcomes, NOW) == NOW - 2 * HOUR  # the 4-day-old item is past the 3-day horizon
    assert b.first_seen(outcomes, NOW, bucket_ms=5 * MIN) == NOW - 2 * HOUR + 5 * MIN
    assert b.first_seen(b.empty_outcomes(), NOW) is None
    assert GUARD.hold(25, None, NOW) == "warming up: data 0 min old, 60 min needed"


PAGE_LOAD = "pulseboard_page_load_seconds"


def page_loads(minutes_ago: list[float], seconds: float = 6.0) -> Batch:
    """Slowest page-script run per self-metrics interval, as collectors/selfstats.py stores it (target 2 s)."""
    return Batch(
        tuple(
            Sample.of(PAGE_LOAD, {"page": "overview", "host": "h1"}, seconds, NOW - int(m * MIN)) for m in minutes_ago
        )
    )


def firing_burns(engine) -> set[str]:
    with engine.connect() as connection:
        rows = connection.execute(
            sa.select(schema.alerts.c.labels).where(
                schema.alerts.c.rule == "slo_burn", schema.alerts.c.state == "firing"
            )
        ).all()
    return {f"{json.loads(labels)['sla']}/{json.loads(labels)['burn_rule']}" for (labels,) in rows}


class Recorder:
    """A sink that only remembers what fired."""

    def __init__(self) -> None:
        self.fired: set[str] = set()

    def fire(self, rule, labels, severity, summary, value, channels, now_ms) -> None:  # type: ignore[no-untyped-def]
        if rule == "slo_burn":
            self.fired.add(f"{labels['sla']}/{labels['burn_rule']}")

    def resolve(self, rule, labels, now_ms) -> None:  # type: ignore[no-untyped-def]
        pass


def test_three_slow_page_loads_on_a_fresh_install_raise_no_burn_alert(slas, settings):
    # Started 15 minutes ago; three page loads of 6 s against the 2 s target, nothing else measured yet.
    ingest(slas, Batch(page_loads([13, 8, 3]).samples), origin="test", settings=settings)
    run_rollup(slas, NOW)
    result = check_slas(slas, settings, now_ms=NOW)
    assert not [f for f in result.firing if f[0] == "slo_burn"]
    assert firing_burns(slas) == set()
    held = {(sla, rule): why for sla, rule, why in result.held}
    assert held[("dashboard_page_load", "fast_burn")] == "3 of 20 items in the long window"
    # Without the guard the same three samples would page at once: the guard is what holds them.
    unguarded = settings.model_copy(update={"sla_burn_min_items": 0, "sla_burn_warmup_s": 0.0})
    recorder = Recorder()
    check_slas(slas, unguarded, now_ms=NOW, sink=recorder)
    assert "dashboard_page_load/fast_burn" in recorder.fired


def test_slow_page_loads_every_minute_wait_for_the_warm_up(slas, settings):
    ingest(slas, page_loads([m + 0.5 for m in range(45)]), origin="test", settings=settings)
    run_rollup(slas, NOW)
    result = check_slas(slas, settings, now_ms=NOW)
    assert firing_burns(slas) == set()
    # 45 samples in the hour are enough, but the data is younger than the hour's warm-up (counted from the end of
    # the first 5-minute bucket, so never early); the 3-day window's 5-minute buckets are 9, too few anyway.
    held = {rule: why for sla, rule, why in result.held if sla == "dashboard_page_load"}
    assert held == {
        "fast_burn": "warming up: data 40 min old, 60 min needed",
        "slow_burn": "warming up: data 40 min old, 60 min needed",
        "steady_burn": "9 of 20 items in the long window",
    }


def test_the_same_badness_sustained_past_the_warm_up_fires(slas, settings):
    # 90 minutes of 6-second page loads, one sample a minute: the hour holds 60, the data is 90 minutes old.
    ingest(slas, page_loads([m + 0.5 for m in range(90)]), origin="test", settings=settings)
    run_rollup(slas, NOW)
    result = check_slas(slas, settings, now_ms=NOW)
    assert firing_burns(slas) == {"dashboard_page_load/fast_burn", "dashboard_page_load/slow_burn"}
    # The 3-day window reads 5-minute buckets: 90 minutes are 18 of them, still short of 20.
    assert ("dashboard_page_load", "steady_burn", "18 of 20 items in the long window") in result.held
