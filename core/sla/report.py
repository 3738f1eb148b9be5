"""The SLA report for a period: per-SLA compliance and budget, breaches, bottlenecks, critical path.

:func:`build_report` gathers it from the store; :class:`SlaReport` is plain data with
``to_dict`` (JSON export, the reports page) and ``to_markdown`` (download, e-mail).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

import polars as pl
from sqlalchemy.engine import Engine

from core.config import Settings
from core.model import now_ms as clock_ms
from core.sla import bottlenecks as bn
from core.sla import budget as budgets
from core.sla import compliance as comp
from core.sla import status as sla_status
from core.sla import store
from core.sla.view import duration

MARKDOWN_BREACHES = 500  # the JSON form keeps every logged breach; the readable one the newest of them
SUMMARY_HEADER = (
    "| SLA | objective | items | within target | success | availability | budget left | breaches | escalations | met |"
)
BREACH_FIELDS = (
    "sla_id",
    "workflow_id",
    "step",
    "ts",
    "duration_s",
    "target_s",
    "over_s",
    "severity",
    "escalated",
    "ended_ms",
)


@dataclass(frozen=True)
class SlaLine:
    """One SLA over the report period; shares are 0..1, None when nothing was measured."""

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
    breaches: int
    escalations: int
    worst_over_s: float | None


@dataclass(frozen=True)
class SlaReport:
    """Everything the SLA page shows, frozen for one period."""

    start_ms: int
    end_ms: int
    generated_ms: int
    lines: tuple[SlaLine, ...]
    bottlenecks: tuple[bn.Bottleneck, ...]
    critical_path: tuple[dict[str, Any], ...]
    breaches: tuple[dict[str, Any], ...] = ()  # logged breaches of the period, newest first (BREACH_FIELDS + sla name)

    @property
    def overall_compliance(self) -> float | None:
        """Share of measured SLAs that met every objective over the period."""
        measured = [line.met for line in self.lines if line.met is not None]
        return sum(measured) / len(measured) if measured else None

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form."""
        return {
            "start_ms": self.start_ms,
            "end_ms": self.end_ms,
            "generated_ms": self.generated_ms,
            "overall_compliance": self.overall_compliance,
            "slas": [asdict(line) for line in self.lines],
            "bottlenecks": [asdict(b) | {"impact_s": b.impact_s} for b in self.bottlenecks],
            "critical_path": list(self.critical_path),
            "breaches": list(self.breaches),
        }

    def to_markdown(self) -> str:
        """A readable report."""

        def pct(value: float | None) -> str:
            return "–" if value is None else f"{value:.2%}"

        overall = self.overall_compliance
        lines = [
            f"# SLA report {_iso(self.start_ms)} – {_iso(self.end_ms)}",
            "",
            f"SLAs met: {pct(overall)}",
            "",
            SUMMARY_HEADER,
            "|---|---|---|---|---|---|---|---|---|---|",
        ]
        for line in self.lines:
            met = "–" if line.met is None else ("yes" if line.met else "**no**")
            lines.append(
                f"| {line.name} | {line.objective:.2%} | {line.items} | {pct(line.within_target)} | "
                f"{pct(line.success_rate)} | {pct(line.availability)} | {pct(line.budget_remaining)} | "
                f"{line.breaches} | {line.escalations} | {met} |"
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
                    f"{duration(row['total_s'])} | {pct(row['share'])} |"
                )
        else:
            lines.append("No finished steps in the period.")
        lines += ["", "## Breaches", ""]
        if self.breaches:
            lines += [
                "| SLA | workflow | step | duration | over by | severity | escalated |",
                "|---|---|---|---|---|---|---|",
            ]
            for row in self.breaches[:MARKDOWN_BREACHES]:
                over = (
                    f"{duration(row['over_s'])} ({row['over_s'] / row['target_s']:.0%})"
                    if row["target_s"]
                    else duration(row["over_s"])
                )
                still = " (still open)" if row["ended_ms"] is None else ""
                escalated = "yes" if row["escalated"] else "no"
                lines.append(
                    f"| {row['sla']} | {row['workflow_id'] or '–'} | {row['step'] or '–'} | "
                    f"{duration(row['duration_s'])}{still} | {over} | {row['severity']} | {escalated} |"
                )
            if len(self.breaches) > MARKDOWN_BREACHES:
                older = len(self.breaches) - MARKDOWN_BREACHES
                lines += ["", f"… and {older} older breaches (all of them are in the JSON report)."]
        else:
            lines.append("None logged.")
        return "\n".join(lines) + "\n"


def _iso(ms: int) -> str:
    return pl.Series([ms]).cast(pl.Datetime("ms", "UTC")).dt.strftime("%Y-%m-%d %H:%M UTC").item()  # type: ignore[no-any-return]


def build_report(
    engine: Engine, settings: Settings, start_ms: int, end_ms: int, now_ms: int | None = None
) -> SlaReport:
    """The SLA report for ``[start_ms, end_ms)``; the budget is measured over the report period."""
    definitions = store.load_definitions(engine)
    data = sla_status.read_workflow_data(engine, start_ms, end_ms)
    logged = store.breaches(engine, start_ms, end_ms)
    lines = []
    for definition in definitions:
        if definition.kind in ("step", "workflow"):
            items = comp.items_for(definition, data.steps, data.workflows)
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
            values = store.metric_values(engine, definition.selector, start_ms, end_ms, settings, now_ms)
            result = comp.metric_compliance(values, definition, start_ms, end_ms)
            outcomes = comp.metric_outcomes(values, definition)
        spent = budgets.budget(outcomes, definition.objective, end_ms - start_ms, end_ms)
        mine = logged.filter(pl.col("sla_id") == definition.id)
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
                mine.height,
                int(mine["escalated"].sum()),
                None if worst is None else float(worst),  # type: ignore[arg-type]
            )
        )
    ended = data.steps.filter(pl.col("end_ms").is_between(start_ms, end_ms, closed="left"))
    usage = store.utilisation(
        engine, settings.sla_utilisation_selector, settings.sla_utilisation_label, start_ms, end_ms, settings, now_ms
    )
    found = bn.find_bottlenecks(ended, definitions, usage)
    path = bn.critical_path(ended, data.workflows)
    names = {d.id: d.name for d in definitions}
    rows = tuple(
        row | {"sla": names.get(row["sla_id"], row["sla_id"])} for row in logged.select(BREACH_FIELDS).to_dicts()
    )
    return SlaReport(
        start_ms,
        end_ms,
        clock_ms() if now_ms is None else now_ms,
        tuple(lines),
        tuple(found),
        tuple(path.to_dicts()),
        rows,
    )
