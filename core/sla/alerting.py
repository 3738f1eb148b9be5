"""SLA alerts as live alerts of the alerting module, so they are listed, silenced and notified like any other.

The SLA check decides *whether* an alert holds; this sink runs that verdict through the
alerting module's own state machine (core.alerts.evaluate) and store, under code-defined
rules named ``sla_breach``, ``sla_escalation`` and ``slo_burn``. The alerting job then
suppresses, correlates and notifies them with everything else. These rules are not rows
of ``alert_rules``: the dispatcher sends them to ``sla_escalation_channels`` /
``sla_alert_channels`` when those channels exist, and otherwise routes by severity.
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from sqlalchemy.engine import Engine

from core.alerts.evaluate import AlertState, evaluate_rule
from core.alerts.kinds import Observation
from core.alerts.rules import Rule
from core.alerts.store import load_states, save_states
from core.store import schema


def _rule(name: str, severity: str, channels: Sequence[str] = ()) -> Rule:
    return Rule(
        name=name,
        selector=name,
        severity=severity,  # type: ignore[arg-type]
        channels=list(channels),
        threshold=0.0,
        description="Raised by the SLA check (core/sla/jobs.py); see docs/sla.md.",
    )


def _mine(states: dict[str, AlertState], labels: dict[str, str]) -> dict[str, AlertState]:
    return {key: state for key, state in states.items() if set(labels.items()) <= set(state.labels)}


class AlertsSink:
    """Fires and resolves SLA alerts in the ``alerts`` table through the alert state machine."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine

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
        """The alert ``rule`` for ``labels`` holds now, at ``severity`` (another severity of it resolves)."""
        spec = _rule(rule, severity, channels)
        with self.engine.begin() as connection:
            previous = _mine(load_states(connection, rule), labels)
            states, transitions = evaluate_rule(spec, [Observation(labels, value, True, False)], previous, now_ms)
            save_states(connection, spec, states, transitions, dict.fromkeys(states, summary), now_ms)

    def resolve(self, rule: str, labels: dict[str, str], now_ms: int) -> None:
        """The alert ``rule`` for ``labels`` no longer holds."""
        with self.engine.begin() as connection:
            previous = _mine(load_states(connection, rule), labels)
            if not previous:
                return
            table = schema.alerts
            summaries = {
                key: text
                for key, text in connection.execute(
                    sa.select(table.c.fingerprint, table.c.summary).where(table.c.fingerprint.in_(list(previous)))
                )
            }
            for key, state in previous.items():
                spec = _rule(rule, dict(state.labels).get("severity", "warning"))
                states, transitions = evaluate_rule(spec, [], {key: state}, now_ms)
                save_states(connection, spec, states, transitions, {key: summaries.get(key, "")}, now_ms)
