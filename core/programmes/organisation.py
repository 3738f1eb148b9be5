"""The organisation's QSE figures: active sessions, adoption, average compliance, gate pass rate, teams side by side.

Adoption needs to know every team, not only those already using QSE: the qse_teams setting names
them; without it the teams seen in QSE events stand in, so adoption then says how many of the
teams that ever ran a session ran one in the range.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import polars as pl

from core.programmes.compliance import (
    QseRules,
    band,
    band_of,
    criteria,
    organisation_drop,
    session_compliance,
    summary,
)
from core.programmes.qse_events import QseData
from core.programmes.sessions import in_scope, matching, phases_at, status_at


@dataclass(frozen=True)
class OrgKpis:
    """The organisation's headline QSE figures for one range (percentages 0–100)."""

    sessions: int  # in the range
    active_sessions: int  # in progress at its end
    teams_using: int
    teams_known: int
    adoption_pct: float | None
    compliance_pct: float | None  # weights × framework means of the sessions' latest scores
    band: str
    gates: int  # evaluated in the range
    gate_pass_pct: float | None
    drop_points: float | None  # the 7-day organisation score against the 7 days before, at the end


def known_teams(data: QseData, rules: QseRules) -> list[str]:
    """The organisation's teams: the configured list, or every team seen in QSE events."""
    if rules.teams:
        return sorted(set(rules.teams))
    return sorted(t for t in data.sessions["team"].drop_nulls().unique().to_list())


def organisation_kpis(
    data: QseData, start_ms: int, end_ms: int, rules: QseRules, filters: dict[str, str] | None = None
) -> OrgKpis:
    """The headline figures of the sessions in [start, end) matching ``filters``."""
    ids = in_scope(data, start_ms, end_ms, filters)
    scope = data.sessions.filter(pl.col("session_id").is_in(ids)).with_columns(status_at(end_ms).alias("status"))
    active = scope.filter(pl.col("status") == "in_progress").height
    teams = known_teams(data, rules)
    using = scope["team"].drop_nulls().unique().to_list()
    assessed = data.assessments.filter(pl.col("session_id").is_in(ids))
    overall = summary(criteria(assessed, rules, end_ms), session_compliance(assessed, rules, end_ms), rules).overall
    gates = data.gates.filter(pl.col("session_id").is_in(ids) & (pl.col("ts") >= start_ms) & (pl.col("ts") < end_ms))
    passed = int(gates["passed"].sum())
    # the organisation's week against the week before, as the alert sees it: every matching session's assessments
    history = data.assessments.filter(pl.col("session_id").is_in(matching(data, filters)) & (pl.col("ts") < end_ms))
    drop = organisation_drop(history, np.array([end_ms - 1], dtype=np.int64))[0]
    return OrgKpis(
        sessions=scope.height,
        active_sessions=active,
        teams_using=len(using),
        teams_known=len(teams),
        adoption_pct=len(set(using) & set(teams)) / len(teams) * 100 if teams else None,
        compliance_pct=None if overall is None else overall * 100,
        band=band_of(overall, rules),
        gates=gates.height,
        gate_pass_pct=passed / gates.height * 100 if gates.height else None,
        drop_points=None if np.isnan(drop) else float(drop),
    )


def team_comparison(
    data: QseData, start_ms: int, end_ms: int, rules: QseRules, filters: dict[str, str] | None = None
) -> pl.DataFrame:
    """Teams side by side: sessions, active, compliance % and band, gate pass %, hours_vs_plan (mean of done phases)."""
    ids = in_scope(data, start_ms, end_ms, filters)
    scope = (
        data.sessions.filter(pl.col("session_id").is_in(ids))
        .with_columns(status_at(end_ms).alias("status"), pl.col("team").fill_null("(no team)"))
        .select("session_id", "team", "status")
    )
    compliance = session_compliance(data.assessments.filter(pl.col("session_id").is_in(ids)), rules, end_ms)
    gates = data.gates.filter((pl.col("ts") >= start_ms) & (pl.col("ts") < end_ms)).join(scope, on="session_id")
    phases = phases_at(data, end_ms).filter(pl.col("done")).join(scope, on="session_id")
    return (
        scope.group_by("team")
        .agg(pl.len().alias("sessions"), (pl.col("status") == "in_progress").sum().alias("active"))
        .join(
            scope.join(compliance, on="session_id").group_by("team").agg(pl.col("overall").mean().alias("overall")),
            on="team",
            how="left",
        )
        .join(gates.group_by("team").agg(pl.col("passed").mean().alias("gate_pass")), on="team", how="left")
        .join(phases.group_by("team").agg(pl.col("ratio").mean().alias("hours_vs_plan")), on="team", how="left")
        .select(
            "team",
            "sessions",
            pl.col("active").cast(pl.Int64),
            (pl.col("overall") * 100).round(1).alias("compliance_pct"),
            band(pl.col("overall"), rules).alias("band"),
            (pl.col("gate_pass") * 100).round(1).alias("gate_pass_pct"),
            pl.col("hours_vs_plan").round(2),
        )
        .sort("team")
    )
