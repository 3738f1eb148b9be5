"""Completion ETAs with intervals: QSE sessions, the migration (overall and per phase), review backlogs.

Each answer is an :class:`Eta`: the median estimate with the 80 % interval around it, the plan it is held
against, and ``late`` when the estimate passes the plan. How each is estimated, and why:

* **Migration** (``migration.phase_*`` events and the plan, docs/migration.md): exactly the Migration page's
  estimate — core.programmes.migration.schedule, each running phase at its pace so far, a phase not started
  after its dependencies — so the two pages show one date, with the schedule's 80 % interval (how steady
  each running phase's daily progress has been, core.programmes.migration_pace). A rule, not a fit: it is
  computed when the page draws (it is cheap) rather than stored by the job.
* **QSE sessions** (``qse.*``): a session reports a handful of phase events over a few days — too few
  points for any curve. Its remaining planned hours (phases not done, a running phase less its elapsed
  share; a phase that has not started yet is planned at the median of the same phase in the same
  template) are scaled by how long completed sessions took for their plan (``duration_hours ÷
  planned_hours`` of the last 90 days, gaps between phases included: median and the 10th–90th
  percentiles). The plan is the newest phase's ``planned_end`` plus the planned hours after it.
* **Review backlogs** (``qms_queue_depth``): from the stored 24 h capacity forecast of each queue, when
  the forecast returns to the queue's usual level (the median of its history); no plan, so never late.

Pure functions over event frames, the migration schedule and stored forecasts; the job (core.forecasting.job)
reads the events.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import polars as pl

from core.analytics.forecast import Forecast, crossing
from core.kpis.records import fields, iso_ms
from core.programmes.migration import Schedule

DAY_MS = 86_400_000
HOUR_MS = 3_600_000
MIN_SESSIONS = 3  # completed sessions needed before their pace says anything about an open one


@dataclass(frozen=True)
class Eta:
    """When something will be done: median estimate, 80 % interval, plan, and why there is none."""

    kind: str  # "migration", "migration phase", "qse session", "backlog"
    name: str
    progress: float | None  # percent done now
    eta_ms: int | None
    low_ms: int | None
    high_ms: int | None
    planned_ms: int | None
    method: str
    message: str = ""
    fitted_ms: int | None = None

    @property
    def late(self) -> bool:
        """The estimate (or, without one, the end of what was forecast) passes the plan."""
        return self.planned_ms is not None and self.eta_ms is not None and self.eta_ms > self.planned_ms

    def to_json(self) -> dict[str, Any]:
        return dict(self.__dict__)

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Eta:
        known = {k: data.get(k) for k in cls.__dataclass_fields__}
        return cls(**known)  # type: ignore[arg-type]


# --- the migration --------------------------------------------------------------------------------

MIGRATION_METHOD = (
    "each phase at its pace so far, after its dependencies (the Migration page's forecast); interval: the 10th–90th "
    "percentile of recent daily progress"
)


def migration_etas(plan_state: Schedule) -> list[Eta]:
    """The whole migration, then each phase in progress or blocked, from the Migration page's schedule.

    ``plan_state`` is core.programmes.migration.schedule's answer (core.programmes.migration_store.load_schedule
    reads it): the estimated completion is its latest phase forecast end and a phase's ETA its forecast end,
    so this page and the Migration page cannot disagree. The interval is the schedule's too (``eta_low_ms``,
    ``eta_high_ms``; a phase's ``forecast_low_ms``, ``forecast_high_ms``); a high of ``None`` beside a low is "no upper
    bound", and when there is no interval ``message`` says why.
    """
    table = plan_state.phases
    if table.is_empty():
        return []
    done = plan_state.done
    out = [
        Eta(
            "migration",
            "Migration (all phases)",
            plan_state.progress_pct,
            plan_state.eta_ms,
            plan_state.eta_low_ms,
            plan_state.eta_high_ms,
            plan_state.planned_end_ms,
            MIGRATION_METHOD,
            "done" if done else "" if plan_state.eta_low_ms is not None else plan_state.eta_interval,
        )
    ]
    running = table.filter(pl.col("status").is_in(["in_progress", "blocked"]))
    for name, progress, end, low, high, planned in running.select(
        "name", "progress", "forecast_end_ms", "forecast_low_ms", "forecast_high_ms", "planned_end_ms"
    ).iter_rows():
        why = "" if low is not None else plan_state.eta_interval
        out.append(Eta("migration phase", str(name), progress, end, low, high, planned, MIGRATION_METHOD, why))
    return out


# --- QSE sessions ---------------------------------------------------------------------------------------------


def session_pace(events: pl.DataFrame) -> np.ndarray:
    """duration_hours ÷ planned_hours of every completed session in ``events``."""
    done = fields(
        events.filter(pl.col("type") == "qse.session_completed"),
        texts={"status": "status"},
        numbers={"duration": "duration_hours", "planned": "planned_hours"},
    ).filter((pl.col("status") == "completed") & (pl.col("planned") > 0) & (pl.col("duration") > 0))
    return (done["duration"] / done["planned"]).to_numpy()


@dataclass(frozen=True)
class _Plan:
    """One open session's plan as far as its events tell: planned hours per phase, done, and the planned end."""

    total_h: float
    done_h: float
    planned_end_ms: int


def _session_plan(
    phases: list[str],
    began: pl.DataFrame,
    finished: set[str],
    usual: dict[str, float],
    fallback: float,
    start: int,
    now: int,
) -> _Plan:
    """Planned hours per phase (as started, else the template's median for that phase), the hours done (a
    running phase counts its elapsed share, at most 90 %) and the planned end (the newest started phase's
    planned end plus the phases after it)."""
    known = dict(zip(began["phase"].to_list(), began["planned"].to_list(), strict=True))
    names = phases or list(known)
    planned = {p: float(known.get(p) or usual.get(p) or fallback) for p in names}
    done = sum(h for p, h in planned.items() if p in finished)
    for phase, at in began.filter(~pl.col("phase").is_in(list(finished))).select("phase", "ts").iter_rows():
        hours = planned.get(phase, fallback)
        done += min((now - at) / HOUR_MS / max(hours, 1e-9), 0.9) * hours
    total = sum(planned.values()) or 1.0
    if began.is_empty() or began["planned_end_ms"].max() is None:
        return _Plan(total, done, int(start + total * HOUR_MS))
    newest = began.sort("ts").row(-1, named=True)
    after = names[names.index(newest["phase"]) + 1 :] if newest["phase"] in names else []
    return _Plan(total, done, int(newest["planned_end_ms"] + sum(planned[p] for p in after) * HOUR_MS))


def qse_etas(events: pl.DataFrame, now_ms: int) -> list[Eta]:
    """An ETA for each open QSE session (started, not completed) in ``events``.

    A loop over open sessions (a handful at a time), each reading its own few phase rows.
    """
    method = "remaining planned hours × completed sessions' pace"
    ident = {"sid": "session_id", "template": "template", "phase": "phase"}
    started = fields(events.filter(pl.col("type") == "qse.session_started"), texts=ident).with_columns(
        phases=pl.col("data").str.json_path_match("$.phases").str.json_decode(pl.List(pl.String))
    )
    closed = fields(events.filter(pl.col("type") == "qse.session_completed"), texts=ident)["sid"]
    open_sessions = started.filter(pl.col("sid").is_not_null() & ~pl.col("sid").is_in(closed.to_list()))
    if open_sessions.is_empty():
        return []
    pace = session_pace(events)
    rows = fields(
        events.filter(pl.col("type").is_in(["qse.phase_started", "qse.phase_completed"])),
        texts=ident | {"pe": "planned_end"},
        numbers={"planned": "planned_hours"},
    ).with_columns(planned_end_ms=iso_ms(pl.col("pe")))
    starts = rows.filter(pl.col("type") == "qse.phase_started")
    typical = starts.group_by("template", "phase").agg(pl.col("planned").median())
    fallback = float(starts["planned"].median() or 8.0)  # type: ignore[arg-type]
    quantiles = np.quantile(pace, [0.1, 0.5, 0.9]) if len(pace) >= MIN_SESSIONS else None
    out = []
    for sid, template, start, phases in open_sessions.select("sid", "template", "ts", "phases").iter_rows():
        mine = rows.filter(pl.col("sid") == sid)
        began = mine.filter(pl.col("type") == "qse.phase_started").sort("ts").unique("phase", keep="last")
        finished = set(mine.filter(pl.col("type") == "qse.phase_completed")["phase"].to_list())
        usual = dict(typical.filter(pl.col("template") == template).select("phase", "planned").iter_rows())
        plan = _session_plan(list(phases or []), began, finished, usual, fallback, start, now_ms)
        name, progress = f"{sid} ({template})", 100.0 * plan.done_h / plan.total_h
        if quantiles is None:
            message = f"need at least {MIN_SESSIONS} completed sessions to estimate a pace (have {len(pace)})"
            out.append(Eta("qse session", name, progress, None, None, None, plan.planned_end_ms, method, message))
            continue
        # what is left, at the pace of completed sessions (wall-clock hours per planned hour)
        at = [int(now_ms + (plan.total_h - plan.done_h) * HOUR_MS * r) for r in quantiles]
        out.append(Eta("qse session", name, progress, at[1], at[0], at[2], plan.planned_end_ms, method))
    return out


# --- review backlogs ------------------------------------------------------------------------------------------


def backlog_eta(summary: dict[str, Any], fitted_ms: int | None = None) -> Eta:
    """When a queue's stored 24 h forecast returns to its usual level (median of its history)."""
    name = summary.get("instance") or summary.get("series", "queue")
    method = "24 h forecast back to the queue's median"
    history = summary.get("history", {}).get("value", [])
    latest = summary.get("latest")
    stored = Forecast.from_json(summary.get("forecast", {"status": "insufficient"}))
    if not stored.ok or not history or latest is None:
        message = stored.message or "no forecast yet"
        return Eta("backlog", str(name), None, None, None, None, None, method, message, fitted_ms)
    usual = float(np.median(history))
    name = f"{name} ({latest:.0f} now, usual {usual:.0f})"
    if latest <= usual + 0.5:
        return Eta("backlog", name, None, None, None, None, None, method, "no backlog", fitted_ms)
    found = crossing(stored, usual + 0.5, "<=")
    message = "" if found.when_ms is not None else "above usual for 24 h"
    return Eta(
        "backlog", name, None, found.when_ms, found.earliest_ms, found.latest_ms, None, method, message, fitted_ms
    )
