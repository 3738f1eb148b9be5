"""The SLA check job: log breaches, escalate, and raise or resolve alerts through the alerting module.

Each run (every ``sla_check_interval_s``):

1. every item of an enabled step/workflow SLA that ended over target within the last
   ``sla_breach_lookback_h`` hours, or is still open and already over target, is logged
   in ``sla_breaches`` once (open ones are updated until they end);
2. per SLA one ``sla_breach`` alert fires while new or open breaches exist, with the
   severity of the worst one (warning up to 25 % over, error beyond); an item past the
   escalation threshold fires ``sla_escalation`` (critical) to the escalation channels;
3. per SLA and burn rule one ``slo_burn`` alert fires while that multi-window rule does,
   once its long window holds ``sla_burn_min_items`` items and the SLA's data is older
   than ``sla_burn_warmup_s`` (:class:`core.sla.budget.BurnGuard`): a fresh install's
   first few slow page loads are not a budget at risk.

Alerts that no longer hold are resolved, so the Alerts page shows only live problems.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

import polars as pl
from sqlalchemy.engine import Engine

from core.config import Settings
from core.model import now_ms as clock_ms
from core.sla import budget as budgets
from core.sla import compliance as comp
from core.sla import status as sla_status
from core.sla import store
from core.sla.definitions import SlaDefinition

log = logging.getLogger(__name__)
HOUR_MS = 3_600_000
OVER_ERROR = 0.25  # breaches more than 25 % over target are "error", below "warning"
SEVERITY_RANK = {"info": 0, "warning": 1, "error": 2, "critical": 3}


class AlertSink(Protocol):
    """Where the job's alerts go: the alerting module (:class:`core.sla.alerting.AlertsSink`) or a log."""

    def fire(
        self,
        rule: str,
        labels: dict[str, str],
        severity: str,
        summary: str,
        value: float | None,
        channels: Sequence[str],
        now_ms: int,
    ) -> None: ...

    def resolve(self, rule: str, labels: dict[str, str], now_ms: int) -> None: ...


class LogSink:
    """Writes alert changes to the log only (for dry runs)."""

    def fire(
        self,
        rule: str,
        labels: dict[str, str],
        severity: str,
        summary: str,
        value: float | None,
        channels: Sequence[str],
        now_ms: int,
    ) -> None:
        log.warning("%s %s [%s] %s", rule, labels, severity, summary)

    def resolve(self, rule: str, labels: dict[str, str], now_ms: int) -> None:
        log.info("%s %s resolved", rule, labels)


def default_sink(engine: Engine, settings: Settings) -> AlertSink:
    """The alerting module's live alerts (core.sla.alerting)."""
    from core.sla.alerting import AlertsSink

    return AlertsSink(engine)


def breach_severity(over_ratio: float, escalated: bool) -> str:
    """warning up to 25 % over target, error beyond, critical once past the escalation threshold."""
    if escalated:
        return "critical"
    return "error" if over_ratio > OVER_ERROR else "warning"


def severity_expr(over_pct: pl.Expr, escalated: pl.Expr) -> pl.Expr:
    """:func:`breach_severity` over whole frames (the report's breach list), so both name a breach alike."""
    return (
        pl.when(escalated)
        .then(pl.lit("critical"))
        .when(over_pct / 100 > OVER_ERROR)
        .then(pl.lit("error"))
        .otherwise(pl.lit("warning"))
    )


def breach_rows(definition: SlaDefinition, over: pl.DataFrame, now_ms: int) -> list[dict[str, Any]]:
    """Rows for ``sla_breaches`` from :func:`core.sla.compliance.breaching` output (pure)."""
    rows = []
    for item in over.iter_rows(named=True):
        start = item["start_ms"] if item["start_ms"] is not None else now_ms - int(item["duration_s"] * 1000)
        key = f"{item['workflow_id']}:{item['step']}:{item['attempt']}"
        rows.append(
            {
                "sla_id": definition.id,
                "item_key": key[:256],
                "workflow_id": item["workflow_id"],
                "step": item["step"],
                "ts": start + int(item["target_s"] * 1000),
                "started_ms": start,
                "ended_ms": item["end_ms"],
                "duration_s": item["duration_s"],
                "target_s": item["target_s"],
                "over_s": item["over_s"],
                "severity": breach_severity(item["over_pct"] / 100, item["escalated"]),
                "escalated": item["escalated"],
                "impact": {
                    "time_lost_s": round(item["over_s"], 1),
                    "over_pct": round(item["over_pct"], 1),
                    "workflow_delayed": item["workflow_id"],
                    "still_open": item["open"],
                },
            }
        )
    return rows


@dataclass
class CheckResult:
    """What one run did, for logs and tests."""

    logged: dict[str, int] = field(default_factory=dict)
    escalated: dict[str, int] = field(default_factory=dict)
    firing: list[tuple[str, str, str]] = field(default_factory=list)  # (rule, sla, severity)
    held: list[tuple[str, str, str]] = field(default_factory=list)  # (sla, burn rule, why) burning but held back


def _worst(rows: Sequence[dict[str, Any]]) -> dict[str, Any]:
    return max(rows, key=lambda r: (SEVERITY_RANK[r["severity"]], r["over_s"]))


def _summary(definition: SlaDefinition, rows: Sequence[dict[str, Any]], what: str) -> str:
    worst = _worst(rows)
    return (
        f"{definition.name}: {len(rows)} item(s) {what}; worst {worst['workflow_id']} took "
        f"{worst['duration_s'] / 60:.1f} min, {worst['over_s'] / 60:.1f} min over the "
        f"{worst['target_s'] / 60:.0f} min target"
    )


def check_slas(
    engine: Engine, settings: Settings, now_ms: int | None = None, sink: AlertSink | None = None
) -> CheckResult:
    """One run of the SLA check (see the module docstring); safe to run repeatedly."""
    now = clock_ms() if now_ms is None else now_ms
    sink = sink or default_sink(engine, settings)
    result = CheckResult()
    lookback = int(settings.sla_breach_lookback_h * HOUR_MS)
    longest_rule = max(rule.long_ms for rule in budgets.RULES)
    data: sla_status.WorkflowData | None = None
    for definition in store.load_definitions(engine, enabled_only=True):
        labels = {"sla": definition.id, "component": "workflow" if definition.kind in ("step", "workflow") else "api"}
        if definition.kind in ("step", "workflow"):
            if data is None:
                data = sla_status.read_workflow_data(engine, now - max(lookback, longest_rule), now)
            items = comp.items_for(definition, data.steps, data.workflows)
            _check_items(engine, settings, definition, items, now, lookback, labels, sink, result)
            outcomes = comp.outcomes(items, definition, now)
            alerts = budgets.evaluate(outcomes, definition.objective, now, guard=sla_status.burn_guard(settings))
        else:
            alerts = sla_status.metric_status(engine, definition, settings, now, windows_s={}).alerts
        for alert in alerts:
            rule_labels = labels | {"burn_rule": alert.rule.name}
            if alert.burning and alert.held:
                result.held.append((definition.id, alert.rule.name, alert.held))
            if alert.firing:
                summary = (
                    f"{definition.name}: error budget burning {alert.long_rate:.1f}x over "
                    f"{_span(alert.rule.long_ms)} and {alert.short_rate:.1f}x over {_span(alert.rule.short_ms)} "
                    f"(limit {alert.rule.factor:g}x, {alert.rule.action})"
                )
                sink.fire(
                    "slo_burn",
                    rule_labels,
                    alert.rule.severity,
                    summary,
                    alert.long_rate,
                    settings.sla_alert_channels,
                    now,
                )
                result.firing.append(("slo_burn", definition.id, alert.rule.name))
            else:
                sink.resolve("slo_burn", rule_labels, now)
    return result


def _span(ms: int) -> str:
    return f"{ms // HOUR_MS} h" if ms >= HOUR_MS and ms % HOUR_MS == 0 else f"{ms // 60_000} min"


def _check_items(
    engine: Engine,
    settings: Settings,
    definition: SlaDefinition,
    items: pl.DataFrame,
    now: int,
    lookback: int,
    labels: dict[str, str],
    sink: AlertSink,
    result: CheckResult,
) -> None:
    recent = comp.in_window(items, definition, now - lookback, now)
    rows = breach_rows(definition, comp.breaching(recent, definition), now)
    new, escalated = store.upsert_breaches(engine, rows, now)
    result.logged[definition.id] = len(new)
    result.escalated[definition.id] = len(escalated)
    logged = {r["item_key"] for r in new}
    live = new + [r for r in rows if r["ended_ms"] is None and r["item_key"] not in logged]
    if live:
        # The breach alert tops out at "error": "critical" belongs to the escalation alert and its channel.
        severity = "error" if any(r["severity"] != "warning" for r in live) else "warning"
        sink.fire(
            "sla_breach",
            labels,
            severity,
            _summary(definition, live, "over target"),
            _worst(live)["over_s"],
            settings.sla_alert_channels,
            now,
        )
        result.firing.append(("sla_breach", definition.id, severity))
    else:
        sink.resolve("sla_breach", labels, now)
    raised = {r["item_key"] for r in escalated}
    still = [r for r in rows if r["escalated"] and r["ended_ms"] is None and r["item_key"] not in raised]
    if escalated or still:
        sink.fire(
            "sla_escalation",
            labels,
            "critical",
            _summary(definition, escalated + still, "past the escalation threshold"),
            _worst(escalated + still)["over_s"],
            settings.sla_escalation_channels,
            now,
        )
        result.firing.append(("sla_escalation", definition.id, "critical"))
    else:
        sink.resolve("sla_escalation", labels, now)
