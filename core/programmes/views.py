"""What the QSE page shows, computed in one call per view so the page only draws and a test can compare.

:func:`programme_view` answers the programme view for a range and filters (team, template, status
at the range's end); :func:`session_detail` answers one session. Both take the events
``core.kpis.records.load_events`` returned for ``[history_start(start, end), end)``: sessions that
began before the range, the previous period's figures and the week-on-week organisation score need
that much history.
"""

from __future__ import annotations

from dataclasses import dataclass

import polars as pl

from core.programmes.compliance import (
    QseRules,
    Summary,
    criteria,
    evidence_counts,
    recommendations,
    session_compliance,
    summary,
    trend,
    weakest,
)
from core.programmes.organisation import OrgKpis, organisation_kpis, team_comparison
from core.programmes.qse_events import TYPES, QseData
from core.programmes.sessions import STATUSES, SessionView, in_scope, session_table, session_view
from core.programmes.templates import customisation, effectiveness, phase_stats, suggestions

DAY_MS = 86_400_000
HISTORY_MS = 30 * DAY_MS
EVENT_TYPES = TYPES


def history_start(start_ms: int, end_ms: int) -> int:
    """Where the event load must begin: a whole previous period before the range, and at least 30 days."""
    return start_ms - max(end_ms - start_ms, HISTORY_MS)


def filter_options(events: pl.DataFrame) -> dict[str, list[str]]:
    """The values the team, template and status filters offer."""
    info = QseData.of(events).sessions
    return {
        "team": sorted(info["team"].drop_nulls().unique().to_list()),
        "template": sorted(info["template"].drop_nulls().unique().to_list()),
        "status": list(STATUSES),
    }


def tiles(table: pl.DataFrame, framework: str) -> pl.DataFrame:
    """One framework's criteria as status-grid tiles: name, status (band), note ("87.1 % · 4 ev"), detail."""
    score = (
        pl.when(pl.col("score").is_null())
        .then(pl.lit("—"))
        .otherwise(pl.format("{} %", (pl.col("score") * 100).round(1)))
    )
    return table.filter(pl.col("framework") == framework).select(
        pl.col("criterion").alias("name"),
        pl.col("band").alias("status"),
        pl.format("{} · {} ev", score, pl.col("records").fill_null(0)).alias("note"),
        pl.format(
            "scored by {} session(s); {} evidence record(s)", pl.col("sessions"), pl.col("records").fill_null(0)
        ).alias("detail"),
    )


@dataclass(frozen=True)
class ProgrammeView:
    """The programme view of one range and filter set."""

    kpis: OrgKpis
    previous: OrgKpis  # the same span just before, for the deltas
    sessions: pl.DataFrame
    summary: Summary
    criteria: pl.DataFrame  # 18 rows: scores, bands, trend, evidence counts
    weakest: pl.DataFrame
    recommendations: pl.DataFrame
    trend: pl.DataFrame
    templates: pl.DataFrame
    customisation: pl.DataFrame
    suggestions: pl.DataFrame
    teams: pl.DataFrame
    evidence: pl.DataFrame  # the sessions' evidence records, for the drill-down


def programme_view(
    events: pl.DataFrame,
    start_ms: int,
    end_ms: int,
    rules: QseRules,
    filters: dict[str, str] | None = None,
    step_ms: int | None = None,
) -> ProgrammeView:
    """Everything the programme view draws for [start, end) and ``filters``."""
    data = QseData.of(events, rules.weights)
    filters = {k: v for k, v in (filters or {}).items() if k in ("team", "template", "status") and v}
    ids = in_scope(data, start_ms, end_ms, filters)
    span = end_ms - start_ms
    assessed = data.assessments.filter(pl.col("session_id").is_in(ids))
    table = criteria(assessed, rules, end_ms)
    counts = evidence_counts(data.evidence, end_ms, ids)
    overall = summary(table, session_compliance(assessed, rules, end_ms), rules)
    templates = effectiveness(data, start_ms, end_ms, rules, filters)
    cells = customisation(data, start_ms, end_ms, filters)
    step = step_ms or max(span // 120, 60_000)
    return ProgrammeView(
        kpis=organisation_kpis(data, start_ms, end_ms, rules, filters),
        previous=organisation_kpis(data, start_ms - span, start_ms, rules, filters),
        sessions=session_table(data, ids, end_ms, rules),
        summary=overall,
        criteria=table.join(counts, on=["framework", "criterion"], how="left"),
        weakest=weakest(table),
        recommendations=recommendations(table, counts, rules),
        trend=trend(assessed, start_ms, end_ms, step),
        templates=templates,
        customisation=cells,
        suggestions=suggestions(templates, cells, phase_stats(data, start_ms, end_ms, filters), rules),
        teams=team_comparison(data, start_ms, end_ms, rules, filters),
        evidence=data.evidence.filter(pl.col("session_id").is_in(ids) & (pl.col("ts") < end_ms)).select(
            "session_id",
            "framework",
            "criterion",
            "artefact",
            (pl.col("score") * 100).round(1).alias("score"),
            "phase",
            pl.from_epoch("ts", time_unit="ms").dt.replace_time_zone("UTC").alias("recorded"),
        ),
    )


def session_detail(events: pl.DataFrame, session_id: str, end_ms: int, rules: QseRules) -> SessionView | None:
    """One session's detail at ``end_ms`` (None when no event names it)."""
    return session_view(QseData.of(events, rules.weights), session_id, end_ms, rules)
