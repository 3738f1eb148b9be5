"""The SLA report for a period: per-SLA compliance, trend and budget against the period before, every breach,
bottlenecks, critical path.

:func:`build_report` gathers it from the store; :class:`SlaReport` is plain data with
``to_dict`` (JSON export) and ``to_markdown`` (download, e-mail). The SLA page draws its
comparison, trends and breach list from the same report, so page and downloads agree.

The breaches are *computed* from the items the compliance figure counts (items over
target; for latency SLAs the buckets over target), not read from the check job's breach
log: the log only holds what the check saw within ``sla_breach_lookback_h`` of each run
(after a back-fill, or for a period before the install, that is a fraction), so a
report listing the log showed 2 breaches next to 65 late items. Now a line's ``breaches``
is exactly ``items`` minus the items within target.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from typing import Any

import polars as pl
from sqlalchemy.engine import Engine

from core.config import Settings
from core.model import now_ms as clock_ms
from core.sla import bottlenecks as bn
from core.sla import budget as budgets
from core.sla import compliance as comp
from core.sla import store
from core.sla.definitions import SlaDefinition
from core.sla.jobs import severity_expr
from core.sla.words import duration

MIN_MS, HOUR_MS, DAY_MS = 60_000, 3_600_000, 86_400_000
SUMMARY_HEADER = (
    "| SLA | objective | items | within target | success | availability | budget left | breaches | escalations | met |"
)
BREACH_SCHEMA = pl.Schema(
    {
        "sla_id": pl.String,
        "sla": pl.String,  # the SLA's name
        "kind": pl.String,  # step, workflow: an item; latency: a bucket of a series over target
        "workflow_id": pl.String,  # the series, for latency SLAs
        "step": pl.String,
        "attempt": pl.Int64,
        "ts": pl.Int64,  # when the item crossed its target (start + target); a latency bucket's start
        "started_ms": pl.Int64,
        "ended_ms": pl.Int64,
        "duration_s": pl.Float64,  # how long the item took (so far, if open); a latency bucket's mean
        "target_s": pl.Float64,
        "over_s": pl.Float64,
        "over_pct": pl.Float64,
        "severity": pl.String,
        "escalated": pl.Boolean,
        "open": pl.Boolean,
    }
)


def empty_breaches() -> pl.DataFrame:
    """A breach frame (:data:`BREACH_SCHEMA`) with no rows."""
    return pl.DataFrame(schema=BREACH_SCHEMA)


def trend_step_ms(span_ms: int) -> int:
    """The trend's bucket for a period: a day over 3 days (a week over 120), an hour over 6 hours, else 5 minutes.

    A 24 h report then has 24 points, 7 d has 7 and 30 d 30: enough to see a bad day, few
    enough to read in the JSON.
    """
    if span_ms > 120 * DAY_MS:
        return 7 * DAY_MS
    if span_ms > 3 * DAY_MS:
        return DAY_MS
    return HOUR_MS if span_ms > 6 * HOUR_MS else 5 * MIN_MS


def compliance_trend(outcomes: pl.DataFrame, start_ms: int, end_ms: int, step_ms: int) -> pl.DataFrame:
    """Compliance per ``step_ms`` bucket of ``[start_ms, end_ms)``: ``ts`` (bucket start, ms), items, compliance.

    ``compliance`` is the good share (0..1) of the bucket's items — within target, or the
    availability — and None for a bucket with nothing measured; every bucket is listed, so
    the items add up to the period's.
    """
    edges = pl.DataFrame({"ts": range(start_ms, end_ms, step_ms)}, schema={"ts": pl.Int64})
    inside = outcomes.cast(budgets.OUTCOME_SCHEMA).filter(  # type: ignore[arg-type]
        pl.col("ts").is_between(start_ms, end_ms, closed="left")
    )
    per_bucket = (
        inside.group_by((start_ms + (pl.col("ts") - start_ms) // step_ms * step_ms).alias("ts"))
        .agg(pl.col("weight").sum().alias("items"), (pl.col("bad") * pl.col("weight")).sum().alias("bad"))
        .cast({"ts": pl.Int64})
    )
    return (
        edges.join(per_bucket, on="ts", how="left")
        .sort("ts")
        .select(
            "ts",
            pl.col("items").fill_null(0.0).round(0).cast(pl.Int64),
            pl.when(pl.col("items") > 0).then(1.0 - pl.col("bad") / pl.col("items")).alias("compliance"),
        )
    )


@dataclass(frozen=True)
class PeriodFigures:
    """One SLA over one period: what the previous-period comparison sets side by side."""

    start_ms: int
    end_ms: int
    items: int
    compliance: float | None  # within target (availability for availability SLAs), 0..1; None: nothing measured
    breaches: int | None  # items (latency: buckets) over target; None for availability SLAs


@dataclass(frozen=True)
class SlaLine:
    """One SLA over the report period; shares are 0..1, None when nothing was measured.

    ``breaches`` counts the items (latency SLAs: buckets) over target among ``items`` —
    exactly those not within target — and ``escalations`` those past the escalation
    threshold; availability SLAs have no breaches (their share is a time-weighted mean), so None.
    """

    sla_id: str
    name: str
    kind: str
    objective: float
    target_s: float | None
    items: int
    within_target: float | None
    success_rate: float | None
    response_share: float | None
    availability: float | None
    met: bool | None
    budget_remaining: float | None
    breaches: int | None
    escalations: int
    worst_over_s: float | None
    previous: PeriodFigures | None = None  # the period of equal length just before
    trend: tuple[dict[str, Any], ...] = ()  # compliance per bucket (compliance_trend rows)

    @property
    def compliance(self) -> float | None:
        """The share the trend and the comparison follow: within target, or the availability of availability SLAs."""
        return self.availability if self.kind == "availability" else self.within_target

    def delta(self) -> dict[str, float | int | None]:
        """Change against the previous period: items, compliance in percentage points, breaches (None: no figure)."""
        before = self.previous

        def change(now: float | None, then: float | None, scale: float = 1.0) -> float | None:
            return None if now is None or then is None else (now - then) * scale

        return {
            "items": None if before is None else self.items - before.items,
            "compliance_pts": None if before is None else change(self.compliance, before.compliance, 100.0),
            "breaches": None
            if before is None or self.breaches is None
            else _int(change(self.breaches, before.breaches)),
        }


def _int(value: float | None) -> int | None:
    return None if value is None else int(value)


@dataclass(frozen=True)
class SlaReport:
    """Everything the SLA page shows, frozen for one period."""

    start_ms: int
    end_ms: int
    generated_ms: int
    lines: tuple[SlaLine, ...]
    bottlenecks: tuple[bn.Bottleneck, ...]
    critical_path: tuple[dict[str, Any], ...]
    breaches: pl.DataFrame = field(default_factory=empty_breaches)  # every breach of the period, newest first
    trend_step_ms: int = DAY_MS

    @property
    def overall_compliance(self) -> float | None:
        """Share of measured SLAs that met every objective over the period."""
        measured = [line.met for line in self.lines if line.met is not None]
        return sum(measured) / len(measured) if measured else None

    @property
    def previous_start_ms(self) -> int:
        """Start of the period of equal length just before, which the comparison measures."""
        return 2 * self.start_ms - self.end_ms

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form: every figure, the trend of each SLA, every breach."""
        return {
            "start_ms": self.start_ms,
            "end_ms": self.end_ms,
            "previous_start_ms": self.previous_start_ms,
            "generated_ms": self.generated_ms,
            "trend_step_ms": self.trend_step_ms,
            "overall_compliance": self.overall_compliance,
            "slas": [
                asdict(line) | {"trend": list(line.trend), "compliance": line.compliance, "delta": line.delta()}
                for line in self.lines
            ],
            "bottlenecks": [asdict(b) | {"impact_s": b.impact_s} for b in self.bottlenecks],
            "critical_path": list(self.critical_path),
            "breaches": self.breaches.to_dicts(),
        }

    def to_markdown(self) -> str:
        """A readable report; it lists every breach, as the JSON does."""
        lines = [
            f"# SLA report {_iso(self.start_ms)} – {_iso(self.end_ms)}",
            "",
            f"SLAs met: {_pct(self.overall_compliance)}",
            "",
            SUMMARY_HEADER,
            "|---|---|---|---|---|---|---|---|---|---|",
        ]
        for line in self.lines:
            met = "–" if line.met is None else ("yes" if line.met else "**no**")
            lines.append(
                f"| {line.name} | {line.objective:.2%} | {line.items} | {_pct(line.within_target)} | "
                f"{_pct(line.success_rate)} | {_pct(line.availability)} | {_pct(line.budget_remaining)} | "
                f"{_count(line.breaches)} | {line.escalations} | {met} |"
            )
        lines += [
            "",
            f"## Compared with the previous period ({_iso(self.previous_start_ms)} – {_iso(self.start_ms)})",
            "",
            "Compliance is the share within target (availability for availability SLAs). "
            f"The trend per {step_words(self.trend_step_ms)} of each SLA is in the JSON report (`slas[].trend`).",
            "",
            "| SLA | items | before | change | compliance | before | change | breaches | before | change |",
            "|---|---|---|---|---|---|---|---|---|---|",
        ]
        for line in self.lines:
            before = line.previous or PeriodFigures(self.previous_start_ms, self.start_ms, 0, None, None)
            delta = line.delta()
            lines.append(
                f"| {line.name} | {line.items} | {before.items} | {_signed(delta['items'])} | "
                f"{_pct(line.compliance)} | {_pct(before.compliance)} | {_signed(delta['compliance_pts'], ' pts')} | "
                f"{_count(line.breaches)} | {_count(before.breaches)} | {_signed(delta['breaches'])} |"
            )
        lines += ["", "## Bottlenecks", ""]
        lines += [
            f"{n}. **{b.name}** ({b.kind}, {b.severity}): {b.detail}; {b.items_affected} items, "
            f"{b.impact_s / 3600:.1f} h lost. {b.recommendation}"
            for n, b in enumerate(self.bottlenecks, 1)
        ] or ["None found."]
        lines += ["", "## Critical path", ""]
        if self.critical_path:
            lines += [
                "| # | step | workflows | mean wait | mean work | attempts | per workflow | share |",
                "|---|---|---|---|---|---|---|---|",
            ]
            for row in self.critical_path:
                step = f"**{row['step']}** (largest)" if row["dominant"] else row["step"]
                lines.append(
                    f"| {row['order']} | {step} | {row['workflows']} | "
                    f"{duration(row['wait_s'])} | {duration(row['work_s'])} | {row['attempts']:.1f} | "
                    f"{duration(row['total_s'])} | {_pct(row['share'])} |"
                )
        else:
            lines.append("No finished steps in the period.")
        lines += ["", f"## Breaches ({self.breaches.height})", ""]
        if self.breaches.height:
            lines += [
                "Every item over target in the period, newest first (latency SLAs: every bucket over target).",
                "",
                "| SLA | workflow / series | step | duration | over by | severity | escalated |",
                "|---|---|---|---|---|---|---|",
                *breach_markdown_rows(self.breaches),
            ]
        else:
            lines.append("None in the period.")
        return "\n".join(lines) + "\n"


def _pct(value: float | None) -> str:
    return "–" if value is None else f"{value:.2%}"


def _count(value: int | None) -> str:
    return "–" if value is None else f"{value}"


def _signed(value: float | None, unit: str = "") -> str:
    if value is None:
        return "–"
    return f"{value:+.2f}{unit}" if unit else f"{int(value):+d}"


def step_words(step_ms: int) -> str:
    """ "day", "hour", "5 minutes": the trend bucket in words."""
    return {7 * DAY_MS: "week", DAY_MS: "day", HOUR_MS: "hour"}.get(step_ms, f"{step_ms // MIN_MS} minutes")


def _iso(ms: int) -> str:
    return pl.Series([ms]).cast(pl.Datetime("ms", "UTC")).dt.strftime("%Y-%m-%d %H:%M UTC").item()  # type: ignore[no-any-return]


def _cell(column: str) -> pl.Expr:
    """A text column safe inside a Markdown table cell ("–" when empty)."""
    return pl.col(column).fill_null("–").str.replace_all("|", r"\|", literal=True)


def breach_markdown_rows(breaches: pl.DataFrame) -> list[str]:
    """The Markdown table rows of a breach frame (:data:`BREACH_SCHEMA`), in its order."""
    words = pl.String
    over = pl.col("over_s").map_elements(duration, return_dtype=words)
    return (
        breaches.select(  # type: ignore[no-any-return]
            pl.format(
                "| {} | {} | {} | {}{} | {}{} | {} | {} |",
                _cell("sla"),
                _cell("workflow_id"),
                _cell("step"),
                pl.col("duration_s").map_elements(duration, return_dtype=words),
                pl.when(pl.col("open")).then(pl.lit(" (still open)")).otherwise(pl.lit("")),
                over,
                pl.when(pl.col("target_s") > 0)
                .then(pl.format(" ({}%)", pl.col("over_pct").round(0).cast(pl.Int64)))
                .otherwise(pl.lit("")),
                "severity",
                pl.when(pl.col("escalated")).then(pl.lit("yes")).otherwise(pl.lit("no")),
            )
        )
        .to_series()
        .to_list()
    )


@dataclass(frozen=True)
class Measured:
    """One SLA measured over one period from the items (or buckets) its compliance counts."""

    definition: SlaDefinition
    result: comp.Compliance
    outcomes: pl.DataFrame  # one row per counted item or bucket of the period (ts, bad, weight)

    def figures(self, start_ms: int, end_ms: int) -> PeriodFigures:
        """The comparison's figures of this period."""
        return PeriodFigures(start_ms, end_ms, self.result.total, _compliance(self), _breach_count(self))


def _compliance(measured: Measured) -> float | None:
    result = measured.result
    return result.availability if measured.definition.kind == "availability" else result.within_target


def _breach_count(measured: Measured) -> int | None:
    return None if measured.definition.kind == "availability" else measured.result.breaching.height


def measure(
    engine: Engine,
    settings: Settings,
    definitions: Sequence[SlaDefinition],
    events: pl.DataFrame,
    start_ms: int,
    end_ms: int,
    now_ms: int | None = None,
    step_ms: int | None = None,
) -> tuple[list[Measured], pl.DataFrame, pl.DataFrame]:
    """Every SLA over ``[start_ms, end_ms)`` as of ``end_ms``; also the step and workflow items.

    ``events`` (:func:`core.sla.store.workflow_events`) may reach past the period on either
    side: only those a report run at ``end_ms`` would have read are used, so the previous
    period is measured exactly as its own report measured it (an item still running at
    its end counts there as open, however it ended later). Metric SLAs are read at
    ``step_ms`` when given (the previous period at the report period's bucket width, so
    their items, which are buckets, compare; where retention no longer holds that tier the
    query layer reads a coarser one), else at the tier the range picks.
    """
    seen = events.filter(pl.col("ts").is_between(start_ms - store.OPEN_MARGIN_MS, end_ms, closed="left"))
    steps, workflows = comp.step_items(seen, end_ms), comp.workflow_items(seen, end_ms)
    found = []
    for definition in definitions:
        if definition.kind in ("step", "workflow"):
            items = comp.items_for(definition, steps, workflows)
            availability = None
            if definition.availability_selector:
                values = store.metric_values(
                    engine, definition.availability_selector, start_ms, end_ms, settings, now_ms
                )
                availability = None if values.is_empty() else float(values["value"].clip(0.0, 1.0).mean())  # type: ignore[arg-type]
            result = comp.item_compliance(items, definition, start_ms, end_ms, availability)
            outcomes = comp.outcomes(comp.in_window(items, definition, start_ms, end_ms), definition, end_ms)
        else:
            assert definition.selector is not None
            values = store.metric_values(engine, definition.selector, start_ms, end_ms, settings, now_ms, step_ms)
            result = comp.metric_compliance(values, definition, start_ms, end_ms)
            inside = values.filter(pl.col("ts").dt.epoch("ms").is_between(start_ms, end_ms, closed="left"))
            outcomes = comp.metric_outcomes(inside, definition)
        found.append(Measured(definition, result, outcomes))
    return found, steps, workflows


def period_breaches(measured: Sequence[Measured]) -> pl.DataFrame:
    """Every breach of the period (:data:`BREACH_SCHEMA`), newest first: the rows each compliance counted as late.

    Severity follows the check job's rule (:func:`core.sla.jobs.breach_severity`): warning
    up to 25 % over, error beyond, critical past the escalation threshold.
    """
    frames = [
        m.result.breaching.select(
            pl.lit(m.definition.id).alias("sla_id"),
            pl.lit(m.definition.name).alias("sla"),
            pl.lit(m.definition.kind).alias("kind"),
            "workflow_id",
            "step",
            "attempt",
            (
                pl.col("start_ms") + (pl.col("target_s") * 1000).cast(pl.Int64)
                if m.definition.kind in ("step", "workflow")
                else pl.col("start_ms")
            ).alias("ts"),
            pl.col("start_ms").alias("started_ms"),
            pl.col("end_ms").alias("ended_ms"),
            "duration_s",
            "target_s",
            "over_s",
            "over_pct",
            severity_expr(pl.col("over_pct"), pl.col("escalated")).alias("severity"),
            "escalated",
            "open",
        )
        for m in measured
        if m.result.breaching.height
    ]
    if not frames:
        return empty_breaches()
    return (
        pl.concat(frames)
        .cast(BREACH_SCHEMA)  # type: ignore[arg-type]
        .sort(["ts", "sla_id", "workflow_id", "attempt"], descending=[True, False, False, False], nulls_last=True)
    )


def build_report(
    engine: Engine, settings: Settings, start_ms: int, end_ms: int, now_ms: int | None = None
) -> SlaReport:
    """The SLA report for ``[start_ms, end_ms)`` and, for comparison, the period of equal length just before.

    The budget is measured over the report period; the trend per SLA is bucketed by :func:`trend_step_ms`.
    """
    definitions = store.load_definitions(engine)
    previous_start = 2 * start_ms - end_ms
    events = store.workflow_events(engine, previous_start, end_ms)  # both periods in one read
    current, steps, workflows = measure(engine, settings, definitions, events, start_ms, end_ms, now_ms)
    bucket = store.bucket_ms(start_ms, end_ms, settings, clock_ms() if now_ms is None else now_ms)
    before, _, _ = measure(engine, settings, definitions, events, previous_start, start_ms, now_ms, bucket)
    step = trend_step_ms(end_ms - start_ms)
    lines = []
    for now, then in zip(current, before, strict=True):
        definition, result = now.definition, now.result
        spent = budgets.budget(now.outcomes, definition.objective, end_ms - start_ms, end_ms)
        worst = result.breaching["over_s"].max() if result.breaching.height else None
        lines.append(
            SlaLine(
                definition.id,
                definition.name,
                definition.kind,
                definition.objective,
                definition.target_s,
                result.total,
                result.within_target,
                result.success_rate,
                result.response_share,
                result.availability,
                result.met(definition),
                spent.remaining,
                _breach_count(now),
                int(result.breaching["escalated"].sum()),
                None if worst is None else float(worst),  # type: ignore[arg-type]
                then.figures(previous_start, start_ms),
                tuple(compliance_trend(now.outcomes, start_ms, end_ms, step).to_dicts()),
            )
        )
    ended = steps.filter(pl.col("end_ms").is_between(start_ms, end_ms, closed="left"))
    usage = store.utilisation(
        engine, settings.sla_utilisation_selector, settings.sla_utilisation_label, start_ms, end_ms, settings, now_ms
    )
    found = bn.find_bottlenecks(ended, definitions, usage)
    path = bn.critical_path(ended, workflows)
    return SlaReport(
        start_ms,
        end_ms,
        clock_ms() if now_ms is None else now_ms,
        tuple(lines),
        tuple(found),
        tuple(path.to_dicts()),
        period_breaches(current),
        step,
    )
