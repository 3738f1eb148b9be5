"""Resolution follows the screen: step_for turns a range and a point budget into a bucket the tiers can build."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from core.query.plan import RESOLUTION_MS, step_candidates, step_for, step_text

S, MIN, HOUR, DAY = 1_000, 60_000, 3_600_000, 86_400_000


@pytest.mark.parametrize(
    ("range_ms", "max_points", "step"),
    [
        (HOUR, 1000, 5 * S),  # 3,600 s / 999 = 3.6 s -> 5 s, raw samples
        (12 * HOUR, 1000, MIN),  # 43.2 s -> the 1m tier's own minute
        (24 * HOUR, 1000, 5 * MIN),  # 86.5 s -> 5 min: no step between the 1m and 5m tiers
        (7 * DAY, 1000, HOUR),  # 605.4 s -> 1 h
        (30 * DAY, 1000, HOUR),  # 2,594.6 s -> 1 h
        (90 * DAY, 1000, 3 * HOUR),  # 7,783.8 s -> 3 h
        (400 * DAY, 1000, 12 * HOUR),  # 34,594.6 s -> 12 h
        (24 * HOUR, 300, 5 * MIN),  # 288.96 s -> 5 min
        (24 * HOUR, 2, DAY),  # one step as long as the range: at most two aligned buckets
        (60 * S, 1000, S),  # below a second a point: whole seconds still
        (10 * 365 * DAY, 10, 9734 * HOUR),  # past a week: whole hours (87,600 h / 9 = 9,733.3 h -> 9,734 h)
    ],
)
def test_hand_computed_steps(range_ms: int, max_points: int, step: int) -> None:
    assert step_for(range_ms, max_points, RESOLUTION_MS) == step


def test_candidates_are_raw_seconds_then_each_tiers_bucket_then_multiples_of_the_coarsest() -> None:
    assert step_candidates(RESOLUTION_MS) == [
        *(n * S for n in (1, 2, 5, 10, 15, 20, 30)),
        MIN,
        5 * MIN,
        *(n * HOUR for n in (1, 2, 3, 6, 12, 24, 48, 168)),
    ]
    assert step_candidates({"raw": 0, "10s": 10 * S}) == [
        S,
        2 * S,
        5 * S,
        *(n * 10 * S for n in (1, 2, 3, 6, 12, 24, 48, 168)),
    ]


@pytest.mark.parametrize(
    ("step", "text"),
    [
        (0, "raw samples"),
        (5 * S, "5 s buckets"),
        (5 * MIN, "5 min buckets"),
        (2 * HOUR, "2 h buckets"),
        (DAY, "1 d buckets"),
    ],
)
def test_the_step_in_words(step: int, text: str) -> None:
    assert step_text(step) == text


def test_a_budget_below_two_points_or_an_empty_range_is_refused() -> None:
    with pytest.raises(ValueError, match="max_points must be at least 2"):
        step_for(HOUR, 1)
    with pytest.raises(ValueError, match="empty time range"):
        step_for(0, 1000)


@given(
    start=st.integers(min_value=0, max_value=2_000_000_000_000),
    range_ms=st.integers(min_value=1, max_value=3 * 365 * DAY),
    max_points=st.integers(min_value=2, max_value=11_000),
)
def test_never_more_buckets_than_max_points_and_always_a_tier_multiple(
    start: int, range_ms: int, max_points: int
) -> None:
    step = step_for(range_ms, max_points, RESOLUTION_MS)
    end = start + range_ms
    touched = (end - 1) // step - start // step + 1  # aligned buckets a [start, end) range touches
    assert touched <= max_points
    assert step % S == 0
    assert step < MIN or any(step % w == 0 for w in RESOLUTION_MS.values() if w)
    # and not needlessly coarse: the next finer candidate would have overflowed for some alignment
    finer = [c for c in step_candidates(RESOLUTION_MS) if c < step]
    if finer:
        assert -(-range_ms // finer[-1]) + 1 > max_points
