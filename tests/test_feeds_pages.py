"""The data-feed strip on Overview and the feed table on Operations, through AppTest on a real store."""

from __future__ import annotations

import io

import polars as pl
import pytest
from streamlit.testing.v1 import AppTest

from core.auth import tokens
from core.config import ROOT
from core.ingest import ingest
from core.model import Batch, Event, Sample, now_ms

S, MIN = 1_000, 60_000


def run(page: str) -> AppTest:
    at = AppTest.from_file(str(ROOT / "pages" / f"{page}.py"), default_timeout=120)
    at.run()
    assert not at.exception, [e.value for e in at.exception]
    assert not at.error, [e.value for e in at.error]
    return at


@pytest.fixture
def feeds(app_store):
    """A system collector reporting, a migration push that stopped 20 min ago, a token that never pushed."""
    now = now_ms()
    ingest(
        app_store,
        Batch((Sample.of("system_load1", {"host": "h"}, 0.5, now - 2 * S),)),
        origin="collector:system",
        feed_interval_s=5,
    )
    ingest(
        app_store,
        Batch(events=(Event("m1", "migration.batch_completed", now - 20 * MIN, "mig", {}),)),
        origin="api",
        feed="api:migration-tool",
    )
    tokens.create_token(app_store, "nightly", ["ingest"], "root")
    return app_store


def strip(at: AppTest) -> pl.DataFrame:
    """The rows of the chart drawn as the feed strip (its tiles carry a ``note``)."""
    for chart in at.get("vega_lite_chart"):
        if '"note"' in chart.proto.spec:
            return pl.concat(pl.read_ipc_stream(io.BytesIO(d.data.data)) for d in chart.proto.datasets)
    raise AssertionError("no feed strip on the page")


def test_overview_shows_one_tile_per_feed_with_status_and_lag(feeds):
    at = run("overview")
    assert "**Data feeds**" in [m.value for m in at.markdown]
    tiles = strip(at).sort("i")
    assert tiles["name"].to_list() == ["api: migration-tool", "api: nightly", "system"]
    assert tiles["status"].to_list() == ["stale", "never", "ok"]
    assert tiles["note"][0] == "stale · 20 min" and tiles["note"][1] == "never reported"
    assert tiles["note"][2].startswith("ok · ") and tiles["note"][2].endswith(" s")


def test_operations_lists_every_feed_in_a_table(feeds):
    at = run("operations")
    assert "**Data feeds**" in [m.value for m in at.markdown]
    table = next(d.value for d in at.dataframe if "interval from" in d.value.columns)
    rows = {r["feed"]: r for r in table.to_dict("records")}
    assert set(rows) == {"api:migration-tool", "api:nightly", "collector:system"}
    assert [rows[f]["status"] for f in table["feed"]] == ["stale", "never", "ok"]  # worst first
    assert (rows["api:migration-tool"]["kind"], rows["api:migration-tool"]["expected"]) == ("push", "5 min")
    assert (rows["api:migration-tool"]["lag"], rows["api:migration-tool"]["interval from"]) == ("20 min", "push")
    assert (rows["collector:system"]["expected"], rows["collector:system"]["interval from"]) == ("5 s", "declared")


@pytest.mark.parametrize("page", ["overview", "operations"])
def test_without_feeds_the_pages_say_where_feeds_come_from(app_store, page):
    at = run(page)
    assert any("No feed" in i.value or "No feeds" in i.value for i in at.info)
