"""QSE constitutional compliance: per session and for the organisation, as pure functions over assessment frames.

A session's compliance is its latest ``qse.compliance_scored`` assessment (core.programmes.qse_events
recomputes its overall score with the configured weights); its trend is that assessment against the
one before. The organisation's score per criterion is the mean of the sessions' latest scores for
it, and its overall is the same weighted formula over those means, so one definition holds at both
scopes. Bands, weakest criteria, evidence counts and recommendations all read the thresholds from
:class:`QseRules` (the qse_* settings), so the page, its docs and the alerts agree.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import polars as pl

from core.config import Settings
from core.programmes.qse_events import CRITERIA, FRAMEWORKS, Weights, criterion_scores

DAY_MS = 86_400_000
ORG_WINDOW_MS = 7 * DAY_MS  # the organisation is assessed over a week of assessments, against the week before
COMPLIANT, WARNING, CRITICAL, NOT_ASSESSED = "compliant", "warning", "critical", "not assessed"
BANDS = (COMPLIANT, WARNING, CRITICAL, NOT_ASSESSED)


@dataclass(frozen=True)
class QseRules:
    """The QSE settings every view reads (core.config ``qse_*``; defaults are the QSE seed's)."""

    weights: Weights = field(default_factory=Weights)
    warning_below: float = 0.85
    critical_below: float = 0.75
    effective: float = 0.85
    excellent: float = 0.90
    min_uses: int = 5
    delay_multiplier: float = 1.5
    degradation_points: float = 5.0
    teams: tuple[str, ...] = ()

    @classmethod
    def of(cls, settings: Settings) -> QseRules:
        """The rules from the process settings (validated there: weights sum to 1, bands ordered)."""
        return cls(
            Weights(settings.qse_cof_weight, settings.qse_ucl_weight),
            settings.qse_warning_below,
            settings.qse_critical_below,
            settings.qse_template_effective,
            settings.qse_template_excellent,
            settings.qse_template_min_uses,
            settings.qse_delay_multiplier,
            settings.qse_degradation_points,
            tuple(settings.qse_teams),
        )


def band(score: pl.Expr, rules: QseRules) -> pl.Expr:
    """compliant / warning (below ``warning_below``) / critical (below ``critical_below``) / not assessed (null)."""
    return (
        pl.when(score.is_null())
        .then(pl.lit(NOT_ASSESSED))
        .when(score < rules.critical_below)
        .then(pl.lit(CRITICAL))
        .when(score < rules.warning_below)
        .then(pl.lit(WARNING))
        .otherwise(pl.lit(COMPLIANT))
    )


def band_of(score: float | None, rules: QseRules) -> str:
    """:func:`band` for one number."""
    if score is None:
        return NOT_ASSESSED
    return CRITICAL if score < rules.critical_below else WARNING if score < rules.warning_below else COMPLIANT


def before(frame: pl.DataFrame, end_ms: int) -> pl.DataFrame:
    """Rows with ts < end_ms: what was known at ``end_ms``."""
    return frame.filter(pl.col("ts") < end_ms)


def session_compliance(assessed: pl.DataFrame, rules: QseRules, end_ms: int) -> pl.DataFrame:
    """Per session, its latest assessment before ``end_ms`` and how it moved against the one before.

    Columns: session_id, assessed_ms, assessments, overall, cof_mean, ucl_mean, coverage,
    cof_coverage, ucl_coverage, previous, trend_points ((overall − previous) × 100; null for a first
    assessment), band, degraded (dropped by at least ``degradation_points``).
    """
    ranked = before(assessed, end_ms).sort("ts", "id")
    latest = ranked.group_by("session_id").agg(
        pl.col("ts").last().alias("assessed_ms"),
        pl.len().alias("assessments"),
        *[pl.col(c).last() for c in ("overall", "cof_mean", "ucl_mean", "coverage", "cof_coverage", "ucl_coverage")],
        pl.col("overall").shift(1).last().alias("previous"),
    )
    trend = (pl.col("overall") - pl.col("previous")) * 100
    return latest.with_columns(
        trend.alias("trend_points"),
        band(pl.col("overall"), rules).alias("band"),
        (trend <= -rules.degradation_points).fill_null(False).alias("degraded"),
    ).sort("session_id")


def criteria(
    assessed: pl.DataFrame, rules: QseRules, end_ms: int, session_ids: list[str] | None = None
) -> pl.DataFrame:
    """The 13 COF dimensions and 5 UCL laws, each scored as the mean of the sessions' latest scores for it.

    ``session_ids`` narrows to those sessions (one session: its own latest scores). Columns:
    framework, criterion, order, score (null when no session scored it), sessions (how many did),
    band, previous (the same over each session's assessment before its latest), trend_points.
    """
    scope = before(assessed, end_ms)
    if session_ids is not None:
        scope = scope.filter(pl.col("session_id").is_in(session_ids))
    ranked = scope.sort("ts", "id").with_columns(
        pl.int_range(pl.len(), 0, -1).over("session_id").alias("_age")  # 1 = latest, 2 = the one before
    )
    long = criterion_scores(ranked.filter(pl.col("_age") <= 2)).join(ranked.select("id", "_age"), on="id", how="left")
    per = long.group_by("framework", "criterion").agg(
        pl.col("score").filter(pl.col("_age") == 1).mean().alias("score"),
        pl.col("score").filter(pl.col("_age") == 1).count().alias("sessions"),
        pl.col("score").filter(pl.col("_age") == 2).mean().alias("previous"),
    )
    return (
        CRITERIA.join(per, on=["framework", "criterion"], how="left")
        .with_columns(
            pl.col("sessions").fill_null(0).cast(pl.Int64),
            band(pl.col("score"), rules).alias("band"),
            ((pl.col("score") - pl.col("previous")) * 100).alias("trend_points"),
        )
        .select("framework", "criterion", "order", "score", "sessions", "band", "previous", "trend_points")
        .sort(pl.col("framework") != "COF", "order")
    )


@dataclass(frozen=True)
class Summary:
    """One scope's compliance: overall (weights × framework means), the means, coverage and band."""

    overall: float | None
    cof: float | None
    ucl: float | None
    coverage: float | None
    band: str
    sessions: int


def summary(table: pl.DataFrame, sessions: pl.DataFrame, rules: QseRules) -> Summary:
    """The overall score of a :func:`criteria` table; coverage is the mean of the sessions' own coverage.

    A framework no session scored counts 0 in the overall, as an assessment without it does.
    """
    means = {f: table.filter(pl.col("framework") == f)["score"].drop_nulls().mean() for f in FRAMEWORKS}
    cof, ucl = (None if means[f] is None else float(means[f]) for f in FRAMEWORKS)  # type: ignore[arg-type]
    overall = (
        None if cof is None and ucl is None else rules.weights.cof * (cof or 0.0) + rules.weights.ucl * (ucl or 0.0)
    )
    coverage = sessions["coverage"].mean() if sessions.height else None
    return Summary(
        overall,
        cof,
        ucl,
        None if coverage is None else float(coverage),  # type: ignore[arg-type]
        band_of(overall, rules),
        sessions.height,
    )


def weakest(table: pl.DataFrame, n: int = 3) -> pl.DataFrame:
    """The ``n`` lowest-scored criteria of a :func:`criteria` table (unscored ones are coverage, not weakness)."""
    return table.filter(pl.col("score").is_not_null()).sort("score", "framework", "order").head(n)


def evidence_counts(evidence: pl.DataFrame, end_ms: int, session_ids: list[str] | None = None) -> pl.DataFrame:
    """Evidence records per criterion (all 18, zero where none): framework, criterion, records, mean_score."""
    scope = before(evidence, end_ms)
    if session_ids is not None:
        scope = scope.filter(pl.col("session_id").is_in(session_ids))
    per = scope.group_by("framework", "criterion").agg(
        pl.len().alias("records"), pl.col("score").mean().alias("mean_score")
    )
    return (
        CRITERIA.join(per, on=["framework", "criterion"], how="left")
        .with_columns(pl.col("records").fill_null(0).cast(pl.Int64))
        .select("framework", "criterion", "records", "mean_score")
    )


PRIORITY = {"high": 0, "medium": 1, "low": 2}


def recommendations(
    table: pl.DataFrame, counts: pl.DataFrame, rules: QseRules, *, trend_points: float | None = None, most: int = 8
) -> pl.DataFrame:
    """What to improve, most urgent first: columns priority, area, action, why.

    * a critical criterion (high) or one in the warning band (medium): raise it, naming its score
      and how much evidence backs it;
    * a criterion nobody scored (medium): assess it, since it lowers coverage;
    * a scored criterion with no evidence record (low): record evidence for it;
    * an overall drop of at least ``degradation_points`` against the previous assessment (high).
    """
    joined = table.join(counts, on=["framework", "criterion"], how="left")
    area = pl.format("{} · {}", pl.col("framework"), pl.col("criterion"))
    pct = (pl.col("score") * 100).round(1)
    low = joined.filter(pl.col("band").is_in([CRITICAL, WARNING])).select(
        pl.when(pl.col("band") == CRITICAL).then(pl.lit("high")).otherwise(pl.lit("medium")).alias("priority"),
        area.alias("area"),
        pl.format("Raise {} (at {} %)", pl.col("criterion"), pct).alias("action"),
        pl.format("{} band · {} evidence record(s)", pl.col("band"), pl.col("records").fill_null(0)).alias("why"),
        pl.col("score"),
    )
    unscored = joined.filter(pl.col("score").is_null()).select(
        pl.lit("medium").alias("priority"),
        area.alias("area"),
        pl.format("Assess {}", pl.col("criterion")).alias("action"),
        pl.lit("not scored in the latest assessment: it lowers coverage").alias("why"),
        pl.lit(None, pl.Float64).alias("score"),
    )
    unproven = joined.filter(pl.col("score").is_not_null() & (pl.col("records").fill_null(0) == 0)).select(
        pl.lit("low").alias("priority"),
        area.alias("area"),
        pl.format("Record evidence for {}", pl.col("criterion")).alias("action"),
        pl.format("scored {} % with no evidence record behind it", pct).alias("why"),
        pl.col("score"),
    )
    parts = [low, unscored, unproven]
    if trend_points is not None and trend_points <= -rules.degradation_points:
        parts.insert(
            0,
            pl.DataFrame(
                {
                    "priority": ["high"],
                    "area": ["Overall"],
                    "action": ["Find what changed since the previous assessment"],
                    "why": [f"overall compliance dropped {abs(trend_points):.1f} points"],
                    "score": [None],
                },
                schema={
                    "priority": pl.String,
                    "area": pl.String,
                    "action": pl.String,
                    "why": pl.String,
                    "score": pl.Float64,
                },
            ),
        )
    return (
        pl.concat(parts)
        .with_columns(pl.col("priority").replace_strict(PRIORITY, return_dtype=pl.Int64).alias("_rank"))
        .sort("_rank", pl.col("score").fill_null(-1.0), maintain_order=True)
        .head(most)
        .select("priority", "area", "action", "why")
    )


def organisation_score(assessed: pl.DataFrame, at: np.ndarray, window_ms: int = ORG_WINDOW_MS) -> np.ndarray:
    """The organisation's assessment at each instant: the mean overall of every assessment in (t − window, t].

    NaN where the window holds none.
    """
    ts = assessed["ts"].to_numpy()
    order = np.argsort(ts, kind="stable")
    ts, values = ts[order], assessed["overall"].to_numpy()[order].astype(np.float64)
    lo, hi = np.searchsorted(ts, at - window_ms, "right"), np.searchsorted(ts, at, "right")
    sums = np.concatenate([[0.0], np.cumsum(values)])
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(hi > lo, (sums[hi] - sums[lo]) / np.maximum(hi - lo, 1), np.nan)


def organisation_drop(assessed: pl.DataFrame, at: np.ndarray, window_ms: int = ORG_WINDOW_MS) -> np.ndarray:
    """Points the organisation's assessment at each instant is below the one a window earlier (0 when at or above,
    or when there was none before: nothing to have dropped from); NaN without a current assessment."""
    now, then = organisation_score(assessed, at, window_ms), organisation_score(assessed, at - window_ms, window_ms)
    return np.where(np.isnan(now), np.nan, np.where(np.isnan(then), 0.0, np.maximum(then - now, 0.0) * 100))


def trend(assessed: pl.DataFrame, start_ms: int, end_ms: int, step_ms: int, *, by: str = "template") -> pl.DataFrame:
    """The organisation's (7-day) compliance at each step of the range, and the same per ``by`` value.

    Long frame for a trend chart: ts (Datetime UTC), series, value (percent). A week's window keeps
    the line steady however short the range, since assessments come a few a day.
    """
    at = np.arange(start_ms - start_ms % step_ms + step_ms, end_ms + 1, step_ms, dtype=np.int64)
    if not at.size:
        at = np.array([end_ms], dtype=np.int64)
    scope = before(assessed, end_ms + 1)
    parts = [("organisation", scope)] + [
        (str(key), group) for (key,), group in scope.filter(pl.col(by).is_not_null()).group_by(by)
    ]
    frames = [
        pl.DataFrame({"ts": at, "value": organisation_score(group, at) * 100}).with_columns(
            pl.lit(name).alias("series")
        )
        for name, group in parts
        if group.height
    ]
    if not frames:
        return pl.DataFrame(schema={"ts": pl.Datetime("ms", "UTC"), "series": pl.String, "value": pl.Float64})
    return (
        pl.concat(frames)
        .filter(pl.col("value").is_not_nan())
        .select(pl.from_epoch("ts", time_unit="ms").dt.replace_time_zone("UTC").alias("ts"), "series", "value")
        .sort("series", "ts")
    )
