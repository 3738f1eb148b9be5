"""The widget registry and chart builders: every kind builds from its config,
thresholds and drill-down are in the spec."""

from __future__ import annotations

import json
from datetime import UTC, datetime

import polars as pl
import pytest
from pydantic import ValidationError

from core.query.timewindow import DAY_MS, HOUR_MS, Window, default_refresh_key, window
from core.ui import charts
from core.ui import widgets as w

TS = [datetime(2025, 8, 17, h, tzinfo=UTC) for h in range(4)]
LONG = pl.DataFrame({"ts": TS * 2, "series": ["a"] * 4 + ["b"] * 4, "value": [1.0, 2, 3, 4, 4, 3, 2, 1]})

SAMPLES: dict[str, object] = {
    "kpi": w.KpiValue(87.5, 80.0, pl.DataFrame({"ts": TS, "value": [80.0, 82, 85, 87.5]})),
    "trend": LONG,
    "gauge": 97.5,
    "bar": pl.DataFrame({"category": ["q1", "q2"], "value": [5.0, 22.0]}),
    "table": pl.DataFrame({"a": [1, 2], "b": ["x", "y"]}),
    "heatmap": LONG,
    "pipeline": pl.DataFrame(
        {"step": ["dor", "dor", "review"], "state": ["waiting", "working", "waiting"], "count": [2, 1, 4]}
    ),
    "status_grid": pl.DataFrame(
        {"name": ["agent-1", "agent-2"], "status": ["active", "down"], "detail": ["40%", "heartbeat lost"]}
    ),
    "timeline": pl.DataFrame(
        {"ts": TS[:2], "kind": ["error", "deploy"], "label": ["x", "y"], "severity": ["critical", "info"]}
    ),
    "alert_list": pl.DataFrame({"severity": ["warning", "critical"], "title": ["w", "c"]}),
    "forecast": pl.DataFrame(
        {
            "ts": TS,
            "value": [1.0, 2, 3, 4],
            "lower": [None, None, 2.5, 3.0],
            "upper": [None, None, 3.5, 5.0],
            "kind": ["actual", "actual", "forecast", "forecast"],
        }
    ),
    "gantt": pl.DataFrame(
        {
            "task": ["design", "design"],
            "kind": ["planned", "actual"],
            "start": TS[:2],
            "end": TS[2:],
            "status": ["plan", "running"],
        }
    ),
    "roadmap": pl.DataFrame(
        {
            "task": ["Tests · 100 %", "Tests · 100 %", "Tests · 100 %", "Tests · 100 %"],
            "kind": ["planned", "forecast", "milestone", "today"],
            "start": [TS[0], TS[0], TS[2], TS[1]],
            "end": [TS[2], TS[3], TS[2], TS[1]],
            "status": ["planned", "late", "missed", "today"],
            "detail": ["planned", "forecast 1 day late", "Baseline green", "today"],
        }
    ),
    "delta": pl.DataFrame(
        {"operation": ["register", "query"], "delta_pct": [-20.0, 14.0], "verdict": ["improved", "regression"]}
    ),
    "progress": 42.0,
    "queue": LONG,
    "topk": LONG,
    "note": None,  # a note is its own content
}


def test_every_registered_kind_has_a_sample_here():
    assert set(w.WIDGETS) == set(SAMPLES)


@pytest.mark.parametrize("kind", sorted(SAMPLES))
def test_every_kind_builds_from_its_json_config(kind):
    extra = {"text": "**Runbook**: restart the agent."} if kind == "note" else {}
    config = w.parse({"kind": kind, "title": f"A {kind}", "thresholds": {"warning": 10, "critical": 20}} | extra)
    out = w.build(config, SAMPLES[kind])
    assert not isinstance(out, w.EmptyOut)
    if isinstance(out, w.ChartOut):
        json.dumps(out.chart.to_dict())  # a valid Vega-Lite spec


@pytest.mark.parametrize("kind", sorted(k for k in SAMPLES if k not in ("kpi", "gauge")))
def test_empty_data_gives_the_configured_empty_state(kind):
    config = w.parse({"kind": kind, "title": "t", "empty": "Send system.queue_depth_updated events."})
    out = w.build(config, pl.DataFrame())
    assert out == w.EmptyOut("Send system.queue_depth_updated events.")


def test_unknown_kind_and_unknown_fields_are_refused():
    with pytest.raises(ValidationError):
        w.parse({"kind": "radar", "title": "t"})
    with pytest.raises(ValidationError):
        w.parse({"kind": "trend", "title": "t", "colour": "x"})


def test_kpi_card_formats_value_delta_level_and_sparkline():
    config = w.KpiConfig(
        title="Quality", unit="%", thresholds=w.Thresholds(warning=85, critical=70, higher_is_worse=False)
    )
    out = w.build(config, SAMPLES["kpi"])
    assert isinstance(out, w.KpiOut)
    assert out.value == "87.5%"
    assert out.delta == "+7.5 pts vs previous period"
    assert out.level == "ok"
    assert out.sparkline == [80.0, 82.0, 85.0, 87.5]
    low = w.build(config, w.KpiValue(72.0))
    assert isinstance(low, w.KpiOut) and low.level == "warning" and low.delta is None
    missing = w.build(w.KpiConfig(title="x", empty="send qa.compliance_check"), None)
    assert isinstance(missing, w.KpiOut) and missing.value == "—" and "send qa.compliance_check" in missing.help


def test_thresholds_levels_both_directions():
    depth = w.Thresholds(warning=10, critical=20)
    assert [depth.level(v) for v in (None, 9, 10, 25)] == [None, "ok", "warning", "critical"]
    availability = w.Thresholds(warning=99, critical=95, higher_is_worse=False)
    assert [availability.level(v) for v in (99.5, 97, 90)] == ["ok", "warning", "critical"]


def _layers(chart):
    return chart.to_dict().get("layer", [chart.to_dict()])


def test_threshold_rules_and_deployments_are_drawn_on_trends():
    deploys = pl.DataFrame({"ts": TS[1:2], "component": ["decision-engine"], "version": ["2.1.0"]})
    out = w.build(
        w.TrendConfig(title="depth", thresholds=w.Thresholds(warning=10, critical=20)), LONG, deployments=deploys
    )
    rules = [layer for layer in _layers(out.chart) if layer["mark"]["type"] == "rule"]
    levels = sorted(v["level"] for layer in rules if "level" in json.dumps(layer) for v in _values(out.chart, layer))
    assert levels == [10.0, 20.0]
    assert any(layer["encoding"].get("x", {}).get("field") == "ts" for layer in rules)


def _values(chart, layer):
    datasets = chart.to_dict()["datasets"]
    return datasets[layer["data"]["name"]]


def test_drill_down_charts_carry_a_named_point_selection():
    for kind, field in (("pipeline", "step"), ("status_grid", "name"), ("bar", "category")):
        config = w.parse({"kind": kind, "title": "t", **({"pick": True} if kind == "bar" else {})})
        out = w.build(config, SAMPLES[kind])
        assert out.pick == field
        assert charts.PICK in json.dumps(out.chart.to_dict())


def test_palette_is_okabe_ito_and_statuses_have_fixed_colours():
    assert set(charts.PALETTE) <= {
        "#000000",
        "#E69F00",
        "#56B4E9",
        "#009E73",
        "#F0E442",
        "#0072B2",
        "#D55E00",
        "#CC79A7",
        "#999999",
    }
    scale = charts.status_scale(["down", "active"]).to_dict()
    assert scale["range"] == [charts.STATUS_COLORS["down"], charts.STATUS_COLORS["active"]]


def test_metric_source_resolves_through_the_query_layer(engine, settings):
    from core.ingest import ingest
    from core.model import Batch, Sample, now_ms
    from core.store.rollup import run_rollup

    now = now_ms()
    ingest(
        engine,
        Batch(
            tuple(
                Sample.of("qms_queue_depth", {"queue": "q"}, v, now - (5 - i) * 60_000) for i, v in enumerate([1, 2, 3])
            )
        ),
        settings=settings,
    )
    run_rollup(engine, now)
    ctx = w.SourceContext(engine, window("1h", now + 1))
    kpi = w.resolve(w.KpiConfig(title="depth", source="metric:qms_queue_depth", agg="max"), ctx)
    assert kpi.value == 3.0
    frame = w.resolve(w.TrendConfig(title="depth", source='metric:qms_queue_depth{queue="q"}'), ctx)
    assert sorted(frame["value"].to_list()) == [1.0, 2.0, 3.0]
    with pytest.raises(ValueError, match="unknown data source"):
        w.resolve(w.TrendConfig(title="x", source="nope"), ctx)


def test_windows_ranges_custom_and_refresh_defaults():
    assert window("24h", 10 * DAY_MS) == Window(9 * DAY_MS, 10 * DAY_MS, "24h")
    assert window("1h", 5 * HOUR_MS).previous() == Window(3 * HOUR_MS, 4 * HOUR_MS, "1h")
    from datetime import date

    custom = window("custom", 10**13, (date(2025, 8, 2), date(2025, 8, 1)))
    assert custom.span_ms == 2 * DAY_MS
    with pytest.raises(ValueError):
        window("2w")
    assert [default_refresh_key(s) for s in (30, 10, None, 15, 7)] == ["30s", "10s", "off", "15s", "off"]
    assert window("90d", 100 * DAY_MS).step_ms() == DAY_MS


def test_progress_fills_to_value_over_target_and_clips():
    config = w.ProgressConfig(title="Tests run", target=200, thresholds=w.Thresholds(warning=50, higher_is_worse=False))
    out = w.build(config, 50.0)
    assert isinstance(out, w.ProgressOut)
    assert (out.fraction, out.text, out.level) == (0.25, "50 of 200 (25%)", "ok")
    over = w.build(config, 300.0)
    assert isinstance(over, w.ProgressOut) and over.fraction == 1.0 and over.text.endswith("(150%)")
    assert w.build(config, None) == w.EmptyOut(config.empty)


def test_queue_monitor_shows_each_queues_newest_depth():
    out = w.build(w.QueueConfig(title="Queues"), LONG)  # a rises 1 → 4, b falls 4 → 1
    rows = {r["series"]: r["value"] for r in _rows(out.chart)}
    assert rows == {"a": 4.0, "b": 1.0}


def test_top_k_ranks_by_the_aggregation_and_keeps_k():
    frame = pl.DataFrame({"series": ["a", "a", "b", "c"], "value": [1.0, 9.0, 6.0, 2.0]})
    out = w.build(w.TopKConfig(title="Top", k=2, agg="max"), frame)
    rows = [(r["series"], r["value"]) for r in _rows(out.chart)]
    assert sorted(rows) == [("a", 9.0), ("b", 6.0)]
    bottom = w.build(w.TopKConfig(title="Bottom", k=1, agg="avg", bottom=True), frame)
    assert [r["series"] for r in _rows(bottom.chart)] == ["c"]


def test_every_registered_kind_declares_its_config_schema():
    assert set(w.WIDGETS) == set(w.CONFIGS)
    for kind, spec in w.WIDGETS.items():
        assert spec.config is w.CONFIGS[kind]
        assert spec.config.model_fields["kind"].default == kind


def _rows(chart):
    """The one dataset a bar chart draws."""
    (rows,) = chart.to_dict()["datasets"].values()
    return rows
