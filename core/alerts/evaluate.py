"""The alert state machine, exactly as Prometheus runs it, as a pure function of (previous state, observation, clock).

::

    inactive ──condition──► pending ──held for `for`──► firing ──condition gone──► resolved
        ▲                      │                          │  (after keep_firing_for,  │
        └──condition gone──────┘                          │   once the value is clear)│
                                                          ▲                           │
                                 condition again ─► pending ◄─────────────────────────┘

* ``for`` must hold continuously: one evaluation without the condition sends a
  pending alert back to inactive, and the clock starts again;
* ``for: 0`` fires on the first evaluation that sees the condition;
* a firing alert stays firing while the value is not yet *clear* (hysteresis) and for
  ``keep_firing_for`` after the condition was last seen;
* no data follows the rule's ``no_data`` mode: ``ok`` (as if clear), ``alerting`` (as if
  the condition held) or ``keep`` (nothing changes).

The time is always passed in, so tests drive it with a synthetic clock.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, replace

from core.alerts.kinds import Observation
from core.alerts.rules import Rule
from core.model import Labels, canonical_labels

INACTIVE, PENDING, FIRING, RESOLVED = "inactive", "pending", "firing", "resolved"
STATES = (INACTIVE, PENDING, FIRING, RESOLVED)


def alert_labels(rule: Rule, series_labels: dict[str, str]) -> Labels:
    """The labels of the alert: the series' own, the rule's, then alertname and severity."""
    return canonical_labels({**series_labels, **rule.labels, "alertname": rule.name, "severity": rule.severity})


def fingerprint(rule_name: str, labels: Labels) -> str:
    """One alert per rule and label set: a stable 32-hex key."""
    digest = hashlib.blake2b(rule_name.encode(), digest_size=16)
    for key, value in labels:
        digest.update(b"\x00" + key.encode() + b"\x01" + value.encode())
    return digest.hexdigest()


@dataclass(frozen=True)
class AlertState:
    """The live state of one alert (one row of the ``alerts`` table)."""

    fingerprint: str
    rule: str
    labels: Labels
    state: str = INACTIVE
    active_since: int | None = None
    fired_at: int | None = None
    resolved_at: int | None = None
    last_active_ms: int | None = None
    last_value: float | None = None


@dataclass(frozen=True)
class Transition:
    """One state change, written to ``alert_transitions`` and used to open/close history episodes."""

    fingerprint: str
    rule: str
    ts: int
    from_state: str
    to_state: str
    value: float | None


def step(
    previous: AlertState, seen: Observation | None, rule: Rule, now_ms: int
) -> tuple[AlertState, Transition | None]:
    """The next state of one alert after one evaluation at ``now_ms`` (``seen`` None: no data)."""
    if seen is None:
        if rule.no_data == "keep":
            return previous, None
        alerting = rule.no_data == "alerting"
        seen = Observation(dict(previous.labels), None, alerting, not alerting)
    value = seen.value if seen.value is not None else previous.last_value
    state = previous.state
    nxt = replace(previous, last_value=value, last_active_ms=now_ms if seen.active else previous.last_active_ms)
    if state in (INACTIVE, RESOLVED):
        if seen.active:
            fired = rule.for_ <= 0
            nxt = replace(
                nxt,
                state=FIRING if fired else PENDING,
                active_since=now_ms,
                fired_at=now_ms if fired else None,
                resolved_at=None if fired else previous.resolved_at,
            )
    elif state == PENDING:
        if not seen.active:
            nxt = replace(nxt, state=INACTIVE, active_since=None)
        elif now_ms - (now_ms if previous.active_since is None else previous.active_since) >= rule.for_ * 1000:
            nxt = replace(nxt, state=FIRING, fired_at=now_ms, resolved_at=None)
    elif state == FIRING and not seen.active and seen.clear:
        last = nxt.last_active_ms if nxt.last_active_ms is not None else now_ms
        if now_ms - last >= rule.keep_firing_for * 1000:
            nxt = replace(nxt, state=RESOLVED, resolved_at=now_ms, active_since=None)
    if nxt.state == state:
        return nxt, None
    return nxt, Transition(previous.fingerprint, rule.name, now_ms, state, nxt.state, value)


def evaluate_rule(
    rule: Rule, observations: list[Observation], previous: dict[str, AlertState], now_ms: int
) -> tuple[dict[str, AlertState], list[Transition]]:
    """Step every alert of ``rule``: those observed now and those known from before (which may lack data).

    ``no_data`` applies when the rule sees no series at all; under ``alerting`` that
    raises one alert labelled ``alertstate="nodata"``, so a silent source is itself an
    alert. A single label set that disappears while others report resolves.
    """
    seen: dict[str, tuple[Labels, Observation]] = {}
    for item in observations:
        labels = alert_labels(rule, item.labels)
        seen[fingerprint(rule.name, labels)] = (labels, item)
    if not observations and rule.no_data == "alerting":
        labels = alert_labels(rule, {"alertstate": "nodata"})
        seen[fingerprint(rule.name, labels)] = (labels, Observation({"alertstate": "nodata"}, None, True, False))
    states: dict[str, AlertState] = {}
    transitions: list[Transition] = []
    for key in sorted(set(seen) | set(previous)):
        found: Observation | None
        if key in seen:
            labels, found = seen[key]
        else:  # a label set that went away: like Prometheus, it resolves, unless the whole rule has no data
            labels = previous[key].labels
            found = None if not observations else Observation(dict(labels), None, False, True)
        before = previous.get(key) or AlertState(key, rule.name, labels)
        after, change = step(before, found, rule, now_ms)
        states[key] = after
        if change is not None:
            transitions.append(change)
    return states, transitions
