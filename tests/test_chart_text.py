"""Chart text alternatives (core.ui.chart_text): the sentence is read off the chart's own encoding and frame."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import polars as pl
import pytest

from core.ui import chart_text, charts
from core.ui.chart_text import Roles, describe, roles, summarise

T0 = datetime(2026, 12, 6, 8, 0, tzinfo=UTC)


def cpu_frame() -> pl.DataFrame:
    """Three hosts over 24 h; web-2 peaks at 91 % at 14:05; the last values are 40, 62 and 55."""
    rows = []
    for host, base in (("web-1", 30.0), ("web-2", 50.0), ("web-3", 45.0)):
        for i in range(25):
            ts = T0 + timedelta(hours=i)
            rows.append({"ts": ts, "series": host, "value": base})
    frame = pl.DataFrame(rows).with_columns(
        pl.when((pl.col("series") == "web-2") & (pl.col("ts") == T0 + timedelta(hours=6)))
        .then(91.0)
        .when(pl.col("ts") == T0 + timedelta(hours=24))
        .then(pl.col("series").replace_strict({"web-1": 40.0, "web-2": 62.0, "web-3": 55.0}))
        .otherwise(pl.col("value"))
        .alias("value")
    )
    return frame.with_columns(
        pl.when(pl.col("value") == 91.0).then(pl.col("ts") + timedelta(minutes=5)).otherwise(pl.col("ts")).alias("ts")
    )


def test_many_series_over_time_name_the_peak_its_series_and_the_latest_spread():
    deployments = pl.DataFrame({"ts": [T0 + timedelta(hours=3)], "component": ["api"], "version": ["1.2"]})
    chart = charts.trend(cpu_frame(), y_title="%", warning=80, critical=90, deployments=deployments)
    text = describe(chart, title="CPU %")
    assert text == (
        "CPU % on 3 series over 1 d to 07 Dec 08:00 UTC: max 91 % on web-2 at 06 Dec 14:05, latest 40 % to 62 %."
    )


def test_one_series_gives_max_min_and_latest_in_humanised_units():
    frame = pl.DataFrame(
        {"ts": [T0, T0 + timedelta(minutes=30), T0 + timedelta(hours=1)], "value": [250.0, 1_500.0, 90.0]}
    )
    chart = charts.trend(frame, color=None, y_title="ms", unit="ms")
    assert describe(chart, title="API p95", unit="ms") == (
        "API p95 over 1 h to 09:00 UTC: max 1.5 s at 08:30, min 90 ms, latest 90 ms."
    )


def test_the_axis_title_is_the_unit_when_none_is_given():
    frame = pl.DataFrame({"ts": [T0, T0 + timedelta(hours=1)], "value": [2.0 * 2**20, 3.0 * 2**20]})
    chart = charts.trend(frame, color=None, y_title="B/s")
    assert roles(chart) == Roles(time="ts", value="value", unit="B/s")
    assert "max 3 MiB/s" in describe(chart, title="Network in")


def test_bars_name_highest_lowest_and_total_summed_over_stacks():
    frame = pl.DataFrame(
        {"component": ["api", "api", "web", "db"], "kind": ["a", "b", "a", "a"], "value": [10.0, 2.0, 1.0, 17.0]}
    )
    chart = charts.bars(frame, category="component", color="kind", value_title="failures", integer=True)
    assert roles(chart).category == "component" and roles(chart).series == "kind"
    assert describe(chart, title="Failures") == "Failures, 3 bars: highest db 17, lowest web 1, total 30."


def test_bars_of_one_value_say_so_and_ties_are_broken_by_name():
    frame = pl.DataFrame({"queue": ["b", "a", "c"], "value": [0.0, 0.0, 0.0]})
    assert describe(charts.bars(frame, category="queue"), title="Queues") == "Queues, 3 bars: all at 0."
    tied = pl.DataFrame({"queue": ["b", "a", "c"], "value": [1.0, 1.0, 3.0]})
    assert describe(charts.bars(tied, category="queue"), title="Q") == "Q, 3 bars: highest c 3, lowest b 1, total 5."
    one = pl.DataFrame({"severity": ["warning"], "value": [8.0]})
    assert describe(charts.bars(one, category="severity"), title="Alerts") == "Alerts: warning 8."


def test_heatmap_names_its_hottest_cell_and_the_grid_size():
    frame = cpu_frame().rename({"series": "host"})
    chart = charts.heatmap(frame, x="ts", y="host", value_title="load %")
    assert roles(chart).value == "value" and roles(chart).time == "ts" and roles(chart).category == "host"
    assert describe(chart, title="Load").startswith(
        "Load, 3 rows × 26 columns: highest 91 at web-2, 06 Dec 14:05"  # the peak's 14:05 is a column of its own
    )


def test_status_tiles_are_counted_by_state_most_first():
    frame = pl.DataFrame({"name": list("abcde"), "status": ["ok", "critical", "ok", "warning", "ok"]})
    assert describe(charts.status_grid(frame), title="Agents") == "Agents, 5 items: 3 ok, 1 critical, 1 warning."


def test_timeline_counts_events_by_severity_over_its_span():
    frame = pl.DataFrame(
        {
            "ts": [T0, T0 + timedelta(hours=2)],
            "kind": ["deploy", "incident"],
            "label": ["x", "y"],
            "severity": ["info", "critical"],
        }
    )
    assert describe(charts.timeline(frame), title="Events") == (
        "Events, 2 events over 2 h to 10:00 UTC: 1 critical, 1 info."
    )


def test_a_gauge_is_worded_from_its_value_target_and_unit_not_its_arcs():
    rows = pl.DataFrame({"value": [91.24], "target": [95.0], "unit": ["%"], "note": [None]})
    assert describe(charts.gauge(91.24, target=95), rows, "Availability") == "Availability: 91.2 %, target 95 %."


def test_an_empty_chart_says_so_and_a_valueless_one_counts_rows():
    assert describe(charts.trend(cpu_frame().clear()), title="CPU") == "CPU: no data."
    frame = cpu_frame().with_columns(pl.lit(None, pl.Float64).alias("value"))
    assert describe(charts.trend(frame), title="CPU") == "CPU: 75 rows, none with a value."


def test_a_chart_of_another_shape_still_says_how_many_rows_it_draws():
    frame = pl.DataFrame({"component": ["api", "web"], "risk": [0.3, 0.7], "components": [3, 4]})
    text = summarise(frame, Roles(), "Risk")
    assert text == "Risk: 2 rows of data (see Show data)."


def test_amounts_are_humanised_by_unit_and_short_units_are_written_after_the_number():
    assert chart_text.amount(1_500, "ms") == "1.5 s"
    assert chart_text.amount(91.0, "%") == "91 %"
    assert chart_text.amount(12_345.0, "") == "12,345"
    assert chart_text.amount(3.5, "load %") == "3.5"  # words are the axis title, not a unit to repeat
    assert chart_text.amount(None) == "no value"


@pytest.mark.parametrize("title", ["", "  "])
def test_a_missing_title_falls_back_to_the_charts_own_or_chart(title):
    frame = pl.DataFrame({"ts": [T0], "value": [1.0]})
    assert describe(charts.trend(frame, color=None), title=title).startswith("Chart at one time, 08:00 UTC: max 1")
    assert describe(charts.trend(frame, color=None, title="Own"), title=title).startswith("Own ")
