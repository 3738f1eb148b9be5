"""The widget kinds the QSE page adds or extends: gantt (planned vs actual), trend without a zero baseline."""

from __future__ import annotations

from datetime import UTC, datetime

import polars as pl
import pytest

from core.programmes.compliance import BANDS
from core.programmes.sessions import RISKS
from core.programmes.templates import RATINGS
from core.ui import charts
from core.ui import widgets as w
from core.ui.programme_charts import GANTT_COLORS


def bars() -> pl.DataFrame:
    t = lambda h: datetime(2026, 1, 1, h, tzinfo=UTC)  # noqa: E731
    return pl.DataFrame(
        {
            "task": ["design", "design", "build", "build"],
            "kind": ["planned", "actual", "planned", "actual"],
            "start": [t(8), t(8), t(12), t(13)],
            "end": [t(10), t(11), t(16), t(15)],
            "hours": [2.0, 3.0, 4.0, 2.0],
            "status": ["plan", "done", "plan", "running"],
        }
    )


def test_gantt_parses_from_its_json_form_and_rejects_unknown_options():
    config = w.parse({"kind": "gantt", "title": "Phases", "order": ["design", "build"], "pick": True})
    assert isinstance(config, w.GanttConfig) and config.order == ["design", "build"]
    with pytest.raises(ValueError, match="colour"):
        w.parse({"kind": "gantt", "title": "Phases", "colour": "red"})
    assert "gantt" in w.WIDGETS and w.WIDGETS["gantt"].config is w.GanttConfig


def test_gantt_draws_planned_over_actual_per_task_coloured_by_state():
    out = w.build(w.GanttConfig(title="Phases", pick=True), bars())
    assert isinstance(out, w.ChartOut) and out.pick == "task"
    spec = out.chart.to_dict()
    encoding = spec["encoding"]
    assert encoding["y"]["field"] == "task" and encoding["y"]["sort"] == ["design", "build"]
    assert encoding["yOffset"]["field"] == "kind" and encoding["x2"]["field"] == "end"
    scale = encoding["color"]["scale"]
    assert scale["domain"] == ["planned", "done", "running"]
    assert scale["range"] == [GANTT_COLORS["planned"], GANTT_COLORS["done"], GANTT_COLORS["running"]]
    assert any(p.get("name") == charts.PICK for p in spec.get("params", []))
    assert spec["height"] == 2 * 50 + 90


def test_gantt_without_rows_says_what_is_missing():
    out = w.build(w.GanttConfig(title="Phases", empty="No phase yet."), bars().clear())
    assert out == w.EmptyOut("No phase yet.")


def test_trend_can_fit_its_axis_to_the_data():
    frame = pl.DataFrame({"ts": [datetime(2026, 1, 1, tzinfo=UTC)] * 2, "series": ["a", "b"], "value": [88.0, 91.0]})
    fitted = w.build(w.TrendConfig(title="t", zero=False), frame)
    assert isinstance(fitted, w.ChartOut)
    assert fitted.chart.to_dict()["layer"][0]["encoding"]["y"]["scale"] == {"zero": False}
    default = w.build(w.TrendConfig(title="t"), frame)
    assert isinstance(default, w.ChartOut) and "scale" not in default.chart.to_dict()["layer"][0]["encoding"]["y"]


def test_every_band_rating_and_risk_has_its_colour():
    """Status colours are keyed by name: a band the QSE page shows must not fall back to the categorical palette."""
    assert set(BANDS) | set(RATINGS) | set(RISKS) <= set(charts.STATUS_COLORS)
