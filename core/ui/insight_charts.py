"""The baseline chart of the Insights page: a series inside its band, deployments and regressions marked.

The band (expected ± sigma × spread of the hour of the week, core.insights.baselines) is a shaded
area, the expected value a dashed line, the series a solid line; deployments are the usual dotted
rules and a deployment a regression followed is a solid vermilion rule whose tooltip says so.
"""

from __future__ import annotations

import altair as alt
import polars as pl

from core.ui.charts import PALETTE, TS_TOOLTIP, Chart, _base, _layer, deployment_rules, finite_rows


def baseline_chart(
    banded: pl.DataFrame,
    deployments: pl.DataFrame | None,
    regressions: pl.DataFrame | None,
    *,
    title: str | None = None,
    height: int = 260,
) -> Chart:
    """``banded``: ts, value, expected, lo, hi; ``regressions``: ts, label."""
    band = finite_rows(banded, "lo", "hi")
    values = finite_rows(banded, "value")
    layers = [
        alt.Chart(band)
        .mark_area(opacity=0.25, color=PALETTE[4])
        .encode(
            x=alt.X("ts:T", title=None),
            y=alt.Y("lo:Q", title=None, scale=alt.Scale(zero=False)),
            y2="hi:Q",
            tooltip=[
                TS_TOOLTIP,
                alt.Tooltip("lo:Q", title="band low", format=",.4g"),
                alt.Tooltip("hi:Q", title="band high", format=",.4g"),
            ],
        ),
        alt.Chart(band)
        .mark_line(strokeDash=[5, 3], color=PALETTE[2])
        .encode(x="ts:T", y="expected:Q", tooltip=[TS_TOOLTIP, alt.Tooltip("expected:Q", format=",.4g")]),
        alt.Chart(values)
        .mark_line(color=PALETTE[0], strokeWidth=2)
        .encode(x="ts:T", y="value:Q", tooltip=[TS_TOOLTIP, alt.Tooltip("value:Q", format=",.4g")]),
        *deployment_rules(deployments),
    ]
    if regressions is not None and not regressions.is_empty():
        layers.append(
            alt.Chart(regressions)
            .mark_rule(color=PALETTE[5], strokeWidth=2.5)
            .encode(x="ts:T", tooltip=[TS_TOOLTIP, alt.Tooltip("label:N", title="regression")])
        )
    return _base(_layer(*layers), height, title)
