"""Chart layout rules the role pages rely on: every heatmap row labelled, tile names wrapped not cut,
threshold labels that grow apart, whole-number ticks on count axes, legends that fit a phone."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

import polars as pl
import pytest

from core.ui import charts, quality_charts
from core.ui import widgets as w

AGENTS = ["qms-architect-1", "qms-code-reviewer-1", "qms-compliance-officer-1", "qms-testing-specialist-3"]


def spec(chart) -> dict:
    return json.loads(json.dumps(chart.to_dict()))


def walk(node):
    """Every dict inside a spec."""
    if isinstance(node, dict):
        yield node
        for value in node.values():
            yield from walk(value)
    elif isinstance(node, list):
        for value in node:
            yield from walk(value)


def test_heatmap_labels_every_row_and_gives_each_room():
    ts = [datetime(2025, 1, 1, tzinfo=UTC) + timedelta(hours=h) for h in range(6)]
    names = [f"agent-{n:02d}" for n in range(16)]
    frame = pl.DataFrame(
        {"ts": ts * len(names), "agent": [a for a in names for _ in ts], "value": [1.0] * (len(ts) * len(names))}
    )
    s = spec(charts.heatmap(frame, x="ts", y="agent"))
    assert s["encoding"]["y"]["axis"]["labelOverlap"] is False
    assert s["height"] >= charts.ROW_PX * len(names)
    assert 1.5 * s["encoding"]["y"]["axis"]["labelFontSize"] <= charts.ROW_PX


@pytest.mark.parametrize(
    ("name", "lines"),
    [
        ("qms-compliance-officer-1", ["qms-compliance-", "officer-1"]),
        ("qms-code-reviewer-1", ["qms-code-", "reviewer-1"]),
        ("qms-architect-1", ["qms-architect-1"]),
        ("abcdefghijklmnopqrstuvwxyz", ["abcdefghijklmnopqr", "stuvwxyz"]),
    ],
)
def test_tile_names_wrap_at_separators_without_losing_characters(name, lines):
    assert charts.wrap_label(name) == lines
    assert "".join(lines) == name


def test_status_tiles_wrap_names_and_use_fewer_columns_on_narrow_charts():
    frame = pl.DataFrame({"name": AGENTS, "status": ["active", "idle", "down", "active"], "detail": ["x"] * 4})
    s = spec(charts.status_grid(frame, columns=6))
    data = next(iter(s["datasets"].values()))
    assert {row["_lines"] for row in data} == {"\n".join(charts.wrap_label(n)) for n in AGENTS}
    texts = [layer for layer in s["layer"] if layer["mark"]["type"] == "text"]
    assert any(t["mark"].get("lineBreak") == "\n" for t in texts)
    calculated = {t["as"]: t["calculate"] for t in walk(s) if "calculate" in t}
    # columns per row: at most 6, and never a tile narrower than TILE_MIN_PX
    assert f"floor(width / {charts.TILE_MIN_PX})" in calculated["col"] and "min(6" in calculated["col"]
    assert s["height"] == {"step": charts.TILE_ROW_PX}


@pytest.mark.parametrize(("warning", "critical"), [(5, 10), (95, 90)])
@pytest.mark.parametrize("field", ["x", "y"])
def test_threshold_labels_grow_away_from_each_other(warning, critical, field):
    rules = charts.threshold_rules(warning, critical, field=field)
    labels = {r.data["level"][0]: r.mark for r in rules if r.mark.type == "text"}  # type: ignore[union-attr]
    low, high = labels[min(warning, critical)], labels[max(warning, critical)]
    if field == "x":  # vertical rules: the lower level's label left of its rule, the higher's right of it
        assert (low.align, high.align) == ("right", "left")
    else:  # horizontal rules: the lower level's label under its rule, the higher's above it
        assert low.dy > 0 > high.dy


def test_count_axes_have_whole_number_ticks():
    bar = spec(w.build(w.BarConfig(title="t", integer=True), pl.DataFrame({"category": ["a"], "value": [1.0]})).chart)  # type: ignore[union-attr]
    axis = bar["layer"][0]["encoding"]["x"]["axis"]
    assert axis["tickMinStep"] == 1 and axis["format"] == "d"
    pipe = spec(charts.pipeline(pl.DataFrame({"step": ["a"], "state": ["w"], "count": [1]})))
    assert pipe["encoding"]["x"]["axis"]["tickMinStep"] == 1
    ts = [datetime(2025, 1, 1, tzinfo=UTC)]
    line = spec(
        w.build(w.TrendConfig(title="t", integer=True, color=None), pl.DataFrame({"ts": ts, "value": [1.0]})).chart
    )  # type: ignore[union-attr]
    assert line["layer"][0]["encoding"]["y"]["axis"]["tickMinStep"] == 1
    plain = spec(w.build(w.BarConfig(title="t"), pl.DataFrame({"category": ["a"], "value": [1.5]})).chart)  # type: ignore[union-attr]
    assert "axis" not in plain["layer"][0]["encoding"]["x"]


def test_colour_ramp_legends_fit_the_chart_width():
    ts = [datetime(2025, 1, 1, tzinfo=UTC)]
    heat = spec(charts.heatmap(pl.DataFrame({"ts": ts, "agent": ["a"], "value": [1.0]}), x="ts", y="agent"))
    assert "width" in heat["encoding"]["color"]["legend"]["gradientLength"]["expr"]
    cells = pl.DataFrame({"likelihood_level": ["low"], "impact_level": ["high"], "components": [1], "names": ["x"]})
    matrix = spec(quality_charts.risk_matrix(cells))
    legends = [d["legend"] for d in walk(matrix) if isinstance(d.get("legend"), dict)]
    assert legends and all("width" in lg["gradientLength"]["expr"] for lg in legends)


def test_trend_legend_labels_get_half_the_chart_width_or_all_of_a_narrow_one():
    ts = [datetime(2025, 1, 1, tzinfo=UTC)] * 2
    frame = pl.DataFrame(
        {"ts": ts, "series": ['api_errors_percent{endpoint="/api/v1/agents"}', "b"], "value": [1.0, 2.0]}
    )
    legend = spec(charts.trend(frame))["layer"][0]["encoding"]["color"]["legend"]
    assert "width / 2" in legend["labelLimit"]["expr"] and legend["columns"]["expr"] == "width < 520 ? 1 : 2"


def test_a_trend_grows_by_a_legend_row_per_series():
    ts = [datetime(2025, 1, 1, tzinfo=UTC)] * 5
    frame = pl.DataFrame({"ts": ts, "series": list("abcde"), "value": [1.0] * 5})
    assert spec(charts.trend(frame, height=180))["height"] == 180 + 5 * charts.LEGEND_ROW_PX
    assert spec(charts.trend(frame.with_columns(pl.lit("x").alias("series")), color=None, height=180))["height"] == 180
