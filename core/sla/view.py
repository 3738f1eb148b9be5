"""Display tables and series for the SLA page, built from statuses and the period's report: pure, no Streamlit.

The paging of the breach list lives here (:func:`page_of`) so the page only draws a slice
and a page number, and a long period's hundreds of breaches stay listable.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import polars as pl

from core.sla.report import SlaLine
from core.sla.status import SlaStatus
from core.sla.words import duration


def _pct(value: float | None) -> float | None:
    return None if value is None else round(value * 100, 2)


def budget_words(remaining: float | None) -> str:
    """'42 %' left; '0 %' once the budget is gone (see :func:`overspent_words`)."""
    return "–" if remaining is None else f"{max(remaining, 0.0) * 100:,.0f} %"


def overspent_words(remaining: float | None) -> str | None:
    """ "12× spent" when overspent, else None."""
    return None if remaining is None or remaining >= 0 else f"{1 - remaining:,.0f}× spent"


def verdict(met: bool | None) -> str:
    """Status word shown next to each SLA (never colour alone)."""
    return "no data" if met is None else "met" if met else "missed"


def alert_words(status: SlaStatus) -> str:
    """Firing burn-rate rules with their severity, then rules burning but held back and why (see BurnGuard)."""
    firing = [f"{a.rule.name} ({a.rule.severity})" for a in status.firing]
    held = [f"{a.rule.name} held: {a.held}" for a in status.alerts if a.burning and a.held]
    return ", ".join(firing + held)


def summary(statuses: Sequence[SlaStatus], window: str) -> pl.DataFrame:
    """One row per SLA for ``window``: targets, measured shares (%), verdict, budget left (%), burn rates."""
    rows = []
    for status in statuses:
        d, c = status.definition, status.compliance[window]
        rows.append(
            {
                "SLA": d.name,
                "status": verdict(c.met(d)) if d.enabled else "disabled",
                "within target %": _pct(c.within_target),
                "budget left %": _pct(status.budget.remaining),
                "burn 1 h": status.burn_rates["1 h"],
                "items": c.total,
                "target": duration(d.target_s) if d.kind != "availability" else "up",
                "objective %": _pct(d.objective),
                "success %": _pct(c.success_rate),
                "response %": _pct(c.response_share),
                "availability %": _pct(c.availability),
                "burn 6 h": status.burn_rates["6 h"],
                "burn 3 d": status.burn_rates["3 d"],
                "alerts": alert_words(status),
            }
        )
    return pl.DataFrame(rows, infer_schema_length=None)


def windows(status: SlaStatus) -> pl.DataFrame:
    """The figures of one SLA for each standard window."""
    d = status.definition
    return pl.DataFrame(
        [
            {
                "window": label,
                "items": c.total,
                "within target %": _pct(c.within_target),
                "success %": _pct(c.success_rate),
                "availability %": _pct(c.availability),
                "status": verdict(c.met(d)),
            }
            for label, c in status.compliance.items()
            if label != "range"
        ],
        infer_schema_length=None,
    )


PAGE_ROWS = 50  # breaches per page on the SLA page


@dataclass(frozen=True)
class Page:
    """One page of a table: its rows, its number (1-based) and where it sits in the whole."""

    rows: pl.DataFrame
    number: int
    pages: int
    total: int
    size: int

    @property
    def first(self) -> int:
        """1-based position of the first row shown; 0 when there is none."""
        return (self.number - 1) * self.size + 1 if self.total else 0

    @property
    def last(self) -> int:
        """1-based position of the last row shown; 0 when there is none."""
        return self.first + self.rows.height - 1 if self.total else 0

    @property
    def caption(self) -> str:
        """'Rows 51–100 of 327, page 2 of 7'."""
        if not self.total:
            return "No rows."
        return f"Rows {self.first:,}–{self.last:,} of {self.total:,}, page {self.number} of {self.pages}."


def page_count(total: int, size: int = PAGE_ROWS) -> int:
    """Pages ``total`` rows fill at ``size`` a page; at least one, so an empty table still has its page."""
    return max(1, math.ceil(total / size))


def page_of(frame: pl.DataFrame, number: int, size: int = PAGE_ROWS) -> Page:
    """Page ``number`` (1-based, clamped to the pages there are) of ``frame`` at ``size`` rows a page."""
    pages = page_count(frame.height, size)
    number = min(max(1, number), pages)
    return Page(frame.slice((number - 1) * size, size), number, pages, frame.height, size)


def only_sla(breaches: pl.DataFrame, sla_id: str | None) -> pl.DataFrame:
    """The breaches of one SLA, or all of them when ``sla_id`` is None."""
    return breaches if sla_id is None else breaches.filter(pl.col("sla_id") == sla_id)


def breaches_table(rows: pl.DataFrame) -> pl.DataFrame:
    """Breaches (core.sla.report.BREACH_SCHEMA) for display: when, SLA, item, took, over by, severity, state.

    A latency SLA's row is a bucket of a series over target: its "took" is the bucket's
    mean and its state "bucket", never "open" or "ended", which only items have.
    """
    state = (
        pl.when(~pl.col("kind").is_in(["step", "workflow"]))
        .then(pl.lit("bucket"))
        .when(pl.col("open"))
        .then(pl.lit("open"))
        .otherwise(pl.lit("ended"))
    )
    return rows.select(
        pl.col("ts").cast(pl.Datetime("ms", "UTC")).alias("crossed"),
        pl.col("sla").alias("SLA"),
        pl.col("workflow_id").alias("workflow / series"),
        "step",
        pl.col("duration_s").map_elements(duration, return_dtype=pl.String).alias("took"),
        pl.col("over_s").map_elements(duration, return_dtype=pl.String).alias("over by"),
        pl.col("over_pct").round(0).alias("over %"),
        "severity",
        "escalated",
        state.alias("state"),
    )


def breach_totals(lines: Sequence[SlaLine]) -> tuple[int, int]:
    """Breaches over the range and over the period of the same length before it, all SLAs together."""
    now = sum(line.breaches or 0 for line in lines)
    before = sum(line.previous.breaches or 0 for line in lines if line.previous is not None)
    return now, before


def compliance_word(kind: str) -> str:
    """What a line's compliance is: the share within target, or the availability."""
    return "availability" if kind == "availability" else "within target"


def comparison(lines: Sequence[SlaLine]) -> pl.DataFrame:
    """Each SLA over the range against the period before: compliance (%), items and breaches, each with its change.

    Availability SLAs have no breaches (their share is a time-weighted mean): shown empty.
    """
    rows: list[dict[str, Any]] = []
    for line in lines:
        before, delta = line.previous, line.delta()
        rows.append(
            {
                "SLA": line.name,
                "compliance %": _pct(line.compliance),
                "before %": None if before is None else _pct(before.compliance),
                "change pts": None if delta["compliance_pts"] is None else round(delta["compliance_pts"], 2),
                "items": line.items,
                "items before": None if before is None else before.items,
                "items change": delta["items"],
                "breaches": line.breaches,
                "breaches before": None if before is None else before.breaches,
                "breaches change": delta["breaches"],
                "measures": compliance_word(line.kind),
            }
        )
    return pl.DataFrame(rows, infer_schema_length=None)


def trend(line: SlaLine) -> pl.DataFrame:
    """The line's compliance per bucket for a chart: ``ts`` (Datetime), ``value`` (%), ``items``; empty ones out."""
    frame = pl.DataFrame(list(line.trend), schema={"ts": pl.Int64, "items": pl.Int64, "compliance": pl.Float64})
    return frame.filter(pl.col("compliance").is_not_null()).select(
        pl.col("ts").cast(pl.Datetime("ms", "UTC")), (pl.col("compliance") * 100).alias("value"), "items"
    )


@dataclass(frozen=True)
class TrendCard:
    """One SLA's card in the previous-period comparison: compliance (%) now and before, its trend, a help text."""

    sla_id: str
    name: str
    value: float | None
    previous: float | None
    trend: pl.DataFrame
    help: str


def trend_cards(lines: Sequence[SlaLine], bucket: str) -> list[TrendCard]:
    """A card for every SLA measured in the range or the period before (the others have nothing to compare)."""
    cards = []
    for line in lines:
        before = line.previous
        if not line.items and not (before and before.items):
            continue
        breaches = "" if line.breaches is None else f", breaches {line.breaches:,}"
        breaches_before = "" if before is None or before.breaches is None else f", breaches {before.breaches:,}"
        cards.append(
            TrendCard(
                line.sla_id,
                line.name,
                _pct(line.compliance),
                None if before is None else _pct(before.compliance),
                trend(line),
                f"Share {compliance_word(line.kind)} over the range, per {bucket} in the line; "
                f"objective {line.objective:.2%}. Items {line.items:,}{breaches}; "
                f"the period before: items {0 if before is None else before.items:,}{breaches_before}.",
            )
        )
    return cards


def bottleneck_table(frame: pl.DataFrame) -> pl.DataFrame:
    """The bottleneck ranking with durations in words."""
    if frame.is_empty():
        return frame
    return frame.select(
        "rank",
        "kind",
        "name",
        "severity",
        pl.col("items_affected").alias("items"),
        pl.col("time_lost_s").map_elements(duration, return_dtype=pl.String).alias("lost per item"),
        (pl.col("impact_s") / 3600).round(1).alias("impact h"),
        "detail",
        "recommendation",
    )
