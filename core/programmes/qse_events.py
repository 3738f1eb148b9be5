"""QSE events (docs/events.md, ``qse.*``) read into frames: the one place their data fields are parsed.

The compliance, session, template and organisation views and the QSE recording rules all start
here, so a figure on the QSE page and the alert on the same figure read the same fields the same
way: the overall score recomputed with the configured weights, a session's template and team
taken from whichever of its events carries them (evidence records carry neither).

Every function takes the event frame ``core.kpis.records.load_events`` returns (columns id,
type, ts, source, data) and ignores types it does not read, so one load serves them all.
"""

from __future__ import annotations

from dataclasses import dataclass

import polars as pl

from core.kpis.records import flag, iso_ms, number, text
from core.programmes.qse import COF_DIMENSIONS, COF_WEIGHT, UCL_LAWS, UCL_WEIGHT

SESSION_STARTED = "qse.session_started"
PHASE_STARTED = "qse.phase_started"
PHASE_COMPLETED = "qse.phase_completed"
DELIVERABLE = "qse.deliverable_completed"
GATE = "qse.gate_evaluated"
COMPLIANCE = "qse.compliance_scored"
EVIDENCE = "qse.evidence_recorded"
SESSION_COMPLETED = "qse.session_completed"
TYPES = (SESSION_STARTED, PHASE_STARTED, PHASE_COMPLETED, DELIVERABLE, GATE, COMPLIANCE, EVIDENCE, SESSION_COMPLETED)
HOUR_MS = 3_600_000
FRAMEWORKS = {"COF": COF_DIMENSIONS, "UCL": UCL_LAWS}
# the 18 criteria in the framework's order: the grid's tiles and every per-criterion table follow it
CRITERIA = pl.DataFrame(
    [(framework, name, n) for framework, names in FRAMEWORKS.items() for n, name in enumerate(names)],
    schema={"framework": pl.String, "criterion": pl.String, "order": pl.Int64},
    orient="row",
)
CANONICAL = {name.lower(): name for names in FRAMEWORKS.values() for name in names}


@dataclass(frozen=True)
class Weights:
    """How the COF and UCL means make the overall score (settings qse_cof_weight / qse_ucl_weight)."""

    cof: float = COF_WEIGHT
    ucl: float = UCL_WEIGHT

    def __post_init__(self) -> None:
        if abs(self.cof + self.ucl - 1.0) > 1e-9:
            raise ValueError(f"QSE weights must sum to 1, got COF {self.cof:g} + UCL {self.ucl:g}")


def _of(events: pl.DataFrame, *kinds: str) -> pl.DataFrame:
    return events.filter(pl.col("type").is_in(kinds)).with_columns(text("session_id").alias("session_id"))


def sessions(events: pl.DataFrame) -> pl.DataFrame:
    """One row per session: who and what it is, when it started and ended, the phases it planned.

    Columns: session_id, template, team, title, planned_phases (list, from ``qse.session_started``),
    first_ms (its first event of any type), started_ms, completed_ms, outcome (``completed`` /
    ``abandoned`` / null), duration_hours, planned_hours (both from ``qse.session_completed``).
    """
    read = (
        _of(events, *TYPES)
        .filter(pl.col("session_id").is_not_null())
        .sort("ts")
        .with_columns(text("template").alias("template"), text("team").alias("team"))
    )
    who = read.group_by("session_id").agg(
        pl.col("template").drop_nulls().first(),
        pl.col("team").drop_nulls().first(),
        pl.col("ts").min().alias("first_ms"),
    )
    started = (
        read.filter(pl.col("type") == SESSION_STARTED)
        .group_by("session_id")
        .agg(
            pl.col("ts").first().alias("started_ms"),
            text("title").first().alias("title"),
            text("phases").str.json_decode(pl.List(pl.String)).first().alias("planned_phases"),
        )
    )
    completed = (
        read.filter(pl.col("type") == SESSION_COMPLETED)
        .group_by("session_id")
        .agg(
            pl.col("ts").first().alias("completed_ms"),
            text("status").first().fill_null("completed").alias("outcome"),
            number("duration_hours").first().alias("duration_hours"),
            number("planned_hours").first().alias("planned_hours"),
        )
    )
    return (
        who.join(started, on="session_id", how="left")
        .join(completed, on="session_id", how="left")
        .with_columns(pl.coalesce("title", "session_id").alias("title"))
        .select(
            "session_id",
            "template",
            "team",
            "title",
            pl.col("planned_phases").cast(pl.List(pl.String)),
            "first_ms",
            "started_ms",
            "completed_ms",
            "outcome",
            "duration_hours",
            "planned_hours",
        )
        .sort("first_ms", "session_id")
    )


def phases(events: pl.DataFrame) -> pl.DataFrame:
    """One row per (session, phase): planned and actual start, end and hours, from its started/completed events.

    planned_hours falls back to planned_end − planned_start and actual_hours to actual_end −
    actual_start (or the events' times), so a producer that sends only the times still counts.
    """
    timing = [
        number("planned_hours").alias("planned_hours"),
        iso_ms(text("planned_start")).alias("planned_start_ms"),
        iso_ms(text("planned_end")).alias("planned_end_ms"),
        iso_ms(text("actual_start")).alias("actual_start_ms"),
    ]
    read = _of(events, PHASE_STARTED, PHASE_COMPLETED).with_columns(text("phase").alias("phase"), *timing)
    read = read.filter(pl.col("session_id").is_not_null() & pl.col("phase").is_not_null()).sort("ts")
    keys = ["session_id", "phase"]
    started = (
        read.filter(pl.col("type") == PHASE_STARTED)
        .group_by(keys)
        .agg(
            pl.col("ts").first().alias("started_ms"),
            *[pl.col(c).first() for c in ("planned_hours", "planned_start_ms", "planned_end_ms", "actual_start_ms")],
        )
    )
    completed = (
        read.filter(pl.col("type") == PHASE_COMPLETED)
        .with_columns(
            iso_ms(text("actual_end")).alias("actual_end_ms"),
            number("actual_hours").alias("actual_hours"),
            text("status").alias("status"),
        )
        .group_by(keys)
        .agg(
            pl.col("ts").first().alias("completed_ms"),
            *[
                pl.col(c).first().alias(f"{c}_done")
                for c in ("planned_hours", "planned_start_ms", "planned_end_ms", "actual_start_ms")
            ],
            pl.col("actual_end_ms").first(),
            pl.col("actual_hours").first(),
            pl.col("status").first(),
        )
    )
    both = started.join(completed, on=keys, how="full", coalesce=True)
    planned_span = (pl.col("planned_end_ms") - pl.col("planned_start_ms")) / HOUR_MS
    return (
        both.with_columns(
            *[
                pl.coalesce(c, f"{c}_done").alias(c)
                for c in ("planned_hours", "planned_start_ms", "planned_end_ms", "actual_start_ms")
            ]
        )
        .with_columns(
            pl.coalesce("planned_hours", planned_span).alias("planned_hours"),
            pl.coalesce("actual_start_ms", "started_ms").alias("actual_start_ms"),
            pl.coalesce("actual_end_ms", "completed_ms").alias("actual_end_ms"),
        )
        .with_columns(
            pl.coalesce("actual_hours", (pl.col("actual_end_ms") - pl.col("actual_start_ms")) / HOUR_MS).alias(
                "actual_hours"
            ),
            pl.coalesce("status", pl.when(pl.col("completed_ms").is_null()).then(pl.lit("in_progress"))).alias(
                "status"
            ),
        )
        .select(
            *keys,
            "started_ms",
            "completed_ms",
            "planned_start_ms",
            "planned_end_ms",
            "planned_hours",
            "actual_start_ms",
            "actual_end_ms",
            "actual_hours",
            "status",
        )
        .sort("session_id", pl.coalesce("actual_start_ms", "completed_ms"), "phase")
    )


def deliverables(events: pl.DataFrame) -> pl.DataFrame:
    """Completed deliverables: session_id, phase, deliverable, quality_score (0–1 or null), ts."""
    return (
        _of(events, DELIVERABLE)
        .select(
            "session_id",
            text("phase").alias("phase"),
            text("deliverable").alias("deliverable"),
            number("quality_score").alias("quality_score"),
            "ts",
        )
        .filter(pl.col("session_id").is_not_null())
        .sort("ts")
    )


def gates(events: pl.DataFrame) -> pl.DataFrame:
    """Gate evaluations: session_id, phase, gate, passed, score, ts (a gate may be evaluated again)."""
    return (
        _of(events, GATE)
        .select(
            "session_id",
            text("phase").alias("phase"),
            pl.coalesce(text("gate_name"), text("phase")).alias("gate"),
            flag("passed").alias("passed"),
            number("score").alias("score"),
            "ts",
        )
        .filter(pl.col("session_id").is_not_null() & pl.col("passed").is_not_null())
        .sort("ts")
    )


def _column(framework: str, name: str) -> str:
    return f"{framework}|{name}"


def assessments(events: pl.DataFrame, weights: Weights | None = None) -> pl.DataFrame:
    """One row per ``qse.compliance_scored``, the overall score recomputed with ``weights``.

    Columns: id, ts, session_id, template, team, phase, one ``COF|<dimension>`` / ``UCL|<law>``
    column per criterion (null when not scored), cof_mean, ucl_mean (over the scored ones; the
    event's cof_score / ucl_score when it sends no per-criterion map), cof_coverage, ucl_coverage
    and coverage (shares of the 13, 5 and 18 that were scored) and overall =
    weights.cof × cof_mean + weights.ucl × ucl_mean. A framework with no score at all counts 0, as
    at ingest (core.programmes.qse); an event with neither map nor means keeps its own
    overall_compliance.
    """
    weights = weights or Weights()
    read = _of(events, COMPLIANCE).filter(pl.col("session_id").is_not_null())
    maps = []
    for framework, names in FRAMEWORKS.items():
        shape = pl.Struct({name: pl.Float64 for name in names})
        field = text(f"{framework.lower()}_scores").str.json_decode(shape)
        maps += [field.struct.field(name).clip(0, 1).alias(_column(framework, name)) for name in names]
    read = read.with_columns(*maps)
    cof_cols = [_column("COF", n) for n in COF_DIMENSIONS]
    ucl_cols = [_column("UCL", n) for n in UCL_LAWS]

    def scored(columns: list[str]) -> pl.Expr:
        return pl.sum_horizontal(pl.col(c).is_not_null().cast(pl.Int64) for c in columns)

    cof_mean = pl.when(scored(cof_cols) > 0).then(pl.mean_horizontal(cof_cols)).otherwise(number("cof_score"))
    ucl_mean = pl.when(scored(ucl_cols) > 0).then(pl.mean_horizontal(ucl_cols)).otherwise(number("ucl_score"))
    cof_cov = pl.when(scored(cof_cols) > 0).then(scored(cof_cols) / len(cof_cols)).otherwise(number("cof_coverage"))
    ucl_cov = pl.when(scored(ucl_cols) > 0).then(scored(ucl_cols) / len(ucl_cols)).otherwise(number("ucl_coverage"))
    read = read.with_columns(
        cof_mean.alias("cof_mean"),
        ucl_mean.alias("ucl_mean"),
        cof_cov.fill_null(0.0).alias("cof_coverage"),
        ucl_cov.fill_null(0.0).alias("ucl_coverage"),
    )
    overall = (
        pl.when(pl.col("cof_mean").is_not_null() | pl.col("ucl_mean").is_not_null())
        .then(weights.cof * pl.col("cof_mean").fill_null(0.0) + weights.ucl * pl.col("ucl_mean").fill_null(0.0))
        .otherwise(number("overall_compliance"))
    )
    total = len(cof_cols) + len(ucl_cols)
    return (
        read.with_columns(
            overall.alias("overall"),
            ((pl.col("cof_coverage") * len(cof_cols) + pl.col("ucl_coverage") * len(ucl_cols)) / total).alias(
                "coverage"
            ),
            text("template").alias("template"),
            text("team").alias("team"),
            text("phase").alias("phase"),
        )
        .filter(pl.col("overall").is_not_null())
        .select(
            "id",
            "ts",
            "session_id",
            "template",
            "team",
            "phase",
            *cof_cols,
            *ucl_cols,
            "cof_mean",
            "ucl_mean",
            "cof_coverage",
            "ucl_coverage",
            "coverage",
            "overall",
        )
        .sort("ts", "id")
    )


def criterion_scores(assessed: pl.DataFrame) -> pl.DataFrame:
    """The per-criterion columns of :func:`assessments` as rows: id, ts, session_id, framework, criterion, score."""
    columns = [_column(f, n) for f, names in FRAMEWORKS.items() for n in names]
    if assessed.is_empty():
        return pl.DataFrame(
            schema={
                "id": pl.String,
                "ts": pl.Int64,
                "session_id": pl.String,
                "framework": pl.String,
                "criterion": pl.String,
                "score": pl.Float64,
            }
        )
    return (
        assessed.unpivot(columns, index=["id", "ts", "session_id"], variable_name="key", value_name="score")
        .with_columns(
            pl.col("key").str.split_exact("|", 1).struct.rename_fields(["framework", "criterion"]).alias("key")
        )
        .unnest("key")
        .select("id", "ts", "session_id", "framework", "criterion", "score")
    )


def evidence(events: pl.DataFrame) -> pl.DataFrame:
    """Evidence records: ts, session_id, framework, criterion (canonical spelling), artefact, score, phase, …"""
    return (
        _of(events, EVIDENCE)
        .with_columns(text("criterion").alias("criterion"))
        .select(
            "ts",
            "session_id",
            text("framework").str.to_uppercase().alias("framework"),
            pl.col("criterion")
            .str.to_lowercase()
            .replace_strict(CANONICAL, default=pl.col("criterion"), return_dtype=pl.String)
            .alias("criterion"),
            text("artefact").alias("artefact"),
            number("score").alias("score"),
            text("phase").alias("phase"),
            text("recorded_by").alias("recorded_by"),
            text("sha256").alias("sha256"),
            text("notes").alias("notes"),
            text("bundle_id").alias("bundle_id"),
            text("record_id").alias("record_id"),
        )
        .filter(pl.col("session_id").is_not_null())
        .sort("ts")
    )


@dataclass(frozen=True)
class QseData:
    """Every QSE frame, parsed once from one event load; views cut them at their own end time."""

    sessions: pl.DataFrame
    phases: pl.DataFrame
    deliverables: pl.DataFrame
    gates: pl.DataFrame
    assessments: pl.DataFrame
    evidence: pl.DataFrame

    @classmethod
    def of(cls, events: pl.DataFrame, weights: Weights | None = None) -> QseData:
        """Parse ``events`` (any types; the qse.* ones are read)."""
        return cls(
            sessions(events),
            phases(events),
            deliverables(events),
            gates(events),
            assessments(events, weights),
            evidence(events),
        )
