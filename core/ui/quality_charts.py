"""The QA page's one chart core.ui.charts has no kind for: the likelihood × impact risk matrix.

Kept beside core.ui.charts (same palette and conventions) rather than inside it, because
its ordered 3 × 3 axes and written cell counts only make sense for a risk matrix.
"""

from __future__ import annotations

import altair as alt
import polars as pl

from core.ui.charts import PICK, fitted_gradient_legend, picked_opacity

LEVELS = ["low", "medium", "high"]


def risk_matrix(cells: pl.DataFrame, *, height: int = 260) -> alt.TopLevelMixin:
    """A 3 × 3 grid (columns likelihood_level, impact_level, components, names): high likelihood at the top,
    cells shaded by risk score (viridis, colour-blind-safe) with the component count written in them, clickable."""
    frame = cells.with_columns(
        (
            pl.col("likelihood_level").replace_strict({v: i + 1 for i, v in enumerate(LEVELS)}, return_dtype=pl.Int64)
            * pl.col("impact_level").replace_strict({v: i + 1 for i, v in enumerate(LEVELS)}, return_dtype=pl.Int64)
        ).alias("risk")
    )
    selection = alt.selection_point(name=PICK, fields=["likelihood_level", "impact_level"], on="click")
    base = alt.Chart(frame).encode(
        x=alt.X("impact_level:N", sort=LEVELS, title="impact", axis=alt.Axis(labelAngle=0)),
        y=alt.Y("likelihood_level:N", sort=list(reversed(LEVELS)), title="likelihood"),
        tooltip=[
            alt.Tooltip("likelihood_level:N", title="likelihood"),
            alt.Tooltip("impact_level:N", title="impact"),
            alt.Tooltip("risk:Q", title="risk score"),
            alt.Tooltip("components:Q"),
            alt.Tooltip("names:N", title="which"),
        ],
    )
    rect = (
        base.mark_rect(stroke="white", strokeWidth=2)
        .encode(
            color=alt.Color(
                "risk:Q",
                scale=alt.Scale(scheme="viridis", domain=[1, 9]),
                title="risk score",
                legend=fitted_gradient_legend(),
            ),
            opacity=picked_opacity(selection, other=0.55),
        )
        .add_params(selection)
    )
    text = base.mark_text(fontSize=18, fontWeight="bold").encode(
        text=alt.Text("components:Q"), color=alt.condition(alt.datum.risk >= 5, alt.value("black"), alt.value("white"))
    )
    return alt.layer(rect, text).properties(height=height, width="container")
