"""Accessibility through AppTest on a real store: every chart carries its text alternative, units are humanised,
and the sidebar's preferences reach the page's style sheet."""

from __future__ import annotations

import re

import pytest
from streamlit.testing.v1 import AppTest

from core.config import ROOT
from core.ingest import ingest
from core.model import Batch, Sample, now_ms
from core.store.rollup import run_rollup
from core.ui.accessibility import CONTRAST_KEY, SAVED_KEY, SIZE_KEY
from core.ui.contrast import Prefs

MIN = 60_000


def run(script: str, **state: object) -> AppTest:
    at = AppTest.from_file(str(ROOT / script), default_timeout=120)
    for key, value in state.items():
        at.session_state[key] = value
    at.run()
    assert not at.exception, [e.value for e in at.exception]
    return at


@pytest.fixture
def resources(app_store):
    """An hour of one host's CPU (40 %, one sample at 91 %) and network (512 KiB/s, one at 3 MiB/s) samples."""
    now = now_ms()
    samples = []
    for i in range(30):
        ts = now - (30 - i) * 2 * MIN
        samples.append(Sample.of("system_cpu_percent", {"host": "web-2"}, 91.0 if i == 20 else 40.0, ts))
        network = 3.0 * 2**20 if i == 20 else 512.0 * 1024
        samples.append(Sample.of("system_network_receive_bytes_per_second", {"host": "web-2"}, network, ts))
    ingest(app_store, Batch(tuple(samples), ()), origin="test")
    run_rollup(app_store, now)  # a 24 h range reads the 1-minute tier
    return app_store


def captions(at: AppTest) -> list[str]:
    """The captions as shown (their Markdown escapes read)."""
    return [re.sub(r"\\(.)", r"\1", c.value) for c in at.caption]


def test_a_chart_page_writes_each_charts_summary_and_offers_its_data(resources):
    at = run("pages/operations.py")
    text = captions(at)
    # the chart draws the range's buckets (means), so its peak is the 91 % sample's bucket mean
    cpu = [c for c in text if c.startswith("CPU over ")]
    assert cpu and re.search(r"max \d+(\.\d+)? % at \d\d:\d\d, min 40 %, latest 40 %\.$", cpu[0]), text
    network = [c for c in text if c.startswith("Network over ")]
    peak = r"max \d+(\.\d+)? [KM]iB/s at .*, min 512 KiB/s, latest 512 KiB/s\.$"
    assert network and re.search(peak, network[0]), text
    shows = [e for e in at.expander if e.label == "Show data"]
    assert len(shows) == len(at.get("vega_lite_chart")) == 2  # one per chart drawn: CPU and network
    assert all(not e.children for e in shows)  # closed: the table is not built


def test_the_chart_spec_carries_the_summary_as_its_accessible_description(resources):
    import json

    at = run("pages/operations.py")
    specs = [json.loads(chart.proto.spec) for chart in at.get("vega_lite_chart")]
    described = [s.get("description", "") for s in specs]
    assert any(d.startswith("CPU over ") and "latest 40 %" in d for d in described), described


def test_high_contrast_and_text_size_reach_the_style_sheet_and_the_charts(resources):
    import json

    plain = run("pages/navigation.py")
    assert not any("font-size" in h.proto.body for h in plain.get("html"))
    chosen = {SAVED_KEY: Prefs(high_contrast=True, text_size=130)}
    at = run("pages/navigation.py", **chosen)
    sheets = " ".join(h.proto.body for h in at.get("html"))
    assert "font-size: 130%" in sheets and "#000000" in sheets
    assert at.session_state[CONTRAST_KEY] is True and at.session_state[SIZE_KEY] == 130  # the sidebar shows them
    charts = run("pages/operations.py", **chosen).get("vega_lite_chart")
    specs = [json.loads(chart.proto.spec) for chart in charts]
    assert specs and all(s["config"]["axis"]["labelColor"] == "#000000" for s in specs)
    assert all(s["config"]["axis"]["labelFontSize"] == 16 for s in specs)  # 12 px at 130 %
    assert all(chart.proto.theme == "" for chart in charts)  # Vega's own black-on-white, not Streamlit's greys


def test_changing_the_sidebar_controls_saves_the_preferences(app_store):
    at = run("pages/navigation.py")
    at.toggle(key=CONTRAST_KEY).set_value(True).run()
    assert at.session_state[SAVED_KEY] == Prefs(high_contrast=True, text_size=100)
    assert any("#000000" in h.proto.body for h in at.get("html"))


def test_a_link_sets_the_preferences_and_names_what_it_could_not_use():
    from core.ui.accessibility import from_link, link_params

    assert from_link("high", "130") == (Prefs(high_contrast=True, text_size=130), [])
    assert from_link(None, None) == (Prefs(), [])
    chosen, problems = from_link("loud", "120")
    assert chosen == Prefs()
    assert problems == [
        "contrast=loud is not 'high' or 'standard'",
        "text=120 is not a text size in % (100, 115, 130, 150)",
    ]
    assert link_params(Prefs(high_contrast=True, text_size=150)) == {"contrast": "high", "text": "150"}
    assert link_params(Prefs()) == {}  # a default viewer's links stay clean


def test_a_page_opened_with_display_settings_in_its_link_keeps_them_there(app_store):
    at = AppTest.from_file(str(ROOT / "pages/navigation.py"), default_timeout=120)
    at.query_params["contrast"] = "high"
    at.query_params["text"] = "150"
    at.run()
    assert not at.exception
    assert at.session_state[SAVED_KEY] == Prefs(high_contrast=True, text_size=150)
    assert any("font-size: 150%" in h.proto.body for h in at.get("html"))
    at.toggle(key=CONTRAST_KEY).set_value(False).run()
    assert "contrast" not in at.query_params and at.query_params["text"] == "150"
