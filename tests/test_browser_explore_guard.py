"""Explore in Debian's Chromium (login off: not the subject here) on a metric of 400 series: the chart names its
buckets, the notice says how many series were left out, and the "avg by dc" offer turns the chart into four lines."""

from __future__ import annotations

import pytest
from playwright.sync_api import expect

from tests.live import live_server

pytestmark = pytest.mark.browser
ENV = {"PULSEBOARD_COLLECTORS": "false", "PULSEBOARD_AUTH": "off"}
CHART = "[data-testid='stVegaLiteChart'] canvas, [data-testid='stVegaLiteChart'] svg"


def prepare(engine) -> None:
    from core.ingest.writer import write_batch
    from core.model import Sample, now_ms
    from core.store.rollup import run_rollup

    now = now_ms()
    samples = [
        Sample("cpu_percent", (("dc", f"dc{i % 4}"), ("host", f"w{i:03d}")), float(i % 50 + k % 5), ts)
        for i in range(400)
        for k, ts in enumerate(range(now - 3_600_000, now, 60_000))
    ]
    write_batch(engine, samples, ())
    run_rollup(engine, now)


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    with live_server(tmp_path_factory.mktemp("explore"), env=ENV, prepare=prepare) as s:
        yield s


def test_400_series_show_the_top_100_with_a_notice_and_the_offer_aggregates_by_dc(server, page):
    page.goto(server.url + "/explore")
    page.get_by_role("heading", name="Explore").wait_for(timeout=90_000)
    expect(page.get_by_text("Showing 100 of 400 series (largest max) — 300 left out.")).to_be_visible(timeout=60_000)
    expect(page.get_by_text("cpu_percent · 5 min buckets")).to_be_visible()  # the chart's title: 24 h / 999 -> 5 min
    page.wait_for_selector(CHART, timeout=60_000)
    page.get_by_role("button", name="avg by dc").click()
    expect(page.get_by_text("left out")).to_have_count(0, timeout=60_000)
    expect(page.get_by_text("4 series · avg by dc", exact=False)).to_be_visible()
    assert page.locator("[data-testid='stException'], [data-testid='stAlertContentError']").count() == 0
