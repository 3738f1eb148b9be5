"""The Migration page through AppTest on a real store: empty, a broken plan, demo data."""

from __future__ import annotations

import re

import pytest
from streamlit.testing.v1 import AppTest

from collectors.demo import BACKFILL_STEP, DemoCollector, DemoWorkload
from core.config import ROOT
from core.model import now_ms
from core.store.rollup import run_rollup

DAY = 86_400_000


def run(**query: str) -> AppTest:
    at = AppTest.from_file(str(ROOT / "pages" / "migration.py"), default_timeout=120)
    for key, value in query.items():
        at.query_params[key] = value
    at.run()
    assert not at.exception, [e.value for e in at.exception]
    return at


def test_no_data_says_what_to_send_and_shows_the_plan(app_store):
    at = run()
    infos = " ".join(i.value for i in at.info)
    assert "No migration data yet" in infos
    assert "migration.batch_completed" in infos and "migration.yaml" in infos and "docs/migration.md" in infos
    assert not at.error
    # the shipped plan (migration.yaml) is drawn as planned, so an empty store still shows the schedule
    assert any("plan" in c.value and "migration.yaml" in c.value for c in at.caption)
    assert len(at.get("vega_lite_chart")) == 1
    assert not at.metric  # no made-up zeros


def test_no_data_and_no_plan_is_just_the_empty_state(app_store, monkeypatch, tmp_path):
    from core.config import get_settings

    monkeypatch.setenv("PULSEBOARD_MIGRATION_PLAN_FILE", str(tmp_path / "absent.yaml"))
    get_settings.cache_clear()
    at = run()
    assert "No migration data yet" in " ".join(i.value for i in at.info)
    assert not at.get("vega_lite_chart") and not at.error


def test_a_broken_plan_is_named_with_its_line_and_the_page_still_draws(app_store, monkeypatch, tmp_path):
    from core.config import get_settings

    plan = tmp_path / "migration.yaml"
    plan.write_text("name: X\nphases:\n  - id: a\n    start_week: 0\n    end_week: soon\n")
    monkeypatch.setenv("PULSEBOARD_MIGRATION_PLAN_FILE", str(plan))
    get_settings.cache_clear()
    at = run()
    errors = re.sub(r"\\(.)", r"\1", " ".join(e.value for e in at.error))  # as rendered: Markdown escapes read
    assert "migration.yaml, line 5: phases[0].end_week: Input should be a valid number" in errors
    assert "No migration data yet" in " ".join(i.value for i in at.info)


def test_demo_data_draws_every_section(app_store):
    now = now_ms()
    collector = DemoCollector(app_store)
    collector.workload = DemoWorkload(7, now)
    collector.generate(now - 3 * DAY, now, BACKFILL_STEP)
    run_rollup(app_store, now)
    at = run()
    assert not at.error
    assert [s.value for s in at.subheader][1:] == [
        "Timeline",
        "Components",
        "Live metrics",
        "Issues",
        "Test suites",
        "Performance: old vs new",
        "Resource use",
    ]
    metrics = {m.label.split(" · ")[0]: m.value for m in at.metric}
    assert metrics["Progress"].endswith("%") and metrics["Progress"] != "—"
    assert metrics["Success rate"] != "—" and metrics["Performance Δ"].startswith("-")
    # live metrics from the demo's batches and timings (every 5 and 10 minutes): values, no made-up zeros
    assert metrics["Throughput"].endswith("records/s") and metrics["Throughput"] != "0.0 records/s"
    assert metrics["Failed records"].endswith("/min") and metrics["Operation time (new)"].endswith(" s")
    assert len(at.get("vega_lite_chart")) >= 2  # the roadmap and old-vs-new (the issues bar when any is open)
    badges = [b.proto.body for b in at.get("markdown") if "badge" in str(b.proto)]
    assert badges or any("AT RISK" in str(e.proto) or "HEALTHY" in str(e.proto) for e in at.get("markdown"))
    tables = {len(d.value) for d in at.dataframe}
    assert 5 in tables  # five nightly suites
    # resource use: no system collector runs here, so no host or process figures — and the cards say what sends them
    assert metrics["Host CPU"] == "—" and metrics["Host memory"] == "—"
    assert "No process metrics" in " ".join(i.value for i in at.info)


def test_the_migration_page_and_the_capacity_page_show_the_same_estimated_completion(app_store):
    """The demo's programme on both pages: the Migration page's "Estimated completion" date and the Capacity page's
    ETA of "Migration (all phases)" (and of each running phase, against the Migration page's timeline) agree."""
    from datetime import datetime

    now = now_ms()
    collector = DemoCollector(app_store)
    collector.workload = DemoWorkload(7, now)
    collector.generate(now - 3 * DAY, now, BACKFILL_STEP)
    migration = run()
    heading = next(m.value for m in migration.markdown if "Estimated completion" in m.value)
    shown = re.search(r"Estimated completion (\d\d \w{3} \d{4})", heading)
    assert shown is not None, heading
    capacity = AppTest.from_file(str(ROOT / "pages" / "capacity.py"), default_timeout=120)
    capacity.run()
    assert not capacity.exception, [e.value for e in capacity.exception]
    etas = next(d.value for d in capacity.dataframe if "what" in d.value.columns)
    whole = etas[etas["name"] == "Migration (all phases)"].iloc[0]
    assert datetime.strptime(whole["ETA"][:10], "%Y-%m-%d").strftime("%d %b %Y") == shown.group(1)
    phases = etas[etas["what"] == "migration phase"]
    assert len(phases) >= 1 and set(phases["how"]) == {set(etas[etas["what"] == "migration"]["how"]).pop()}
    # and the same 80 % interval: both pages read it from the one schedule
    if whole["80 % interval"].startswith("No interval yet"):
        assert "(no interval yet)" in heading
    else:
        from core.ui.migration_frames import day_range

        low, high = (datetime.strptime(t[:10], "%Y-%m-%d") for t in whole["80 % interval"].split(" – "))
        span = day_range(int(low.timestamp() * 1000) + DAY // 2, int(high.timestamp() * 1000) + DAY // 2)
        assert f"(80 %: {span})" in heading, (heading, whole["80 % interval"])


@pytest.mark.parametrize("key", ["24 h", "30 d"])
def test_other_ranges_render(app_store, key):
    now = now_ms()
    collector = DemoCollector(app_store)
    collector.workload = DemoWorkload(7, now)
    collector.generate(now - 2 * DAY, now, BACKFILL_STEP)
    at = run(range=key)
    assert not at.error
