"""Explore with data, run by AppTest on a real store: the chart, the table and the CSV hold the seeded values."""

from __future__ import annotations

import io
import json

import polars as pl
import pyarrow as pa
import pytest
from streamlit.runtime.memory_media_file_storage import MemoryMediaFileStorage
from streamlit.testing.v1 import AppTest

from core.config import ROOT
from core.ingest import ingest
from core.model import Batch, Sample, now_ms

CPU = [float(v) for v in (12, 47, 33, 81, 5, 64, 29, 90, 18, 56)]  # one sample a minute, newest first
MEMORY = [70.0, 71.5, 73.0]


@pytest.fixture
def downloads(monkeypatch: pytest.MonkeyPatch) -> list[tuple[bytes, str | None]]:
    """(data, file name) of every file a download button hands to Streamlit's media storage."""
    saved: list[tuple[bytes, str | None]] = []
    original = MemoryMediaFileStorage.load_and_get_id

    def keep(self, path_or_data, mimetype, kind, filename=None):  # type: ignore[no-untyped-def]
        saved.append((path_or_data, filename))
        return original(self, path_or_data, mimetype, kind, filename)

    monkeypatch.setattr(MemoryMediaFileStorage, "load_and_get_id", keep)
    return saved


@pytest.fixture
def seeded(app_store) -> int:
    now = now_ms()
    samples = [Sample.of("cpu_percent", {"host": "h1"}, v, now - (i + 1) * 60_000) for i, v in enumerate(CPU)]
    samples += [Sample.of("a_memory_percent", {"host": "h1"}, v, now - (i + 1) * 60_000) for i, v in enumerate(MEMORY)]
    ingest(app_store, Batch(tuple(samples)), origin="test")
    return now


def explore(**typed: str) -> AppTest:
    at = AppTest.from_file(str(ROOT / "pages" / "explore.py"), default_timeout=120)
    at.run()
    assert not at.exception, [e.value for e in at.exception]
    next(s for s in at.selectbox if s.label == "Range").set_value("Last 1 h")  # the raw tier: every sample as stored
    if "metric" in typed:
        next(s for s in at.selectbox if s.label == "Metric").set_value(typed["metric"])
    if "selector" in typed:
        at.text_input[0].input(typed["selector"])
    at.run()
    assert not at.exception, [e.value for e in at.exception]
    assert not at.error, [e.value for e in at.error]
    return at


def chart(at: AppTest) -> tuple[dict, pl.DataFrame]:
    """The Vega-Lite spec of the one chart and the data it draws."""
    charts = at.get("vega_lite_chart") or at.get("arrow_vega_lite_chart")
    assert len(charts) == 1
    proto = charts[0].proto
    spec = json.loads(proto.spec)
    data = pl.from_arrow(pa.ipc.open_stream(proto.datasets[0].data.data).read_all())
    assert isinstance(data, pl.DataFrame)
    return spec, data


def y_title(spec: dict) -> str:
    return str(spec["layer"][0]["encoding"]["y"]["title"])


def csv(downloads: list[tuple[bytes, str | None]]) -> tuple[str | None, pl.DataFrame]:
    data, name = downloads[-1]
    return name, pl.read_csv(io.BytesIO(data))


def test_chart_table_and_csv_show_the_seeded_values(seeded, downloads):
    at = explore(metric="cpu_percent")
    spec, drawn = chart(at)
    assert y_title(spec) == "cpu_percent"
    oldest_first = list(reversed(CPU))
    assert drawn.sort("ts")["value"].to_list() == oldest_first
    table = at.dataframe[0].value
    assert table["value"].tolist() == oldest_first and set(table["series"]) == {'cpu_percent{host="h1"}'}
    name, rows = csv(downloads)
    assert name == "cpu_percent.csv"
    assert rows.columns == ["ts", "series", "value"] and rows["value"].to_list() == oldest_first
    stamps = pl.from_epoch(pl.Series([seeded - (i + 1) * 60_000 for i in reversed(range(len(CPU)))]), "ms")
    assert rows["ts"].to_list() == stamps.dt.strftime("%Y-%m-%dT%H:%M:%S%.3fZ").to_list()
    assert "10 points" in at.caption[0].value and "raw tier" in at.caption[0].value


def test_a_typed_selector_names_the_csv_and_the_axis_after_its_own_metric(seeded, downloads):
    at = explore(selector='cpu_percent{host="h1"}')
    assert next(s for s in at.selectbox if s.label == "Metric").value == "a_memory_percent"  # the picker says otherwise
    spec, drawn = chart(at)
    assert y_title(spec) == "cpu_percent"
    assert sorted(drawn["value"].to_list()) == sorted(CPU)
    name, rows = csv(downloads)
    assert name == "cpu_percent.csv" and sorted(rows["value"].to_list()) == sorted(CPU)
