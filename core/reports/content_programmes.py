"""QSE compliance and Migration report contents, from the functions behind the QSE and Migration pages.

QSE: core.programmes.views.programme_view (organisation KPIs, COF/UCL summary, criteria, weakest criteria,
recommendations, trend, templates, teams). Migration: core.programmes.migration_store.load_view (health and its
findings, progress, ETA against the plan, batches, phases, blockers, rollbacks, issues, old-vs-new performance,
test suites), the same view ``python -m core.cli stats`` prints.
"""

from __future__ import annotations

from collections.abc import Mapping

import polars as pl
from sqlalchemy.engine import Engine

from core.config import Settings
from core.kpis.records import load_events, within
from core.programmes.compliance import QseRules
from core.programmes.migration_plan import PlanError, load_plan
from core.programmes.migration_store import load_view
from core.programmes.views import EVENT_TYPES, history_start, programme_view
from core.reports.charts import bars, lines
from core.reports.model import Figure, Section, num, pct, stamp


def _table(frame: pl.DataFrame, columns: list[str]) -> pl.DataFrame | None:
    if frame.is_empty():
        return None
    keep = [c for c in columns if c in frame.columns]
    times = [c for c in keep if (c == "ts" or c.endswith("_ms")) and frame.schema[c].is_integer()]
    names = {c: "when" if c == "ts" else c.removesuffix("_ms") for c in times}
    return (
        frame.select(keep)
        .with_columns(pl.col(pl.Float64).round(1))
        .with_columns(pl.from_epoch(c, time_unit="ms") for c in times)
        .rename(names)
    )


def qse(
    engine: Engine, settings: Settings, start_ms: int, end_ms: int, filters: Mapping[str, str]
) -> tuple[list[Section], bool]:
    """Sections of the QSE compliance report and whether the period had any QSE session."""
    rules = QseRules.of(settings)
    first = history_start(start_ms, end_ms)
    events = within(load_events(engine, EVENT_TYPES, first, end_ms), first, end_ms)
    view = programme_view(events, start_ms, end_ms, rules, dict(filters), max((end_ms - start_ms) // 90, 60_000))
    k, s = view.kpis, view.summary
    has_data = k.sessions > 0 or s.sessions > 0
    summary = Section(
        "Compliance summary",
        figures=(
            Figure("Overall compliance", k.compliance_pct, pct(k.compliance_pct), k.band),
            Figure("COF", None if s.cof is None else s.cof * 100, pct(None if s.cof is None else s.cof * 100)),
            Figure("UCL", None if s.ucl is None else s.ucl * 100, pct(None if s.ucl is None else s.ucl * 100)),
            Figure("Sessions", k.sessions, f"{k.sessions:,}", f"{k.active_sessions} active at the end"),
            Figure("Adoption", k.adoption_pct, pct(k.adoption_pct), f"{k.teams_using} of {k.teams_known} teams"),
            Figure("Gate pass rate", k.gate_pass_pct, pct(k.gate_pass_pct), f"{k.gates} gates"),
        )
        if has_data
        else (),
    )
    criteria = (
        view.criteria.with_columns((pl.col("score") * 100).round(1).alias("score %"))
        if "score" in view.criteria.columns
        else view.criteria
    )
    return [
        summary,
        Section(
            "Compliance trend",
            chart=lines(view.trend, "ts", "value", "series", "%") if view.trend.height and has_data else None,
        ),
        Section(
            "Criteria (COF / UCL)",
            table=_table(criteria, ["framework", "criterion", "score %", "band", "sessions", "records"])
            if has_data
            else None,
        ),
        Section(
            "Weakest criteria",
            table=_table(view.weakest, ["framework", "criterion", "score", "band", "previous", "trend_points"])
            if has_data
            else None,
        ),
        Section(
            "Recommendations",
            table=_table(view.recommendations, list(view.recommendations.columns)) if has_data else None,
            empty="No recommendation.",
        ),
        Section(
            "Sessions",
            table=_table(
                view.sessions, ["session", "template", "team", "status", "phase", "progress", "compliance", "band"]
            )
            if has_data
            else None,
        ),
        Section(
            "Template effectiveness",
            table=_table(
                view.templates,
                ["template", "uses", "finished", "hours_vs_plan", "success_pct", "compliance_pct", "rating"],
            )
            if has_data
            else None,
        ),
        Section("Teams", table=_table(view.teams, list(view.teams.columns)) if has_data else None),
    ], has_data


def migration(engine: Engine, settings: Settings, start_ms: int, end_ms: int) -> tuple[list[Section], bool]:
    """Sections of the Migration report and whether the period had migration data."""
    notes: list[str] = []
    try:
        plan = load_plan(settings.migration_plan_file)
        plan_file = str(settings.migration_plan_file) if plan is not None else None
    except PlanError as error:  # the report still works from events, as the page does
        plan, plan_file = None, None
        notes.append(f"Plan not used: {error}")
    view = load_view(engine, start_ms=start_ms, end_ms=end_ms, plan=plan, plan_file=plan_file, settings=settings)
    if not view.has_data:
        return [Section("Health", notes=tuple(notes), empty="No migration data in this period.")], False
    b = view.batches
    health = Section(
        "Health",
        figures=(
            Figure("Health", view.health, view.health.upper()),
            Figure("Progress", view.progress_pct, pct(view.progress_pct)),
            Figure(
                "Estimated end",
                view.eta_ms,
                "—" if view.eta_ms is None else stamp(view.eta_ms, "%Y-%m-%d"),
                "" if view.slip_days is None else f"{view.slip_days:+.1f} days vs plan",
            ),
            Figure(
                "Success rate",
                b["success_rate_pct"],
                num(b["success_rate_pct"], "{:.2f}", " %"),
                f"{b['batches']:,} batches",
            ),
            Figure("Rollbacks", view.rollbacks.height, str(view.rollbacks.height)),
            Figure("Blockers", view.blockers.height, str(view.blockers.height)),
            Figure(
                "Performance Δ",
                view.perf_delta_pct,
                num(view.perf_delta_pct, "{:+.1f}", " %"),
                f"{view.regressions} regression(s)",
            ),
        ),
        notes=tuple([*(f"{f.level}: {f.message}" for f in view.findings), *notes]),
    )
    phases = view.phases
    return [
        health,
        Section(
            "Phases",
            table=_table(phases, ["name", "status", "progress", "delay_days"]),
            chart=bars(phases, "name", "progress", "progress %", "status") if phases.height else None,
        ),
        Section("Blockers", table=_table(view.blockers, list(view.blockers.columns)), empty="No blocker."),
        Section("Rollbacks", table=_table(view.rollbacks, list(view.rollbacks.columns)), empty="No rollback."),
        Section(
            "Issues",
            table=_table(view.issues, ["issue_id", "severity", "state", "component", "title", "age_h", "impact"]),
            empty="No issue.",
        ),
        Section(
            "Old vs new performance",
            table=_table(
                view.performance,
                ["operation", "source", "old_n", "new_n", "old_p50", "new_p50", "delta_p50_pct", "verdict"],
            ),
        ),
        Section("Test suites", table=_table(view.suites, ["suite", "pass_pct", "failed", "tests", "time_s", "status"])),
    ], True
