"""Performance score per component, 0–100, from latency, errors and saturation against baselines.

Each baselined series is one signal of a component (its ``endpoint``/``database``/``agent``/``host``/
``queue``/``step`` label, core.insights.regressions.component_of) and plays one role:

* **latency** — durations and queue depths: ``*_seconds``, ``qms_queue_depth``;
* **errors** — ``*errors*`` series;
* **saturation** — utilisation in percent: ``*_percent`` otherwise.

A signal's score is 100 while its recent value (the mean of the last 15 minutes) is within the
upper edge of its baseline band, and loses 50 points per band half-width beyond it:
``100 × max(0, 1 − excess / 2)`` with ``excess = (value − hi) / (hi − expected)``. A saturation
signal also never scores above its capacity score ``100 − 5 × max(0, value − 80)`` (as the Overview's
resources component), so a host steadily at 97 % is not "normal" just because it always is; below 50 %
a saturation signal is judged on capacity only (an agent at 30 % that usually idles is busier, not slower).
Within a role the worst signal counts; the component's score is the weighted mean of its roles
(latency 0.4, errors 0.4, saturation 0.2, renormalised over the roles it has). Lower-is-better only:
a value below the band never costs points.
"""

from __future__ import annotations

import polars as pl

from core.insights.regressions import component_of

SATURATION_FLOOR = 50.0  # below half of capacity, use above the baseline costs nothing
ROLE_WEIGHTS = {"latency": 0.4, "errors": 0.4, "saturation": 0.2}
SCORE_SCHEMA = {
    "component": pl.String,
    "score": pl.Float64,
    "latency": pl.Float64,
    "errors": pl.Float64,
    "saturation": pl.Float64,
    "worst": pl.String,
}


def role(series: str) -> str:
    """latency, errors or saturation, from the metric name."""
    name = series.split("{", 1)[0]
    if "error" in name:
        return "errors"
    if name.endswith("_seconds") or name == "qms_queue_depth" or "duration" in name:
        return "latency"
    return "saturation"


def signal_scores(banded: pl.DataFrame) -> pl.DataFrame:
    """``banded``: series, value, expected, hi (one recent row per series) → series, component, role, score."""
    half = pl.max_horizontal(pl.col("hi") - pl.col("expected"), pl.lit(1e-12))
    excess = ((pl.col("value") - pl.col("hi")) / half).clip(lower_bound=0.0)
    band_score = 100.0 * (1.0 - excess / 2.0).clip(lower_bound=0.0)
    capacity = (100.0 - 5.0 * (pl.col("value") - 80.0).clip(lower_bound=0.0)).clip(lower_bound=0.0)
    frame = banded.filter(pl.col("expected").is_not_null() & pl.col("value").is_finite())
    roles = [role(s) for s in frame["series"].to_list()]
    comps = [component_of(s) for s in frame["series"].to_list()]
    return (
        frame.with_columns(pl.Series("role", roles, pl.String), pl.Series("component", comps, pl.String))
        .with_columns(
            pl.when((pl.col("role") == "saturation") & (pl.col("value") < SATURATION_FLOOR))
            .then(capacity)
            .when(pl.col("role") == "saturation")
            .then(pl.min_horizontal(band_score, capacity))
            .otherwise(band_score)
            .alias("score")
        )
        .select("series", "component", "role", "value", "expected", "hi", "score")
    )


def component_scores(signals: pl.DataFrame) -> pl.DataFrame:
    """Per component: score, the worst signal of each role, and the series that costs most (``worst``)."""
    if signals.is_empty():
        return pl.DataFrame(schema=SCORE_SCHEMA)
    per_role = signals.group_by("component", "role").agg(pl.col("score").min())
    wide = per_role.pivot(on="role", index="component", values="score")
    for name in ROLE_WEIGHTS:
        if name not in wide.columns:
            wide = wide.with_columns(pl.lit(None, pl.Float64).alias(name))
    weighted = pl.sum_horizontal([pl.col(r).fill_null(0.0) * w for r, w in ROLE_WEIGHTS.items()])
    present = pl.sum_horizontal([pl.col(r).is_not_null().cast(pl.Float64) * w for r, w in ROLE_WEIGHTS.items()])
    worst = (
        signals.sort("score").group_by("component", maintain_order=True).agg(pl.col("series").first().alias("worst"))
    )
    return (
        wide.with_columns((weighted / present).round(1).alias("score"))
        .join(worst, on="component", how="left")
        .select(list(SCORE_SCHEMA))
        .sort("score", "component")
    )


def overall(components: pl.DataFrame) -> float | None:
    """The mean component score (what the Overview's Performance component shows)."""
    value = components["score"].mean() if components.height else None
    return None if value is None else round(float(value), 1)  # type: ignore[arg-type]
