"""Where every SLA stands at one instant: compliance per window, budget, burn rates, firing rules.

The SLA page, the check job and the report all start here. Item SLAs (steps, workflows)
read the workflow events once; metric SLAs read their series through core.query once
per window, so a 5-minute burn window is measured at 1-minute (or raw) resolution while
the 30-day budget uses the coarser tier. Burn-rate rules are held back by the settings'
:class:`~core.sla.budget.BurnGuard` here, so the page shows what the check job alerts.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass

import polars as pl
from sqlalchemy.engine import Engine

from core.config import Settings
from core.model import now_ms as clock_ms
from core.sla import budget as budgets
from core.sla import compliance as comp
from core.sla import store
from core.sla.definitions import SlaDefinition

DAY_MS = 86_400_000
BURN_WINDOWS_MS: dict[str, int] = {
    "5 m": 300_000,
    "30 m": 1_800_000,
    "1 h": 3_600_000,
    "6 h": 21_600_000,
    "3 d": 3 * DAY_MS,
}


@dataclass(frozen=True)
class SlaStatus:
    """One SLA at ``now_ms``."""

    definition: SlaDefinition
    now_ms: int
    compliance: dict[str, comp.Compliance]  # by window label ("1 h", "24 h", "7 d", "30 d")
    budget: budgets.Budget
    burn_rates: dict[str, float | None]  # by window label of BURN_WINDOWS_MS
    alerts: list[budgets.BurnAlert]
    outcomes: pl.DataFrame  # the whole budget period, for burn-down and trend charts

    @property
    def firing(self) -> list[budgets.BurnAlert]:
        """The burn-rate rules firing now."""
        return [a for a in self.alerts if a.firing]


@dataclass(frozen=True)
class WorkflowData:
    """Step and workflow items read once for every item SLA."""

    steps: pl.DataFrame
    workflows: pl.DataFrame


def burn_guard(settings: Settings) -> budgets.BurnGuard:
    """The burn-rate guard the settings ask for (``sla_burn_min_items``, ``sla_burn_warmup_s``)."""
    return budgets.BurnGuard(float(settings.sla_burn_min_items), int(settings.sla_burn_warmup_s * 1000))


def read_workflow_data(engine: Engine, start_ms: int, now_ms: int) -> WorkflowData:
    """Items whose events fall in ``[start - 1 day, now)``."""
    events = store.workflow_events(engine, start_ms, now_ms)
    return WorkflowData(comp.step_items(events, now_ms), comp.workflow_items(events, now_ms))


def status_of(
    definition: SlaDefinition,
    now_ms: int,
    outcomes_for: Callable[[int], pl.DataFrame],
    compliance_for: Callable[[int], comp.Compliance],
    windows_s: Mapping[str, int] = comp.WINDOWS_S,
    guard: budgets.BurnGuard = budgets.NO_GUARD,
    bucket_ms: int = 0,
) -> SlaStatus:
    """Assemble a status from per-window outcome and compliance readers (pure given the readers).

    ``bucket_ms`` is the bucket width of ``outcomes_for(HORIZON_MS)`` (0 for items), from
    which the warm-up of ``guard`` is counted (:func:`core.sla.budget.first_seen`).
    """
    period = definition.period_days * DAY_MS
    full = outcomes_for(period)
    spans = set(BURN_WINDOWS_MS.values()) | {ms for rule in budgets.RULES for ms in (rule.long_ms, rule.short_ms)}
    by_ms = {ms: budgets.burn_rate(outcomes_for(ms), definition.objective, ms, now_ms) for ms in spans}
    first = budgets.first_seen(outcomes_for(budgets.HORIZON_MS), now_ms, bucket_ms)
    alerts = []
    for rule in budgets.RULES:
        items = budgets.items_in(outcomes_for(rule.long_ms), rule.long_ms, now_ms)
        held = guard.hold(items, first, now_ms)
        alerts.append(budgets.BurnAlert(rule, now_ms, by_ms[rule.long_ms], by_ms[rule.short_ms], items, held))
    return SlaStatus(
        definition,
        now_ms,
        {label: compliance_for(s * 1000) for label, s in windows_s.items()},
        budgets.budget(full, definition.objective, period, now_ms),
        {label: by_ms[ms] for label, ms in BURN_WINDOWS_MS.items()},
        alerts,
        full,
    )


def item_status(
    definition: SlaDefinition,
    data: WorkflowData,
    now_ms: int,
    availability: Mapping[int, float | None] | None = None,
    windows_s: Mapping[str, int] = comp.WINDOWS_S,
    guard: budgets.BurnGuard = budgets.NO_GUARD,
) -> SlaStatus:
    """Status of a step or workflow SLA from already-read items (pure)."""
    items = comp.items_for(definition, data.steps, data.workflows)
    outcomes = comp.outcomes(items, definition, now_ms)
    avail = availability or {}
    return status_of(
        definition,
        now_ms,
        lambda _ms: outcomes,
        lambda ms: comp.item_compliance(items, definition, now_ms - ms, now_ms, avail.get(ms)),
        windows_s,
        guard,
    )


def _mean_availability(values: pl.DataFrame) -> float | None:
    return None if values.is_empty() else float(values["value"].clip(0.0, 1.0).mean())  # type: ignore[arg-type]


def metric_status(
    engine: Engine,
    definition: SlaDefinition,
    settings: Settings,
    now_ms: int,
    windows_s: Mapping[str, int] = comp.WINDOWS_S,
) -> SlaStatus:
    """Status of a latency or availability SLA, each window read through the query layer."""
    assert definition.selector is not None
    selector = definition.selector
    cache: dict[int, pl.DataFrame] = {}

    def values(ms: int) -> pl.DataFrame:
        if ms not in cache:
            cache[ms] = store.metric_values(engine, selector, now_ms - ms, now_ms, settings, now_ms)
        return cache[ms]

    return status_of(
        definition,
        now_ms,
        lambda ms: comp.metric_outcomes(values(ms), definition),
        lambda ms: comp.metric_compliance(values(ms), definition, now_ms - ms, now_ms),
        windows_s,
        burn_guard(settings),
        store.bucket_ms(now_ms - budgets.HORIZON_MS, now_ms, settings, now_ms),
    )


def statuses(
    engine: Engine,
    settings: Settings,
    definitions: list[SlaDefinition] | None = None,
    now_ms: int | None = None,
    windows_s: Mapping[str, int] = comp.WINDOWS_S,
) -> list[SlaStatus]:
    """Every SLA's status at ``now_ms`` (default: now)."""
    now = clock_ms() if now_ms is None else now_ms
    definitions = store.load_definitions(engine) if definitions is None else definitions
    longest = max(
        [d.period_days * DAY_MS for d in definitions] + [s * 1000 for s in windows_s.values()], default=DAY_MS
    )
    data = None
    found = []
    for definition in definitions:
        if definition.kind in ("step", "workflow"):
            if data is None:
                data = read_workflow_data(engine, now - longest, now)
            availability: dict[int, float | None] = {}
            if definition.availability_selector:
                for seconds in windows_s.values():
                    availability[seconds * 1000] = _mean_availability(
                        store.metric_values(
                            engine, definition.availability_selector, now - seconds * 1000, now, settings, now
                        )
                    )
            found.append(item_status(definition, data, now, availability, windows_s, burn_guard(settings)))
        else:
            found.append(metric_status(engine, definition, settings, now, windows_s))
    return found
