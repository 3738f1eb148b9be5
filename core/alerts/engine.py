"""The evaluation job: read each rule's data, step its alerts, then suppress, correlate, notify and deliver.

:func:`evaluate_all` is what the scheduler runs every ``alert_eval_interval_s``
seconds (as a singleton job, so several replicas evaluate once). It takes the clock as
an argument, so tests drive it through synthetic time over crafted series.
"""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass, field
from typing import Any

import polars as pl
import sqlalchemy as sa
from sqlalchemy.engine import Engine

from core.alerts import dispatch
from core.alerts.deliver import deliver_due
from core.alerts.evaluate import alert_labels, evaluate_rule, fingerprint
from core.alerts.kinds import kind
from core.alerts.rules import Rule, render
from core.alerts.store import load_rules, load_states, save_health, save_states, seed_defaults
from core.config import Settings
from core.model import now_ms as clock_ms
from core.query import series
from core.query.selectors import parse_selector
from core.store import schema
from core.store.leases import LeaseLost

log = logging.getLogger(__name__)
FRAME_SCHEMA = {"ts": pl.Datetime("ms", "UTC"), "labels": pl.String, "value": pl.Float64}
_seeded: set[str] = set()


@dataclass
class Report:
    """What one evaluation cycle did."""

    rules: int = 0
    transitions: int = 0
    queued: int = 0
    delivered: dict[str, int] = field(default_factory=dict)
    errors: dict[str, str] = field(default_factory=dict)


def event_counts(engine: Engine, rule: Rule, start_ms: int, end_ms: int) -> pl.DataFrame:
    """Events matching the rule's matchers in [start, end), counted per ``by`` fields.

    Counted here because the query layer has no event counts yet.
    """
    selector = parse_selector(rule.selector)
    table = schema.events
    query = sa.select(table.c.type, table.c.data).where(table.c.ts >= start_ms).where(table.c.ts < end_ms)
    exact = next((m.value for m in selector.matchers if m.label == "type" and m.op == "="), None)
    if exact is not None:
        query = query.where(table.c.type == exact)
    counts: dict[str, int] = {}
    with engine.connect() as connection:
        for event_type, data in connection.execute(query):
            fields = {k: str(v) for k, v in (data or {}).items() if not isinstance(v, dict | list)} | {
                "type": event_type
            }
            if selector.matches("", fields):
                key = json.dumps({name: fields.get(name, "") for name in rule.by}, sort_keys=True)
                counts[key] = counts.get(key, 0) + 1
    rows = [(end_ms - 1, key, float(n)) for key, n in counts.items()]
    frame = pl.DataFrame(rows, schema={"ts": pl.Int64, "labels": pl.String, "value": pl.Float64}, orient="row")
    return frame.with_columns(pl.col("ts").cast(pl.Datetime("ms", "UTC")))


def rule_frame(engine: Engine, rule: Rule, settings: Settings, now: int) -> pl.DataFrame:
    """The data one evaluation of ``rule`` looks at: ``ts, labels, value`` rows."""
    lookback_ms = int(kind(rule.kind).lookback_s(rule) * 1000)
    if rule.source == "events":
        return event_counts(engine, rule, now - lookback_ms, now + 1)
    agg = rule.agg if rule.kind == "threshold" else "avg"
    found = series(engine, rule.selector, now - lookback_ms, now + 1, agg=agg, settings=settings, now_ms=now)
    return found.select("ts", "labels", "value").filter(pl.col("value").is_not_null() & pl.col("value").is_not_nan())


def summary_text(rule: Rule, context: dict[str, Any], detail: dict[str, float] | None, labels: dict[str, str]) -> str:
    """The alert's summary; an anomaly rule's says what was expected, what was observed and the score.

    ``{{ expected }}``, ``{{ observed }}`` and ``{{ score }}`` fill from the detail of the
    most unusual recent point; a template that does not use them gets them appended, so
    every anomaly alert carries them.
    """
    if detail is None:
        return render(rule.summary, context, labels)
    facts = {
        "expected": f"{detail['expected_low']:.4g} to {detail['expected_high']:.4g}",
        "observed": f"{detail['observed']:.4g}",
        "score": f"{detail['score']:.3g}",
    }
    text = render(rule.summary, context | facts, labels)
    if "expected" not in rule.summary:
        text += f" (expected {facts['expected']}, observed {facts['observed']}, score {facts['score']})"
    return text


def evaluate_rule_now(engine: Engine, rule: Rule, settings: Settings, now: int) -> int:
    """Evaluate one rule at ``now`` and store the outcome; returns the number of state changes."""
    return _evaluate(engine, rule, settings, now)[0]


def _evaluate(engine: Engine, rule: Rule, settings: Settings, now: int) -> tuple[int, int]:
    """State changes, and how many series the rule saw (0: no data in its window)."""
    observations = kind(rule.kind).observe(rule_frame(engine, rule, settings, now), rule, now)
    with engine.begin() as connection:
        previous = load_states(connection, rule.name)
        states, transitions = evaluate_rule(rule, observations, previous, now)
        context = {"rule": rule.name, "threshold": rule.threshold, "severity": rule.severity, "op": rule.op}
        details = {
            fingerprint(rule.name, alert_labels(rule, seen.labels)): seen.detail for seen in observations if seen.detail
        }
        summaries = {
            key: summary_text(rule, context | {"value": state.last_value}, details.get(key), dict(state.labels))
            for key, state in states.items()
        }
        save_states(connection, rule, states, transitions, summaries, now)
    return len(transitions), len(observations)


def evaluate_all(engine: Engine, settings: Settings, now_ms: int | None = None) -> Report:
    """One full cycle at ``now_ms`` (default: the wall clock). Scheduler job, every ``alert_eval_interval_s``."""
    now = clock_ms() if now_ms is None else now_ms
    url = engine.url.render_as_string(hide_password=True)
    if url not in _seeded:
        seed_defaults(engine, settings.alert_rules_file)
        _seeded.add(url)
    report = Report()
    rules = load_rules(engine, enabled_only=True)
    seen: dict[str, dict[str, object]] = {}
    for rule in rules:
        try:
            transitions, series_seen = _evaluate(engine, rule, settings, now)
            report.transitions += transitions
            report.rules += 1
            seen[rule.name] = {"at": now, "series": series_seen}
        except LeaseLost:
            raise  # another replica evaluates now: this one stops, it is no rule's fault
        except Exception as error:  # noqa: BLE001 - one broken rule (a vanished table, a too-wide selector) must not stop the rest
            report.errors[rule.name] = f"{type(error).__name__}: {error}"
            seen[rule.name] = {"at": now, "series": 0, "error": report.errors[rule.name]}
            log.warning("alert rule %s failed: %s", rule.name, error)
    save_health(engine, seen)
    report.queued = dispatch.run(engine, settings, {r.name: r for r in rules}, now)
    report.delivered = deliver_due(engine, settings, now)
    return report
