"""Error budgets, burn rates and the multi-window multi-burn-rate rules on crafted outcome streams."""

from __future__ import annotations

import polars as pl
import pytest

from core.sla import budget as b
from tests.sla_history import DAY, HOUR, MIN, NOW

START = NOW - 3 * DAY


def stream(
    bad_between: tuple[int, int] | None = None, every_bad: int | None = None, until: int = NOW + DAY
) -> pl.DataFrame:
    """One item per minute (at :30) from START to ``until``; bad inside ``bad_between``, or every ``every_bad``-th."""
    ts = list(range(START + 30_000, until, MIN))
    bad = [
        1.0 if (bad_between and bad_between[0] <= t < bad_between[1]) or (every_bad and n % every_bad == 0) else 0.0
        for n, t in enumerate(ts)
    ]
    return pl.DataFrame({"ts": ts, "bad": bad, "weight": [1.0] * len(ts)}, schema=b.OUTCOME_SCHEMA)


def test_budget_remaining_and_consumed():
    outcomes = pl.DataFrame(
        {"ts": [NOW - n * MIN for n in range(1, 1001)], "bad": [1.0] * 5 + [0.0] * 995, "weight": [1.0] * 1000},
        schema=b.OUTCOME_SCHEMA,
    )
    status = b.budget(outcomes, 0.99, 30 * DAY, NOW)
    assert status.allowed == pytest.approx(10.0)
    assert status.consumed == pytest.approx(0.5)
    assert status.remaining == pytest.approx(0.5)


def test_overspent_budget_goes_negative_and_no_data_is_none():
    outcomes = pl.DataFrame(
        {"ts": [NOW - MIN] * 10, "bad": [1.0] * 3 + [0.0] * 7, "weight": [1.0] * 10}, schema=b.OUTCOME_SCHEMA
    )
    assert b.budget(outcomes, 0.9, DAY, NOW).remaining == pytest.approx(-2.0)
    assert b.budget(b.empty_outcomes(), 0.9, DAY, NOW).remaining is None


def test_burn_rate_is_error_ratio_over_budget():
    outcomes = pl.DataFrame(
        {"ts": [NOW - n * 30_000 for n in range(1, 101)], "bad": [1.0] * 10 + [0.0] * 90, "weight": [1.0] * 100},
        schema=b.OUTCOME_SCHEMA,
    )
    assert b.burn_rate(outcomes, 0.99, HOUR, NOW) == pytest.approx(10.0)
    assert b.burn_rate(outcomes, 0.99, HOUR, NOW - 2 * HOUR) is None


def firing(outcomes: pl.DataFrame, at: int, objective: float = 0.999) -> set[str]:
    return {a.rule.name for a in b.evaluate(outcomes, objective, at) if a.firing}


def test_a_ten_minute_outage_fires_every_rule_and_each_resets_with_its_short_window():
    outage = (NOW, NOW + 10 * MIN)
    outcomes = stream(bad_between=outage)
    assert firing(outcomes, NOW) == set()
    # 5 minutes in: 1 h burns 5/60 / 0.001 = 83x, 5 m burns 1000x; 6 h: 5/360 = 13.9x, 30 m: 167x;
    # 3 d: 1.2x, 6 h: 13.9x.
    assert firing(outcomes, NOW + 5 * MIN) == {"fast_burn", "slow_burn", "steady_burn"}
    # Outage over for 6 min: the 5 m window is clean, so the page for the fast burn resets; the others still hold.
    assert firing(outcomes, NOW + 16 * MIN) == {"slow_burn", "steady_burn"}
    # 31 min after: the 30 m window is clean too.
    assert firing(outcomes, NOW + 41 * MIN) == {"steady_burn"}
    # Over 6 h after the end: only the 3-day window still holds the outage; no rule fires.
    assert firing(outcomes, NOW + 10 * MIN + 6 * HOUR + MIN) == set()


def test_a_slow_steady_leak_opens_only_a_ticket():
    outcomes = stream(every_bad=500)  # 0.2 % bad against a 0.1 % budget: 2x everywhere
    rates = {a.rule.name: (a.long_rate, a.short_rate) for a in b.evaluate(outcomes, 0.999, NOW)}
    assert rates["steady_burn"][0] == pytest.approx(2.0, rel=0.05)
    assert firing(outcomes, NOW) == {"steady_burn"}


def test_firing_timeline_says_when():
    outcomes = stream(bad_between=(NOW, NOW + 10 * MIN))
    times = [NOW + m * MIN for m in (0, 5, 14, 16, 45)]
    timeline = b.firing_timeline(outcomes, 0.999, times).filter(pl.col("rule") == "fast_burn")
    assert timeline["firing"].to_list() == [False, True, True, False, False]


def test_rules_are_the_workbook_table():
    assert [(r.long_ms, r.short_ms, r.factor) for r in b.RULES] == [
        (HOUR, 5 * MIN, 14.4),
        (6 * HOUR, 30 * MIN, 6.0),
        (3 * DAY, 6 * HOUR, 1.0),
    ]
    assert [round(r.budget_share, 3) for r in b.RULES] == [0.02, 0.05, 0.1]


def test_burn_down_falls_from_full_to_what_is_left():
    outcomes = pl.DataFrame(
        {
            "ts": [NOW - 5 * DAY + 1, NOW - 2 * DAY + 1, NOW - 2 * DAY + 2, NOW - HOUR],
            "bad": [1.0, 1.0, 0.0, 1.0],
            "weight": [1.0] * 4,
        },
        schema=b.OUTCOME_SCHEMA,
    )
    outcomes = pl.concat(
        [
            outcomes,
            pl.DataFrame(
                {"ts": [NOW - 6 * DAY] * 296, "bad": [0.0] * 296, "weight": [1.0] * 296}, schema=b.OUTCOME_SCHEMA
            ),
        ]
    )
    line = b.burn_down(outcomes, 0.99, 7 * DAY, NOW, DAY)  # 300 items: 3 allowed, 3 bad
    # Each point is the budget left at the end of its day: the bad items land in days 3, 6 and 7.
    assert line.height == 7
    assert line["remaining"].to_list() == pytest.approx([1.0, 1.0, 2 / 3, 2 / 3, 2 / 3, 1 / 3, 0.0])
    assert line["remaining"][-1] == pytest.approx(b.budget(outcomes, 0.99, 7 * DAY, NOW).remaining)
