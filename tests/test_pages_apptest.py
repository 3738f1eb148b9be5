"""Pages rendered by Streamlit's AppTest against a real store: no exception, right numbers."""

from __future__ import annotations

import pytest
from streamlit.testing.v1 import AppTest

from core.auth.catalogue import PAGES
from core.config import ROOT
from core.ingest import ingest
from core.model import Batch, Event, Sample, now_ms


def run_page(script: str) -> AppTest:
    at = AppTest.from_file(str(ROOT / script), default_timeout=60)
    at.run()
    assert not at.exception, [e.value for e in at.exception]
    return at


STORE_METRICS = ("Series", "Samples, last hour", "Events, last 24 h", "Last sample")


def store_metrics(at: AppTest) -> list[str]:
    """The Overview's "what is in the store" figures, in order."""
    values = {m.label: m.value for m in at.metric}
    return [values[label] for label in STORE_METRICS]


def test_overview_on_empty_store_says_how_to_fill_it(app_store):
    at = run_page("pages/overview.py")
    assert store_metrics(at)[:3] == ["0", "0", "0"]
    assert any("/api/v1/metrics" in info.value for info in at.info)


def test_overview_counts_match_the_store(app_store):
    now = now_ms()
    samples = [Sample.of("cpu_percent", {"host": f"h{i % 3}"}, i, now - i * 60_000 - 30_000) for i in range(90)]
    events = [Event(f"e{i}", "qa.defect_found", now - i * 3_600_000 - 60_000, "qa") for i in range(30)]
    ingest(app_store, Batch(tuple(samples), tuple(events)), origin="test")
    at = run_page("pages/overview.py")
    series, last_hour, last_day, _ = store_metrics(at)
    assert series == "3"
    assert last_hour == str(sum(1 for s in samples if s.ts >= now - 3_600_000))
    assert last_day == str(sum(1 for e in events if e.ts >= now - 86_400_000))
    assert (
        len(at.dataframe[-2].value) == 3
    )  # latest samples (the last two tables are the store's latest samples and events)


def test_navigation_shell_runs_and_default_page_is_overview(app_store):
    at = run_page("pages/navigation.py")
    assert at.title[0].value == "Overview"


def test_every_page_run_is_timed_for_the_page_load_sla(app_store):
    from core.selfmetrics import PAGE_RUNS

    PAGE_RUNS.drain()
    run_page("pages/navigation.py")
    slowest, runs = PAGE_RUNS.drain()["overview"]
    assert runs == 1
    assert 0 < slowest < 60


@pytest.mark.parametrize("spec", [p for p in PAGES if p.script], ids=lambda p: p.slug)
def test_every_built_page_renders_on_empty_store(app_store, spec):
    if not (ROOT / spec.script).exists():
        pytest.fail(f"{spec.script} is listed in core/auth/catalogue.py but missing")
    run_page(spec.script)


def test_menu_shows_how_many_alerts_fire(app_store):
    from core.sla.alerting import AlertsSink

    AlertsSink(app_store).fire(
        "sla_breach", {"sla": "dor_validation"}, "critical", "DoR over target", 1.0, [], now_ms()
    )
    at = run_page("pages/navigation.py")
    links = [element.proto.label for element in at.get("page_link")]
    assert "1 alert firing" in links, links
