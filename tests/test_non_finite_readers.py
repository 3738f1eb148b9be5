"""NaN and ±Infinity are refused at ingest (tests/test_api_ingest.py); readers still cope with one stored before.

Vega-Lite's JSON has no such numbers, so a chart handed one would draw nothing: charts leave those
points out, the gauge shows "no data", KPI sparklines skip them, and recording rules store none.
"""

from __future__ import annotations

import json
import math
from datetime import UTC, datetime

import polars as pl

from core.recording.job import samples_of
from core.recording.rules import RULES
from core.ui import charts
from core.ui import widgets as w

BAD = [float("nan"), float("inf"), float("-inf")]


def frame() -> pl.DataFrame:
    stamps = [datetime(2025, 1, 1, 0, minute, tzinfo=UTC) for minute in range(6)]
    return pl.DataFrame({"ts": stamps, "series": ["a"] * 6, "value": [1.0, *BAD, None, 2.0]})


def valid_json(chart) -> str:
    """The chart's Vega-Lite spec as strict JSON: json.dumps(allow_nan=False) raises on any NaN or Infinity."""
    return json.dumps(chart.to_dict(), allow_nan=False)


def test_finite_rows_drops_nan_and_infinities_but_keeps_gaps():
    kept = charts.finite_rows(frame(), "value", "missing_column")
    assert kept["value"].to_list() == [1.0, None, 2.0]
    assert charts.finite_rows(frame(), "series") is not None  # a text column is never filtered


def test_charts_built_from_non_finite_values_are_valid_json():
    trend = charts.trend(frame())
    bars = charts.bars(frame().with_columns(pl.Series("cat", list("abcdef"))), category="cat")
    heat = charts.heatmap(frame(), x="ts", y="series")
    spark = charts.sparkline(frame())
    band = charts.forecast_band(
        frame().with_columns(kind=pl.lit("forecast"), lower=pl.col("value") - 1, upper=pl.col("value") + 1)
    )
    for chart in (trend, bars, heat, spark, band):
        valid_json(chart)


def test_gauge_of_a_non_finite_value_says_no_data():
    assert "no data" in valid_json(charts.gauge(math.inf))


def test_kpi_sparkline_leaves_non_finite_points_out():
    out = w.build(w.KpiConfig(title="x"), w.KpiValue(2.0, trend=frame()))
    assert isinstance(out, w.KpiOut) and out.sparkline == [1.0, 2.0]  # no NaN or inf, nor the gap filled from one


def test_recording_rules_store_no_non_finite_value():
    rule = RULES[0]
    rows = pl.DataFrame({"ts": [1, 2, 3, 4], "value": [1.0, math.nan, math.inf, None]}).with_columns(
        [pl.lit("x").alias(label) for label in rule.labels]
    )
    assert [s.value for s in samples_of(rule, rows)] == [1.0]
