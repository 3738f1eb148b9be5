"""QSE template effectiveness, how teams customise templates, and what to change in them.

A template's *uses* are its sessions that started in the range. Effectiveness is the plain mean
of four 0–1 figures over those uses, so each can be read off the table and checked:

* success rate — finished sessions that completed (not abandoned) with no gate failing at the end;
* schedule adherence — per finished session min(1, planned ÷ actual work hours), averaged;
* deliverable quality — mean ``quality_score`` of their deliverables;
* compliance — mean of their latest overall compliance.

A template is judged (excellent / effective / needs work) only with at least ``min_uses`` uses;
below that it is "too few uses", whatever its score. Customisation compares each session's
planned phases with the template's own list: the phases more than half of its sessions plan.
"""

from __future__ import annotations

import polars as pl

from core.programmes.compliance import QseRules, session_compliance
from core.programmes.qse_events import QseData
from core.programmes.sessions import failing_gates, in_scope, phases_at

EXCELLENT, EFFECTIVE, NEEDS_WORK, TOO_FEW = "excellent", "effective", "needs work", "too few uses"
RATINGS = (EXCELLENT, EFFECTIVE, NEEDS_WORK, TOO_FEW)
CHANGED_SHARE = 0.25  # a phase changed by at least this share of a template's sessions is worth a suggestion
SLOW_PHASE = 1.25  # a phase whose mean actual ÷ planned hours reaches this is worth re-planning
FAILING_GATE = 0.25  # a gate failing this share of its evaluations needs better guidance


def started_in(data: QseData, start_ms: int, end_ms: int, filters: dict[str, str] | None = None) -> pl.DataFrame:
    """Sessions that started in [start, end) (their start event, else their first) and match ``filters``."""
    first = pl.coalesce("started_ms", "first_ms")
    ids = in_scope(data, start_ms, end_ms, filters)
    return data.sessions.filter((first >= start_ms) & (first < end_ms) & pl.col("session_id").is_in(ids))


def effectiveness(
    data: QseData, start_ms: int, end_ms: int, rules: QseRules, filters: dict[str, str] | None = None
) -> pl.DataFrame:
    """Per template: uses and their trend, hours vs plan, success, quality, compliance, effectiveness, rating.

    Columns: template, uses, previous_uses (the same span before), usage_trend (uses − previous),
    finished, actual_hours / planned_hours (mean work hours per finished session), hours_vs_plan,
    success_pct, schedule_pct, quality_pct, compliance_pct, effectiveness_pct, judged, rating.
    """
    uses = started_in(data, start_ms, end_ms, filters)
    span = end_ms - start_ms
    previous = started_in(data, start_ms - span, start_ms, filters)
    used = uses["session_id"].to_list()
    finished = uses.filter(pl.col("completed_ms").is_not_null() & (pl.col("completed_ms") < end_ms)).select(
        "session_id", "template", "outcome"
    )  # work hours come from the phases below, not from the completion event's calendar duration
    hours = (
        phases_at(data, end_ms)
        .filter(pl.col("session_id").is_in(finished["session_id"].implode()) & pl.col("done"))
        .group_by("session_id")
        .agg(pl.col("actual_hours").sum(), pl.col("planned_hours").sum())
    )
    failing = failing_gates(data, end_ms).select("session_id").unique().with_columns(pl.lit(True).alias("failing"))
    per_session = (
        finished.join(hours, on="session_id", how="left")
        .join(failing, on="session_id", how="left")
        .select(
            "session_id",
            "template",
            ((pl.col("outcome") == "completed") & pl.col("failing").is_null()).cast(pl.Float64).alias("success"),
            pl.when(pl.col("actual_hours") > 0)
            .then(pl.min_horizontal(pl.lit(1.0), pl.col("planned_hours") / pl.col("actual_hours")))
            .alias("schedule"),
            "actual_hours",
            "planned_hours",
        )
    )
    quality = (
        data.deliverables.filter(pl.col("session_id").is_in(used) & (pl.col("ts") < end_ms))
        .join(uses.select("session_id", "template"), on="session_id")
        .group_by("template")
        .agg(pl.col("quality_score").mean().alias("quality"))
    )
    compliance = (
        session_compliance(data.assessments.filter(pl.col("session_id").is_in(used)), rules, end_ms)
        .join(uses.select("session_id", "template"), on="session_id")
        .group_by("template")
        .agg(pl.col("overall").mean().alias("compliance"))
    )
    outcome = per_session.group_by("template").agg(
        pl.len().alias("finished"),
        pl.col("success").mean(),
        pl.col("schedule").mean(),
        pl.col("actual_hours").mean(),
        pl.col("planned_hours").mean(),
    )
    counts = uses.group_by("template").agg(pl.len().alias("uses"))
    before_counts = previous.group_by("template").agg(pl.len().alias("previous_uses"))
    parts = ["success", "schedule", "quality", "compliance"]
    score = pl.mean_horizontal(parts)  # the mean of the figures that exist
    rating = (
        pl.when(pl.col("uses") < rules.min_uses)
        .then(pl.lit(TOO_FEW))
        .when(pl.col("effectiveness") >= rules.excellent)
        .then(pl.lit(EXCELLENT))
        .when(pl.col("effectiveness") >= rules.effective)
        .then(pl.lit(EFFECTIVE))
        .otherwise(pl.lit(NEEDS_WORK))
    )
    table = (
        counts.join(before_counts, on="template", how="left")
        .join(outcome, on="template", how="left")
        .join(quality, on="template", how="left")
        .join(compliance, on="template", how="left")
        .with_columns(
            pl.col("previous_uses").fill_null(0).cast(pl.Int64),
            pl.col("finished").fill_null(0).cast(pl.Int64),
            score.alias("effectiveness"),
        )
        .with_columns(
            (pl.col("uses") - pl.col("previous_uses")).alias("usage_trend"),
            (pl.col("actual_hours") / pl.col("planned_hours")).round(2).alias("hours_vs_plan"),
            (pl.col("uses") >= rules.min_uses).alias("judged"),
            rating.alias("rating"),
            *[(pl.col(c) * 100).round(1).alias(f"{c}_pct") for c in [*parts, "effectiveness"]],
        )
        .with_columns(pl.col("actual_hours").round(1), pl.col("planned_hours").round(1))
    )
    return table.select(
        "template",
        "uses",
        "previous_uses",
        "usage_trend",
        "finished",
        "actual_hours",
        "planned_hours",
        "hours_vs_plan",
        "success_pct",
        "schedule_pct",
        "quality_pct",
        "compliance_pct",
        "effectiveness_pct",
        "judged",
        "rating",
    ).sort("template")


def reference_phases(data: QseData) -> pl.DataFrame:
    """Each template's own phase list: the phases more than half of its sessions plan, in their usual order.

    Events carry no template definition, so the template is what most of its sessions do; a phase
    a minority adds or skips is then a customisation, however few sessions there are.
    """
    plans = data.sessions.filter(pl.col("planned_phases").is_not_null() & pl.col("template").is_not_null())
    sessions = plans.group_by("template").agg(pl.len().alias("n"))
    return (
        plans.select("template", "session_id", pl.col("planned_phases").alias("phase"))
        .explode("phase")
        .with_columns(pl.int_range(pl.len()).over("session_id").alias("position"))
        .group_by("template", "phase")
        .agg(pl.col("session_id").n_unique().alias("with"), pl.col("position").mean())
        .join(sessions, on="template")
        .filter(pl.col("with") * 2 > pl.col("n"))
        .sort("template", "position", "phase")
        .group_by("template", maintain_order=True)
        .agg(pl.col("phase").alias("reference"))
    )


def customisation(data: QseData, start_ms: int, end_ms: int, filters: dict[str, str] | None = None) -> pl.DataFrame:
    """Which phases teams change: per template and phase, the share of its sessions (in the range) that did.

    Columns: template, phase (an added phase is written ``+ name``), change (kept / skipped /
    added), sessions (that changed it), share_pct (of the template's sessions with a plan), order.
    Every phase of the template's own list has a row (0 % when nobody changed it).
    """
    uses = started_in(data, start_ms, end_ms, filters).filter(pl.col("planned_phases").is_not_null())
    ref = reference_phases(data)
    if uses.is_empty() or ref.is_empty():
        return pl.DataFrame(
            schema={
                "template": pl.String,
                "phase": pl.String,
                "change": pl.String,
                "sessions": pl.Int64,
                "share_pct": pl.Float64,
                "order": pl.Int64,
            }
        )
    joined = uses.join(ref, on="template", how="inner")
    totals = joined.group_by("template").agg(pl.len().alias("total"))
    own = (
        ref.explode("reference")
        .with_columns(pl.int_range(pl.len()).over("template").alias("order"))
        .rename({"reference": "phase"})
    )
    skipped = (
        joined.explode("reference")
        .filter(~pl.col("reference").is_in(pl.col("planned_phases")))
        .group_by("template", pl.col("reference").alias("phase"))
        .agg(pl.len().alias("sessions"))
    )
    kept_or_skipped = own.join(skipped, on=["template", "phase"], how="left").with_columns(
        pl.col("sessions").fill_null(0).cast(pl.Int64),
        pl.when(pl.col("sessions").fill_null(0) > 0).then(pl.lit("skipped")).otherwise(pl.lit("kept")).alias("change"),
    )
    added = (
        joined.explode("planned_phases")
        .filter(~pl.col("planned_phases").is_in(pl.col("reference")))
        .group_by("template", pl.col("planned_phases").alias("phase"))
        .agg(pl.len().alias("sessions"))
        .with_columns(
            pl.format("+ {}", pl.col("phase")).alias("phase"),
            pl.lit("added").alias("change"),
            pl.lit(1_000, pl.Int64).alias("order"),
        )
    )
    cells = pl.concat([kept_or_skipped.select(added.columns), added], how="vertical_relaxed")
    return (
        cells.join(totals, on="template")
        .with_columns((pl.col("sessions") / pl.col("total") * 100).round(1).alias("share_pct"))
        .select("template", "phase", "change", pl.col("sessions").cast(pl.Int64), "share_pct", "order")
        .sort("template", "order", "phase")
    )


def phase_stats(data: QseData, start_ms: int, end_ms: int, filters: dict[str, str] | None = None) -> pl.DataFrame:
    """Per template and phase: completions, mean actual ÷ planned hours, gate evaluations and failure share."""
    used = started_in(data, start_ms, end_ms, filters).select("session_id", "template")
    done = (
        phases_at(data, end_ms)
        .filter(pl.col("done"))
        .join(used, on="session_id")
        .group_by("template", "phase")
        .agg(pl.len().alias("completions"), pl.col("ratio").mean().alias("hours_vs_plan"))
    )
    gates = (
        data.gates.filter(pl.col("ts") < end_ms)
        .join(used, on="session_id")
        .group_by("template", "phase")
        .agg(
            pl.col("gate").first(),
            pl.len().alias("evaluations"),
            (~pl.col("passed")).mean().alias("gate_fail_share"),
        )
    )
    return done.join(gates, on=["template", "phase"], how="full", coalesce=True)


def suggestions(
    table: pl.DataFrame, cells: pl.DataFrame, stats: pl.DataFrame, rules: QseRules, *, most: int = 10
) -> pl.DataFrame:
    """Template optimisation opportunities, most useful first: priority, template, suggestion, why.

    A phase most sessions add or skip (≥ 25 %), a phase that runs long (≥ 1.25× plan over two or
    more completions), a gate that fails often (≥ 25 % of two or more), a judged template below
    ``effective``, and a template with too few uses to judge.
    """
    name = pl.col("phase").str.strip_prefix("+ ")
    changed = cells.filter((pl.col("change") != "kept") & (pl.col("share_pct") >= CHANGED_SHARE * 100)).select(
        pl.lit("medium").alias("priority"),
        "template",
        pl.when(pl.col("change") == "added")
        .then(pl.format("Add {} to the template", name))
        .otherwise(pl.format("Make {} optional", name))
        .alias("suggestion"),
        pl.format(
            "{} % of its sessions {}",
            pl.col("share_pct"),
            pl.when(pl.col("change") == "added").then(pl.lit("add it")).otherwise(pl.lit("skip it")),
        ).alias("why"),
    )
    slow = stats.filter((pl.col("hours_vs_plan") >= SLOW_PHASE) & (pl.col("completions") >= 2)).select(
        pl.lit("medium").alias("priority"),
        "template",
        pl.format("Re-plan {}", pl.col("phase")).alias("suggestion"),
        pl.format(
            "it ran {}× its planned hours over {} sessions", pl.col("hours_vs_plan").round(2), pl.col("completions")
        ).alias("why"),
    )
    failing = stats.filter((pl.col("gate_fail_share") >= FAILING_GATE) & (pl.col("evaluations") >= 2)).select(
        pl.lit("high").alias("priority"),
        "template",
        pl.format("Strengthen the {} guidance", pl.col("phase")).alias("suggestion"),
        pl.format(
            "gate {} failed {} % of {} evaluations",
            pl.col("gate"),
            (pl.col("gate_fail_share") * 100).round(0),
            pl.col("evaluations"),
        ).alias("why"),
    )
    weak = table.filter(pl.col("rating") == NEEDS_WORK).select(
        pl.lit("high").alias("priority"),
        "template",
        pl.lit("Review the template").alias("suggestion"),
        pl.format(
            "effectiveness {} % is under {} % over {} uses",
            pl.col("effectiveness_pct"),
            pl.lit(round(rules.effective * 100, 1)),
            pl.col("uses"),
        ).alias("why"),
    )
    young = table.filter(pl.col("rating") == TOO_FEW).select(
        pl.lit("low").alias("priority"),
        "template",
        pl.lit("Collect more uses before judging").alias("suggestion"),
        pl.format("{} of the {} uses needed", pl.col("uses"), pl.lit(rules.min_uses)).alias("why"),
    )
    order = {"high": 0, "medium": 1, "low": 2}
    return (
        pl.concat([failing, weak, changed, slow, young], how="vertical_relaxed")
        .with_columns(pl.col("priority").replace_strict(order, return_dtype=pl.Int64).alias("_rank"))
        .sort("_rank", "template", maintain_order=True)
        .head(most)
        .drop("_rank")
    )
