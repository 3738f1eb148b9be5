"""Explore asks for what the screen can show (issue #26): at most max_data_points points per series, named in the
caption, and past max_series_shown series the top ones with a notice and an offer to aggregate by a label."""

from __future__ import annotations

import json

import polars as pl
import pyarrow as pa
import pytest
from streamlit.testing.v1 import AppTest

from core.config import ROOT
from core.ingest.writer import write_batch
from core.model import Sample, now_ms
from core.store.rollup import run_rollup

DAY = 86_400_000
SCRAPE = 15_000


def explore(range_label: str, role: str = "operations") -> AppTest:
    at = AppTest.from_file(str(ROOT / "pages" / "explore.py"), default_timeout=180)
    at.session_state["role"] = role
    at.run()
    assert not at.exception, [e.value for e in at.exception]
    next(s for s in at.selectbox if s.label == "Range").set_value(range_label)
    at.run()
    assert not at.exception and not at.error, [e.value for e in (*at.exception, *at.error)]
    return at


def drawn(at: AppTest) -> tuple[dict, pl.DataFrame]:
    """The one chart's Vega-Lite spec and the rows it draws."""
    found = at.get("vega_lite_chart") or at.get("arrow_vega_lite_chart")
    assert len(found) == 1
    spec = json.loads(found[0].proto.spec)
    data = pl.from_arrow(pa.ipc.open_stream(found[0].proto.datasets[0].data.data).read_all())
    assert isinstance(data, pl.DataFrame)
    return spec, data


@pytest.fixture
def week_of_scrapes(app_store) -> int:
    """Two series scraped every 15 s for seven days (80,640 samples), rolled up as the server would."""
    now = now_ms()
    samples = [
        Sample("disk_used_percent", (("host", host),), 40.0 + (ts // 60_000) % 7, ts)
        for host in ("db-1", "db-2")
        for ts in range(now - 7 * DAY, now, SCRAPE)
    ]
    write_batch(app_store, samples, ())
    run_rollup(app_store)
    return now


@pytest.mark.parametrize("engine", ["sqlite"], indirect=True)
def test_seven_days_of_15_s_data_come_back_as_at_most_1000_points_per_series_and_say_so(week_of_scrapes):
    at = explore("Last 7 d")
    spec, data = drawn(at)
    per_series = data.group_by("series").len()
    assert per_series.height == 2
    assert per_series["len"].max() <= 1000  # type: ignore[operator]  # 40,320 samples each in the store
    assert per_series["len"].min() >= 168  # type: ignore[operator]  # 605 s a point rounds up to the 1h tier: 168
    caption = at.caption[0].value
    assert "1 h buckets from the 1h tier" in caption
    assert spec["title"] == "disk_used_percent · 1 h buckets"
    stamps = data["ts"].cast(pl.Int64) if data["ts"].dtype != pl.Int64 else data["ts"]
    assert (stamps % 3_600_000 == 0).all()


HOSTS = 400


@pytest.fixture
def four_hundred_hosts(app_store) -> int:
    """cpu for 400 hosts in 4 dcs: 1000 + i ten minutes ago (so the largest max is h300…h399), 399 − i five minutes
    ago (so the largest last is h000…h099)."""
    now = now_ms()
    samples = []
    for i in range(HOSTS):
        labels = (("dc", f"dc{i % 4}"), ("host", f"h{i:03d}"))
        samples += [Sample("cpu", labels, 1000.0 + i, now - 600_000), Sample("cpu", labels, 399.0 - i, now - 300_000)]
    write_batch(app_store, samples, ())
    return now


def hosts(data: pl.DataFrame) -> set[str]:
    return {s.split('host="')[1].split('"')[0] for s in data["series"].unique()}


@pytest.mark.parametrize("engine", ["sqlite"], indirect=True)
def test_a_selector_matching_400_series_shows_the_top_100_says_so_and_offers_avg_by_dc(four_hundred_hosts):
    at = explore("Last 1 h")
    notice = [i.value for i in at.info]
    assert notice == ["Showing 100 of 400 series (largest max) — 300 left out."]
    _, data = drawn(at)
    assert hosts(data) == {f"h{i:03d}" for i in range(300, 400)}
    assert "100 of 400 series" in at.caption[0].value

    next(s for s in at.selectbox if s.label == "Rank by").set_value("last").run()
    assert [i.value for i in at.info] == ["Showing 100 of 400 series (largest last) — 300 left out."]
    assert hosts(drawn(at)[1]) == {f"h{i:03d}" for i in range(100)}

    offer = next(s for s in at.selectbox if s.label == "Aggregate instead")
    assert offer.options == ["avg by dc (4 lines)"]  # host has as many values as there are series: no use
    next(b for b in at.button if b.label == "avg by dc").click().run()
    assert not at.exception and not at.error
    assert next(m for m in at.multiselect if m.label == "Group by").value == ["dc"]
    assert not at.info  # nothing left out: four lines
    _, data = drawn(at)
    assert sorted(data["series"].unique()) == ["dc=dc0", "dc=dc1", "dc=dc2", "dc=dc3"]
    older = data.filter(pl.col("value") > 900).sort("series")["value"].to_list()
    # dc0 holds i = 0, 4, …, 396 (mean 198), dc1 1, 5, …, 397 (199) …: the avg is computed by the store
    assert older == [1198.0, 1199.0, 1200.0, 1201.0]
    assert "avg by dc" in at.caption[0].value


@pytest.fixture
def day_of_cpu(app_store) -> int:
    """system_cpu_percent of one host every 15 s for the last day (5,760 samples), rolled up."""
    now = now_ms()
    samples = [
        Sample("system_cpu_percent", (("host", "web-1"),), 20.0 + (ts // SCRAPE) % 9, ts)
        for ts in range(now - DAY, now, SCRAPE)
    ]
    write_batch(app_store, samples, ())
    run_rollup(app_store)
    return now


@pytest.mark.parametrize("engine", ["sqlite"], indirect=True)
def test_operations_resource_panels_ask_for_their_width_and_name_the_buckets(day_of_cpu):
    at = AppTest.from_file(str(ROOT / "pages" / "operations.py"), default_timeout=180)
    at.session_state["role"] = "operations"
    at.run()
    assert not at.exception, [e.value for e in at.exception]
    assert "5 min buckets, at most 300 points per series." in [c.value for c in at.caption]  # 24 h / 299 -> 5 min
    cpu = None
    for chart in at.get("vega_lite_chart") or at.get("arrow_vega_lite_chart"):
        for dataset in chart.proto.datasets:
            data = pl.from_arrow(pa.ipc.open_stream(dataset.data.data).read_all())
            if isinstance(data, pl.DataFrame) and "value" in data.columns and data.height > 200:
                cpu = data
    assert cpu is not None and 280 <= cpu.height <= 300  # 5,760 samples drawn as 288 (or 289) buckets


def test_a_chart_of_100_series_reserves_room_for_the_legend_vega_draws_not_one_row_per_series():
    from datetime import UTC, datetime

    from core.ui import charts

    frame = pl.DataFrame(
        {"ts": [datetime(2026, 12, 7, tzinfo=UTC)] * 100, "series": [f"s{i}" for i in range(100)], "value": [1.0] * 100}
    )
    spec = charts.trend(frame, height=380).to_dict()
    assert spec["height"] == 380 + charts.LEGEND_MAX_ENTRIES * charts.LEGEND_ROW_PX  # Vega stops at 30: "… 70 entries"
