"""After evaluation: mark suppressed alerts, correlate firing ones into groups, and queue grouped notifications.

An alert is notified when it starts firing, again every ``alert_repeat_interval_s``
while it keeps firing unacknowledged, and once when it has stayed resolved for
``alert_resolve_wait_s``. When someone acknowledges a firing alert that was notified, the
channels that follow acknowledgements (a notifier with ``follows_acknowledgements``, such as
PagerDuty, whose incident is acknowledged in turn) get one "acknowledged" notice. Because
"already told them it fires" is remembered per alert (``notified_state``), an alert that
flaps — resolves and fires again before the resolved notice went out — does not notify again.
Silenced, muted and inhibited alerts wait. Alerts of one correlated group going to one channel share one message.
"""

from __future__ import annotations

import json
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Engine

from core.alerts.correlate import Fired, correlate
from core.alerts.deliver import queue_on
from core.alerts.evaluate import FIRING, RESOLVED
from core.alerts.notify import Message, notifier
from core.alerts.objects import Channel, channels, mute_timings, silences
from core.alerts.rules import Rule
from core.alerts.silences import Candidate, inhibited, suppression
from core.config import Settings
from core.store import schema
from core.store.leases import fence


def _series_labels(labels: dict[str, str], rule: Rule | None) -> frozenset[tuple[str, str]]:
    own = set(rule.labels) if rule else set()
    return frozenset((k, v) for k, v in labels.items() if k not in own and k not in ("alertname", "severity"))


ACKNOWLEDGED = "acknowledged"  # notified_state once the acknowledgement went out; firing was told before it


def _notice(row: dict[str, Any], settings: Settings, now: int) -> str | None:
    told = row["notified_state"]
    if row["state"] == FIRING:
        if told not in (FIRING, ACKNOWLEDGED):
            return "firing"
        if row["acknowledged_by"] and told == FIRING:
            return ACKNOWLEDGED
        repeat_due = now - (row["last_notified_ms"] or 0) >= settings.alert_repeat_interval_s * 1000
        return "firing" if repeat_due and not row["acknowledged_by"] else None
    if row["state"] == RESOLVED and told in (FIRING, ACKNOWLEDGED):
        return "resolved" if now - (row["resolved_at"] or now) >= settings.alert_resolve_wait_s * 1000 else None
    return None


def code_rule_channels(rule_name: str, settings: Settings) -> list[str]:
    """Channels of the alerts the SLA check raises from code: they have no row in alert_rules to name them."""
    if rule_name == "sla_escalation":
        return list(settings.sla_escalation_channels)
    if rule_name in ("sla_breach", "slo_burn"):
        return list(settings.sla_alert_channels)
    return []


def _routes(rule: Rule | None, named: list[str], severity: str, available: list[Channel]) -> list[Channel]:
    """Channels to notify for an alert, the most specific choice first.

    The rule's own channels, else the configured channels of a code-raised alert that exist, else every channel
    taking the severity.
    """
    if rule is not None and rule.channels:
        return [c for c in available if c.name in rule.channels and c.enabled]
    chosen = [c for c in available if c.name in named and c.enabled]
    return chosen or [c for c in available if c.enabled and severity in c.severities]


def _title(notice: str, alerts: list[dict[str, Any]]) -> str:
    if len(alerts) == 1:
        return str(alerts[0]["summary"] or alerts[0]["rule"])
    root = next((a for a in alerts if a["root_cause"]), alerts[0])
    components = sorted({a["labels"].get("component", "") for a in alerts} - {""})
    where = f" in {', '.join(components)}" if components else ""
    return f"{len(alerts)} alerts {notice}{where}; probable root cause: {root['summary'] or root['rule']}"


def run(engine: Engine, settings: Settings, rules: dict[str, Rule], now: int) -> int:
    """Suppress, correlate and queue notifications for every live alert; returns how many notifications were queued."""
    table = schema.alerts
    with engine.connect() as connection:
        rows = [dict(r) for r in connection.execute(sa.select(table)).mappings()]
    for row in rows:
        row["labels_map"] = json.loads(row["labels"])
    active_silences, timings = silences(engine, since_ms=now), mute_timings(engine)
    inhibit = inhibited(
        Candidate(
            r["fingerprint"],
            r["labels_map"],
            r["severity"],
            r["state"] == FIRING,
            _series_labels(r["labels_map"], rules.get(r["rule"])),
        )
        for r in rows
    )
    firing = [
        Fired(r["fingerprint"], r["labels_map"].get("component", ""), r["fired_at"] or now)
        for r in rows
        if r["state"] == FIRING
    ]
    groups = correlate(firing, int(settings.alert_correlation_window_s * 1000), settings.alert_dependencies)
    group_of = {member: (g.key, member == g.root) for g in groups for member in g.members}
    available = channels(engine)
    buckets: dict[tuple[str, str, str], list[dict[str, Any]]] = {}
    by_name = {c.name: c for c in available}
    notified: list[str] = []
    with engine.begin() as connection:  # states and the notifications about them commit together, fenced
        fence(connection)
        for row in rows:
            key = row["fingerprint"]
            muted = suppression(row["labels_map"], now, active_silences, timings) or (
                f"inhibited:{inhibit[key][:8]}" if key in inhibit else None
            )
            group, root = group_of.get(key, (row["group_key"] or f"grp-{key[:12]}", bool(row["root_cause"])))
            connection.execute(
                table.update()
                .where(table.c.fingerprint == key)
                .values(suppressed=muted, group_key=group, root_cause=root)
            )
            notice = None if muted else _notice(row, settings, now)
            if notice is None:
                continue
            rule = rules.get(row["rule"])
            alert = {
                "fingerprint": key,
                "rule": row["rule"],
                "state": row["state"],
                "severity": row["severity"],
                "labels": row["labels_map"],
                "summary": row["summary"],
                "runbook": rule.runbook if rule else "",
                "value": row["last_value"],
                "fired_at": row["fired_at"],
                "resolved_at": row["resolved_at"],
                "root_cause": root,
                "group": group,
                "acknowledged_by": row["acknowledged_by"],
            }
            for channel in _routes(rule, code_rule_channels(row["rule"], settings), row["severity"], available):
                if notice == ACKNOWLEDGED and not getattr(notifier(channel.kind), "follows_acknowledgements", False):
                    continue
                buckets.setdefault((channel.name, group, notice), []).append(alert)
            notified.append(key)
            state = {"firing": FIRING, ACKNOWLEDGED: ACKNOWLEDGED}.get(notice, RESOLVED)
            connection.execute(
                table.update().where(table.c.fingerprint == key).values(notified_state=state, last_notified_ms=now)
            )
        for (channel_name, group, notice), alerts in sorted(buckets.items()):
            message = Message(notice, group, _title(notice, alerts), tuple(alerts))
            queue_on(connection, by_name[channel_name], message, now)
    return len(buckets)
