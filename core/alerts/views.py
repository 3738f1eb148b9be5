"""What the Alerts page shows, as pure functions: the active list, history stats, a 24 h rule preview, prefill links.

The preview replays the real state machine (:func:`core.alerts.evaluate.step`) once a
minute over the last day, on the condition of the rule's kind
(:meth:`core.alerts.kinds.RuleKind.replay`: window aggregate against the threshold, the
anomaly detector's scores, the refitted forecast trend), so "how would this rule have
fired" uses exactly the rules evaluation uses, including ``for``, ``keep_firing_for``
and hysteresis.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from urllib.parse import urlencode

import polars as pl
import sqlalchemy as sa
from sqlalchemy.engine import Engine

from core.alerts.evaluate import FIRING, AlertState, step
from core.alerts.kinds import Observation, kind
from core.alerts.rules import SEVERITY_RANK, Rule
from core.config import Settings
from core.query import series
from core.store import schema

MINUTE = 60_000
DAY = 86_400_000


def firing_count(engine: Engine) -> int:
    """Alerts firing now (silenced and inhibited ones included, as on the Alerts page): the menu's badge."""
    table = schema.alerts
    with engine.connect() as connection:
        return int(connection.scalar(sa.select(sa.func.count()).where(table.c.state == "firing")) or 0)


RULE_STATES = ("firing", "pending", "no data", "error", "ok", "not evaluated yet", "disabled")


def rule_states(rules: list[Rule], alerts: pl.DataFrame, health: dict[str, dict[str, object]]) -> pl.DataFrame:
    """One row per rule: its state now, as the rule list shows it.

    ``no data`` is a series rule that saw no series in its last window: silent, but not
    "ok" — the metric may be misnamed or its producer gone. Event rules count events,
    so no event is a count of 0, not missing data.
    """
    live = alerts.filter(pl.col("state").is_in(["firing", "pending"])).group_by("rule", "state").len()
    counts = {(r, state): n for r, state, n in live.iter_rows()}
    rows = []
    for rule in rules:
        seen = health.get(rule.name)
        if not rule.enabled:
            state = "disabled"
        elif seen is None:
            state = "not evaluated yet"
        elif seen.get("error"):
            state = "error"
        elif counts.get((rule.name, "firing")):
            state = "firing"
        elif counts.get((rule.name, "pending")):
            state = "pending"
        elif rule.source == "series" and not seen.get("series"):
            state = "no data"
        else:
            state = "ok"
        rows.append(
            {
                "rule": rule.name,
                "state": state,
                "series": None if seen is None else seen.get("series"),
                "evaluated_at": None if seen is None else seen.get("at"),
                "error": None if seen is None else seen.get("error"),
            }
        )
    schema = {"rule": pl.String, "state": pl.String, "series": pl.Int64, "evaluated_at": pl.Int64, "error": pl.String}
    return pl.DataFrame(rows, schema=schema, orient="row")


def alert_link(selector: str, agg: str = "avg") -> str:
    """URL of the Alerts page with the rule editor prefilled from a query (Explore's "create alert")."""
    return "/alerts?" + urlencode({"selector": selector, "agg": agg})


def prefill(selector: str, agg: str = "avg") -> str:
    """A starting rule (YAML) for a selector taken from a query."""
    safe = "".join(c if c.isalnum() else "_" for c in selector.split("{")[0].lower()).strip("_") or "new_rule"
    agg = agg if agg in ("avg", "min", "max", "sum", "count", "last") else "avg"
    return (
        f'name: {safe}_alert\nselector: {json.dumps(selector)}\nagg: {agg}\nwindow: 5m\nop: ">"\nthreshold: 0\n'
        'for: 5m\nseverity: warning\nlabels: {}\nsummary: "{{ rule }}: {{ value }} {{ op }} {{ threshold }}"\n'
    )


def label_filter(frame: pl.DataFrame, text: str) -> pl.DataFrame:
    """Keep alerts whose labels contain every ``key=value`` pair in ``text`` (comma separated)."""
    for part in (p.strip() for p in text.split(",") if p.strip()):
        key, _, value = part.partition("=")
        frame = frame.filter(
            pl.col("labels").str.contains(json.dumps({key.strip(): value.strip()})[1:-1], literal=True)
        )
    return frame


def active_table(frame: pl.DataFrame, now: int, sort: str = "severity") -> pl.DataFrame:
    """Pending, firing and recently resolved alerts, newest problems first, with age in minutes."""
    if frame.is_empty():
        return frame
    state_rank = {"firing": 0, "pending": 1, "resolved": 2}
    out = frame.with_columns(
        sev_rank=pl.col("severity").replace_strict(SEVERITY_RANK, default=0),
        state_rank=pl.col("state").replace_strict(state_rank, default=3),
        age_min=((now - pl.coalesce("fired_at", "active_since", "resolved_at")) / MINUTE).round(1),
    )
    keys = ["state_rank", "sev_rank", "age_min"] if sort == "severity" else ["state_rank", "age_min", "sev_rank"]
    return out.sort(keys, descending=[False, True, True])


@dataclass(frozen=True)
class Preview:
    """Values per minute with the replayed state, and the firing episodes (series, start, end)."""

    frame: pl.DataFrame
    episodes: pl.DataFrame
    note: str = ""


def preview(engine: Engine, rule: Rule, settings: Settings, now: int) -> Preview:
    """How ``rule`` would have fired over the last 24 h, for threshold, anomaly and forecast rules alike.

    ``frame`` holds ``series, ts, value, active, clear, state`` per minute (threshold:
    the window aggregate; anomaly: the data plus its ``score``; forecast: the data plus
    the ``projected`` value at the horizon).
    """
    found_kind = kind(rule.kind)
    history = int(found_kind.lookback_s(rule) * 1000)  # what each replayed evaluation reads before its minute
    agg = rule.agg if rule.kind == "threshold" else "avg"  # as core.alerts.engine.rule_frame reads it
    data = series(
        engine, rule.selector, now - DAY - history, now, step_ms=MINUTE, agg=agg, settings=settings, now_ms=now
    )
    empty = pl.DataFrame(
        schema={"series": pl.String, "start": pl.Datetime("ms", "UTC"), "end": pl.Datetime("ms", "UTC")}
    )
    if data.is_empty() or rule.source != "series":
        return Preview(
            data,
            empty,
            "no data for this selector in the last 24 h"
            if rule.source == "series"
            else "events rules are not previewed",
        )
    if rule.kind in ("threshold", "forecast") and rule.threshold is None:
        return Preview(data, empty, f"{rule.kind} rules need a threshold; the chart shows the data")
    data = data.filter(pl.col("value").is_not_null() & pl.col("value").is_not_nan())
    rolled = found_kind.replay(data, rule, now - DAY)
    states, episodes = [], []
    for (name,), part in rolled.group_by("series", maintain_order=True):
        state = AlertState(str(name), rule.name, ())
        start = None
        for ts, value, active, clear in part.select(
            pl.col("ts").dt.epoch("ms"), "value", "active", "clear"
        ).iter_rows():
            state, _ = step(state, Observation({}, value, bool(active), bool(clear)), rule, ts)
            states.append(state.state)
            if state.state == FIRING and start is None:
                start = ts
            elif state.state != FIRING and start is not None:
                episodes.append((str(name), start, ts))
                start = None
        if start is not None:
            episodes.append((str(name), start, now))
    frame = rolled.with_columns(state=pl.Series(states, dtype=pl.String))
    found = pl.DataFrame(episodes, schema={"series": pl.String, "start": pl.Int64, "end": pl.Int64}, orient="row")
    return Preview(frame, found.with_columns(pl.col("start", "end").cast(pl.Datetime("ms", "UTC"))))
