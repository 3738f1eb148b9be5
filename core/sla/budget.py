"""Error budgets, burn rates and multi-window, multi-burn-rate alerts (Google SRE workbook, ch. 5).

Everything here is pure over an *outcomes* frame — one row per measured item or metric
bucket: ``ts`` (epoch ms), ``bad`` (0..1) and ``weight`` — and an injected clock ``now_ms``.

* error budget = ``1 - objective`` of the items in the period;
* burn rate over a window = (bad share in the window) / budget: 1× spends the budget
  exactly over the period, 14.4× spends 2 % of a 30-day budget in one hour;
* a rule fires when the burn rate is above its factor over *both* its long and its short
  window: the long window proves the burn is significant, the short one that it is still
  going on, so the alert resets minutes after the burn stops;
* a :class:`BurnGuard` holds a rule back while its long window has too few items, or
  while the SLA's data is younger than a warm-up: a burn rate over three page loads on a
  fresh install is noise, not a budget at risk.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import polars as pl

OUTCOME_SCHEMA = {"ts": pl.Int64, "bad": pl.Float64, "weight": pl.Float64}
MINUTE_MS, HOUR_MS, DAY_MS = 60_000, 3_600_000, 86_400_000


@dataclass(frozen=True)
class BurnRule:
    """Fire when the burn rate exceeds ``factor`` over both ``long_ms`` and ``short_ms``."""

    name: str
    long_ms: int
    short_ms: int
    factor: float
    severity: str
    action: str  # "page" or "ticket", after the workbook

    @property
    def budget_share(self) -> float:
        """Share of a 30-day budget the rule's long window spends at exactly ``factor``."""
        return self.factor * self.long_ms / (30 * DAY_MS)


RULES: tuple[BurnRule, ...] = (
    BurnRule("fast_burn", HOUR_MS, 5 * MINUTE_MS, 14.4, "critical", "page"),
    BurnRule("slow_burn", 6 * HOUR_MS, 30 * MINUTE_MS, 6.0, "error", "page"),
    BurnRule("steady_burn", 3 * DAY_MS, 6 * HOUR_MS, 1.0, "warning", "ticket"),
)


HORIZON_MS = max(rule.long_ms for rule in RULES)  # the longest window a rule reads: how far back "first seen" looks


@dataclass(frozen=True)
class BurnGuard:
    """What a rule needs besides the burn itself before it may fire (settings ``sla_burn_*``).

    The workbook's rules assume enough traffic for a ratio to mean something. With three
    items in the hour one slow one is a 33 % error ratio, i.e. a 67x burn of a 99.5 %
    objective, and pages someone; the same on a freshly started install, where the first
    samples are the slowest (cold caches, first page loads), would page within minutes.
    So a rule fires only when its long window holds at least ``min_items`` items (for
    metric SLAs: buckets of the query tier) and the SLA's first data in the last
    :data:`HORIZON_MS` is at least ``warmup_ms`` old. The defaults (no guard) keep the pure
    rule as the workbook states it; the SLA check and the SLA page pass the settings.
    """

    min_items: float = 0.0
    warmup_ms: int = 0

    def hold(self, long_items: float, first_ms: int | None, now_ms: int) -> str | None:
        """Why a rule may not fire at ``now_ms`` (shown on the page and in check results), or None."""
        if long_items < self.min_items:
            return f"{long_items:g} of {self.min_items:g} items in the long window"
        if self.warmup_ms and (first_ms is None or now_ms - first_ms < self.warmup_ms):
            age = 0 if first_ms is None else (now_ms - first_ms) // MINUTE_MS
            return f"warming up: data {age} min old, {self.warmup_ms // MINUTE_MS} min needed"
        return None


NO_GUARD = BurnGuard()  # the rules as the workbook states them


def first_seen(outcomes: pl.DataFrame, now_ms: int, bucket_ms: int = 0) -> int | None:
    """When the SLA's data first appears within :data:`HORIZON_MS` before ``now_ms``; None without data.

    ``bucket_ms`` is the width of the buckets the outcomes stand for (metric SLAs read
    through a rollup tier): a bucket's ``ts`` is its start, so the data may have begun up
    to a bucket later, and the warm-up is counted from the bucket's end so it never ends early.
    """
    inside = outcomes.filter(pl.col("ts").is_between(now_ms - HORIZON_MS, now_ms, closed="left"))
    first = inside["ts"].min()
    return None if first is None else int(first) + bucket_ms  # type: ignore[arg-type]


def empty_outcomes() -> pl.DataFrame:
    """An outcomes frame with no rows."""
    return pl.DataFrame(schema=OUTCOME_SCHEMA)


def _window(outcomes: pl.DataFrame, start_ms: int, end_ms: int) -> tuple[float, float]:
    inside = outcomes.filter(pl.col("ts").is_between(start_ms, end_ms, closed="left"))
    return float(inside["bad"].dot(inside["weight"]) or 0.0), float(inside["weight"].sum() or 0.0)


def burn_rate(outcomes: pl.DataFrame, objective: float, window_ms: int, now_ms: int) -> float | None:
    """Burn rate over ``[now - window, now)``; None when nothing was measured there."""
    bad, total = _window(outcomes, now_ms - window_ms, now_ms)
    return None if total == 0 else (bad / total) / (1.0 - objective)


def items_in(outcomes: pl.DataFrame, window_ms: int, now_ms: int) -> float:
    """Items (total weight) measured in ``[now - window, now)``: what :class:`BurnGuard` counts."""
    return _window(outcomes, now_ms - window_ms, now_ms)[1]


@dataclass(frozen=True)
class Budget:
    """The error budget of one SLO over its period ending at ``now``."""

    period_ms: int
    total: float
    bad: float
    objective: float

    @property
    def allowed(self) -> float:
        """Bad items the period may hold: budget × items measured."""
        return (1.0 - self.objective) * self.total

    @property
    def consumed(self) -> float | None:
        """Share of the budget spent (above 1 when overspent); None without data."""
        return None if self.total == 0 else self.bad / self.allowed

    @property
    def remaining(self) -> float | None:
        """Share of the budget left (negative when overspent); None without data."""
        return None if self.consumed is None else 1.0 - self.consumed

    @property
    def burn_rate(self) -> float | None:
        """Burn rate over the whole period (equal to :attr:`consumed`)."""
        return self.consumed


def budget(outcomes: pl.DataFrame, objective: float, period_ms: int, now_ms: int) -> Budget:
    """Budget status over ``[now - period, now)``."""
    bad, total = _window(outcomes, now_ms - period_ms, now_ms)
    return Budget(period_ms, total, bad, objective)


def burn_down(outcomes: pl.DataFrame, objective: float, period_ms: int, now_ms: int, step_ms: int) -> pl.DataFrame:
    """Budget remaining at the end of each ``step_ms`` bucket of the period: ``ts`` (Datetime), ``remaining``.

    The budget is sized on the items of the whole period, so the line starts at 1 and
    falls with each bad item, ending at :attr:`Budget.remaining`.
    """
    start = now_ms - period_ms
    status = budget(outcomes, objective, period_ms, now_ms)
    edges = pl.DataFrame({"ts": list(range(start + step_ms, now_ms + step_ms, step_ms))}, schema={"ts": pl.Int64})
    if status.total == 0:
        return edges.select(pl.col("ts").cast(pl.Datetime("ms", "UTC")), pl.lit(None, pl.Float64).alias("remaining"))
    inside = outcomes.filter(pl.col("ts").is_between(start, now_ms, closed="left"))
    per_bucket = (
        inside.with_columns((start + ((pl.col("ts") - start) // step_ms + 1) * step_ms).alias("edge"))
        .group_by("edge")
        .agg((pl.col("bad") * pl.col("weight")).sum().alias("bad"))
    )
    return (
        edges.join(per_bucket, left_on="ts", right_on="edge", how="left")
        .sort("ts")
        .select(
            pl.col("ts").clip(upper_bound=now_ms).cast(pl.Datetime("ms", "UTC")),
            (1.0 - pl.col("bad").fill_null(0.0).cum_sum() / status.allowed).alias("remaining"),
        )
    )


@dataclass(frozen=True)
class BurnAlert:
    """One rule evaluated at one instant."""

    rule: BurnRule
    at_ms: int
    long_rate: float | None
    short_rate: float | None
    long_items: float = 0.0  # items measured in the long window
    held: str | None = None  # why the guard holds the rule back (BurnGuard.hold), or None

    @property
    def burning(self) -> bool:
        """Both windows burn faster than the rule's factor (whether or not the guard lets it fire)."""
        return (
            self.long_rate is not None
            and self.short_rate is not None
            and self.long_rate > self.rule.factor
            and self.short_rate > self.rule.factor
        )

    @property
    def firing(self) -> bool:
        """Both windows burn faster than the rule's factor and the guard does not hold it back."""
        return self.burning and self.held is None


def evaluate(
    outcomes: pl.DataFrame,
    objective: float,
    now_ms: int,
    rules: Sequence[BurnRule] = RULES,
    guard: BurnGuard = NO_GUARD,
    first_ms: int | None = None,
) -> list[BurnAlert]:
    """Each rule at ``now_ms``; ``first_ms`` (default :func:`first_seen` of ``outcomes``) feeds the warm-up."""
    first = first_seen(outcomes, now_ms) if first_ms is None else first_ms
    alerts = []
    for rule in rules:
        items = items_in(outcomes, rule.long_ms, now_ms)
        alerts.append(
            BurnAlert(
                rule,
                now_ms,
                burn_rate(outcomes, objective, rule.long_ms, now_ms),
                burn_rate(outcomes, objective, rule.short_ms, now_ms),
                items,
                guard.hold(items, first, now_ms),
            )
        )
    return alerts


def firing_timeline(
    outcomes: pl.DataFrame,
    objective: float,
    times_ms: Sequence[int],
    rules: Sequence[BurnRule] = RULES,
    guard: BurnGuard = NO_GUARD,
) -> pl.DataFrame:
    """Which rules fire at each instant: ``ts``, ``rule``, ``long_rate``, ``short_rate``, ``firing``."""
    rows = [
        (a.at_ms, a.rule.name, a.long_rate, a.short_rate, a.firing)
        for at in times_ms
        for a in evaluate(outcomes, objective, at, rules, guard)
    ]
    return pl.DataFrame(
        rows,
        schema={
            "ts": pl.Int64,
            "rule": pl.String,
            "long_rate": pl.Float64,
            "short_rate": pl.Float64,
            "firing": pl.Boolean,
        },
        orient="row",
    )
