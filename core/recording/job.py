"""The recording job: evaluate each due rule at the instants since its last run and store the results.

Instants are multiples of the rule's step, so every replica and every restart computes the same
points, and a rewritten point replaces itself (samples are keyed by series and time). After a
fresh start or an outage the rule catches up over at most ``recording_backfill_s``: instants
older than a day at a coarse step, the last day at the rule's own step. Events that arrive late, with
times before the last evaluated instant, are not re-evaluated.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

import numpy as np
import polars as pl
import sqlalchemy as sa
from sqlalchemy.engine import Engine

from core.config import Settings, get_settings
from core.ingest import ingest
from core.kpis.records import load_events, within
from core.model import Batch, Sample, canonical_labels, now_ms
from core.recording.rules import DAY_MS, RULES, RecordingRule
from core.store import schema
from core.store.collector_state import delete_state, get_state, put_state

log = logging.getLogger(__name__)

STATE = "recording"  # collector_state namespace: one row per rule, {"last_ts": epoch ms}
ORIGIN = "recording"
COARSE_STEP_MS = 5 * 60_000
CHUNK = 5_000  # samples per ingest batch, well under the batch limit


@dataclass(frozen=True)
class RuleRun:
    """What one evaluation of one rule did."""

    rule: str
    instants: int
    samples: int


def instants(after_ms: int, now: int, step_ms: int) -> np.ndarray:
    """The evaluation times in (after_ms, now]: step multiples, at a coarse step for those over a day old."""
    first = after_ms + 1
    fine_from = max(first, now - DAY_MS)
    coarse_step = max(step_ms, COARSE_STEP_MS)
    coarse = np.arange(-(-first // coarse_step) * coarse_step, fine_from, coarse_step, dtype=np.int64)
    fine = np.arange(-(-fine_from // step_ms) * step_ms, now + 1, step_ms, dtype=np.int64)
    return np.concatenate([coarse, fine])


def earliest_event_ms(engine: Engine, types: tuple[str, ...]) -> int | None:
    """When the first event a rule reads arrived; None when there is none yet."""
    with engine.connect() as connection:
        return connection.scalar(sa.select(sa.func.min(schema.events.c.ts)).where(schema.events.c.type.in_(types)))


def samples_of(rule: RecordingRule, rows: pl.DataFrame) -> list[Sample]:
    """The rule's result rows as gauge samples named after the rule.

    A value that is missing or not finite (a ratio over nothing) is no data: ingest refuses NaN and
    infinities, and one such row must not cost the rule its whole batch.
    """
    out = []
    for row in rows.filter(pl.col("value").is_finite()).iter_rows(named=True):
        labels = canonical_labels({k: row[k] for k in rule.labels if row[k] is not None})
        out.append(Sample(rule.name, labels, float(row["value"]), int(row["ts"]), "gauge"))
    return out


def run_rule(
    engine: Engine, rule: RecordingRule, settings: Settings, now: int, last_ts: int | None
) -> tuple[RuleRun, int | None]:
    """Evaluate one rule at its due instants and store the samples; returns the run and the new last instant.

    A rule that never ran starts at its first event (at most the back-fill ago), so a new install
    gets no made-up history of zeros, and a rule with no event at all writes nothing: its alert
    rules then see "no data", which is the truth.
    """
    oldest = now - int(settings.recording_backfill_s * 1000)
    if last_ts is None:
        first_event = earliest_event_ms(engine, rule.reads)
        if first_event is None:
            return RuleRun(rule.name, 0, 0), None
        last_ts = max(oldest, first_event - 1)
    at = instants(max(last_ts, oldest), now, rule.step_ms)
    if not at.size:
        return RuleRun(rule.name, 0, 0), last_ts
    since = int(at[0]) - rule.lookback_ms
    events = within(load_events(engine, rule.reads, since, now + 1, settings=settings), since, now + 1)
    rows = rule.evaluate(events, at)
    samples = samples_of(rule, rows)
    for start in range(0, len(samples), CHUNK):
        ingest(engine, Batch(samples=tuple(samples[start : start + CHUNK])), origin=ORIGIN, settings=settings)
    return RuleRun(rule.name, int(at.size), len(samples)), int(at[-1])


def evaluate_recording_rules(
    engine: Engine, settings: Settings | None = None, now: int | None = None, rules: tuple[RecordingRule, ...] = RULES
) -> list[RuleRun]:
    """The scheduler job: every rule catches up to ``now``; one failing rule does not stop the others."""
    settings = settings or get_settings()
    now = now_ms() if now is None else now
    runs = []
    for rule in rules:
        state = get_state(engine, STATE, rule.name) or {}
        try:
            run, last = run_rule(engine, rule, settings, now, state.get("last_ts"))
        except Exception:  # one bad rule must not silence the rest; logged with its name
            log.exception("recording rule %s failed", rule.name)
            continue
        if last is not None and last != state.get("last_ts"):
            put_state(engine, STATE, rule.name, {"last_ts": last})
        runs.append(run)
    return runs


def recompute_from_scratch(engine: Engine) -> None:
    """Forget how far every rule got, so the next run recomputes from the first event.

    For writers that add a block of history at once (the demo's back-fill, a bulk import):
    instants evaluated while that history was half written are recomputed and replaced.
    """
    delete_state(engine, STATE)
