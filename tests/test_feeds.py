"""Per-feed freshness: the status rules as pure functions, the feeds table on a real store (SQLite and Postgres),
the writers that name feeds, the self-metrics series and the default ``feed_stale`` alert rule, with explicit times.
"""

from __future__ import annotations

import json

import polars as pl
import pytest
import sqlalchemy as sa
from fastapi.testclient import TestClient
from sqlalchemy.engine import Engine

from collectors.demo import DemoCollector
from collectors.files import FileCollector, file_feed
from collectors.junit_files import JunitFileCollector, junit_feed
from collectors.runner import collector_job, store_sink
from collectors.selfstats import SelfStatsCollector
from core.alerts import store as alert_store
from core.alerts.engine import evaluate_all
from core.alerts.rules import load_yaml
from core.api.routes import create_api
from core.auth import tokens
from core.config import ROOT, Settings, load_settings
from core.ingest import ingest
from core.ingest.demo_data import purge_demo
from core.ingest.feeds import MIN_STEP_MS, FeedMark, feed_mark, record_feed
from core.model import Batch, Event, Sample, now_ms
from core.query.feeds import LATE_RATIO, ROW_SCHEMA, STALE_RATIO, feed_kind, feed_status, judge, load_feeds
from core.recording.job import evaluate_recording_rules
from core.store import schema
from core.ui.feeds_view import strip_frame, table_frame
from core.ui.timefmt import duration, duration_expr
from tests.alert_support import T0, alert_settings

S, MIN, DAY = 1_000, 60_000, 86_400_000
NOW = 1_767_225_600_000  # 2026-01-01 00:00 UTC
SETTINGS = load_settings(demo=False, collectors=False)  # the defaults: 300 s push interval, 7 d retirement


def rows(*feeds: tuple) -> pl.DataFrame:
    """Feed rows in the table's shape: (feed, last_data_ms, gaps, gap_ms, interval_ms)."""
    return pl.DataFrame(
        [(f, 0, data, data, 1, 1, gaps, gap, declared) for f, data, gaps, gap, declared in feeds],
        schema=ROW_SCHEMA,
        orient="row",
    )


def status_of(frame: pl.DataFrame) -> dict[str, str]:
    return dict(frame.select("feed", "status").iter_rows())


# -- pure rules ----------------------------------------------------------------------------------------------


def test_lag_ratio_and_status_follow_the_expected_interval() -> None:
    settings = SETTINGS
    judged = judge(
        rows(
            ("collector:system", NOW - 4 * S, 0, None, 5_000),  # 0.8 intervals: ok
            ("collector:prometheus:node:db-1:9100", NOW - 40 * S, 0, None, 15_000),  # 2.67: late
            ("collector:database:sqlite:p.db", NOW - 50 * S, 0, None, 15_000),  # 3.33: stale
            ("demo", NOW - 30 * S, 0, None, None),  # configured 10 s: exactly 3 → still late
            ("api:ci", NOW - 10 * MIN, 0, None, None),  # push default 300 s: exactly 2 → still ok
            ("files:migration.events.jsonl", NOW - 2 * 3_600 * S, 5, 1_800_000, None),  # learned 30 min: stale
            ("files:QSE-LOG", NOW - 3 * DAY, 2, 60_000, None),  # two gaps: not learned yet → unknown → ok
            ("recording", NOW - 8 * DAY, 9, 60_000, None),  # silent past feed_retire_after_s (7 d): retired
            ("collector:future", NOW + 5 * S, 0, None, 5_000),  # clock ahead: lag 0, never negative
        ),
        NOW,
        settings,
        tokens=["ci", "nightly"],  # "ci" pushed, "nightly" never did
    )
    by_feed = {r["feed"]: r for r in judged.iter_rows(named=True)}
    assert status_of(judged) == {
        "collector:system": "ok",
        "collector:prometheus:node:db-1:9100": "late",
        "collector:database:sqlite:p.db": "stale",
        "demo": "late",
        "api:ci": "ok",
        "api:nightly": "never",
        "files:migration.events.jsonl": "stale",
        "files:QSE-LOG": "ok",
        "recording": "retired",
        "collector:future": "ok",
    }
    assert by_feed["collector:system"]["lag_s"] == 4.0 and by_feed["collector:system"]["ratio"] == pytest.approx(0.8)
    assert by_feed["demo"]["ratio"] == STALE_RATIO and by_feed["api:ci"]["ratio"] == LATE_RATIO
    assert by_feed["collector:future"]["lag_s"] == 0.0
    assert {f: r["basis"] for f, r in by_feed.items()} == {
        "collector:system": "declared",
        "collector:prometheus:node:db-1:9100": "declared",
        "collector:database:sqlite:p.db": "declared",
        "demo": "configured",
        "api:ci": "push",
        "api:nightly": "push",
        "files:migration.events.jsonl": "learned",
        "files:QSE-LOG": "unknown",
        "recording": "learned",
        "collector:future": "declared",
    }
    assert by_feed["files:QSE-LOG"]["expected_s"] is None and by_feed["files:QSE-LOG"]["ratio"] is None
    assert by_feed["api:nightly"]["lag_s"] is None
    # worst first, then by name: what every listing shows on top
    assert judged["status"].to_list() == ["stale", "stale", "late", "late", "never", "ok", "ok", "ok", "ok", "retired"]


def test_a_declared_interval_beats_the_push_setting_and_settings_move_the_thresholds() -> None:
    settings = SETTINGS
    frame = rows(("api:agent-db-1", NOW - 50 * S, 0, None, 15_000), ("api:ci", NOW - 50 * S, 0, None, None))
    assert status_of(judge(frame, NOW, settings)) == {"api:agent-db-1": "stale", "api:ci": "ok"}
    quick = settings.model_copy(update={"feed_push_interval_s": 10.0, "feed_retire_after_s": 40.0})
    assert status_of(judge(frame, NOW, quick)) == {"api:agent-db-1": "retired", "api:ci": "retired"}


def test_no_feeds_and_no_tokens_is_an_empty_table() -> None:
    settings = SETTINGS
    judged = judge(rows(), NOW, settings)
    assert judged.is_empty() and judged.columns[:2] == ["feed", "kind"]
    assert strip_frame(judged).is_empty() and table_frame(judged).is_empty()


def test_feed_kinds_come_from_the_name_its_writer_gives_it() -> None:
    names = [
        "collector:system",
        "collector:prometheus:node:db-1:9100",
        "collector:database:postgresql:orders",
        "api",
        "api:ci",
        "files:QSE-LOG",
        "recording",
        "demo",
        "apiary",
    ]
    kinds = pl.DataFrame({"feed": names}).select(kind=feed_kind(pl.col("feed")))["kind"].to_list()
    assert kinds == ["collector", "prometheus", "database", "push", "push", "file", "recording", "demo", "other"]


def test_the_alert_rule_fires_where_the_pages_say_stale() -> None:
    rule = next(r for r in load_yaml((ROOT / "alert_rules.yaml").read_text()) if r.name == "feed_stale")
    assert (rule.selector, rule.op, rule.threshold) == ("pulseboard_feed_lag_ratio", ">", STALE_RATIO)
    assert rule.severity == "warning" and 0 < rule.for_ <= 600 and "{{ labels.feed }}" in rule.summary


def test_durations_are_worded_alike_for_one_value_and_for_a_column() -> None:
    seconds = [0.0, 0.4, 5.0, 59.9, 60.0, 119.0, 3_599.0, 3_600.0, 86_399.0, 86_400.0, 200_000.0, -3.0]
    column = pl.DataFrame({"s": seconds}).select(duration_expr(pl.col("s")))["s"].to_list()
    assert column == [duration(s) for s in seconds]
    assert column[:6] == ["0 s", "0 s", "5 s", "59 s", "1 min", "1 min"] and column[-3:] == ["1 d", "2 d", "0 s"]


def test_strip_and_table_say_the_lag_in_words_and_leave_retired_feeds_off_the_strip() -> None:
    settings = SETTINGS
    judged = judge(
        rows(
            ("collector:system", NOW - 4 * S, 0, None, 5_000),
            ("files:migration.events.jsonl", NOW - 2 * 3_600 * S, 5, 1_800_000, None),
            ("recording", NOW - 8 * DAY, 9, 60_000, None),
        ),
        NOW,
        settings,
        tokens=["nightly"],
    )
    strip = strip_frame(judged)
    assert strip.select("name", "status", "note").rows() == [
        ("files: migration.events.jsonl", "stale", "stale · 2 h"),
        ("api: nightly", "never", "never reported"),
        ("system", "ok", "ok · 4 s"),
    ]
    assert strip["detail"][2] == "newest data 4 s old; expected every 5 s (declared)"
    table = table_frame(judged)
    assert table.columns == ["feed", "kind", "last data", "expected", "interval from", "lag", "status"]
    assert table.row(-1) == table.row(by_predicate=pl.col("feed") == "recording")
    assert table.filter(pl.col("feed") == "recording").select("expected", "lag", "status").row(0) == (
        "1 min",
        "8 d",
        "retired",
    )


def test_a_batch_marks_its_newest_sample_or_event_and_an_empty_batch_marks_nothing() -> None:
    assert feed_mark("collector:files", (), ()) is None
    mark = feed_mark(
        "api:ci",
        (Sample.of("up", {}, 1.0, NOW - 5 * S), Sample.of("up", {}, 1.0, NOW - 9 * S)),
        (Event("e", "qa.defect_found", NOW - 2 * S, "qa", {}),),
        15.0,
    )
    assert mark is not None and (mark.feed, mark.newest_ms, mark.items, mark.interval_ms) == (
        "api:ci",
        NOW - 2 * S,
        3,
        15_000,
    )


def test_watched_files_name_their_feeds() -> None:
    assert file_feed("migration.events.jsonl") == "files:migration.events.jsonl"
    assert file_feed("migration.events.jsonl.1") == "files:migration.events.jsonl"  # the rotated copy is the same feed
    assert file_feed("QSE-LOG-2026-01-01-s7.yaml") == "files:QSE-LOG"  # one file per session: one feed for all
    assert file_feed("EvidenceBundle.rel-4.jsonl") == "files:EvidenceBundle"
    assert junit_feed({"component": "migration", "phase": "load"}) == "files:junit/migration"
    assert junit_feed({}) == "files:junit"


# -- the feeds table on a real store --------------------------------------------------------------------------


def one(name: str, ts: int) -> Batch:
    return Batch((Sample.of(name, {"host": "h"}, 1.0, ts),))


def test_ingest_records_each_feed_and_a_quiet_one_turns_late_then_stale(engine: Engine, settings: Settings) -> None:
    start = T0
    ingest(engine, one("system_load1", start), origin="collector:system", settings=settings, feed_interval_s=5)
    ingest(
        engine,
        Batch(events=(Event("m1", "migration.batch_completed", start - 20 * S, "mig", {}),)),
        origin="api",
        feed="api:migration-tool",
        settings=settings,
    )
    ingest(engine, Batch(), origin="collector:files", settings=settings)  # found nothing new: not a feed
    ingest(engine, one("qse_score_percent", start - 3 * S), origin="demo", settings=settings)
    ingest(engine, one("qse_score_percent", start - 9 * S), origin="demo", settings=settings)  # older: newest stays
    feeds = load_feeds(engine).sort("feed")
    assert feeds.select("feed", "last_data_ms", "batches", "items", "interval_ms").rows() == [
        ("api:migration-tool", start - 20 * S, 1, 1, None),
        ("collector:system", start, 1, 1, 5_000),
        ("demo", start - 3 * S, 2, 2, None),
    ]
    assert feeds["last_write_ms"].min() >= feeds["first_ms"].min() > 0

    # the system collector keeps delivering every 5 s, the migration tool has gone quiet
    seen = []
    for minute in (1, 4, 6, 11, 16):
        now = start + minute * MIN
        for ts in range(now - 30 * S, now + 1, 5 * S):
            ingest(engine, one("system_load1", ts), origin="collector:system", settings=settings, feed_interval_s=5)
        seen.append(status_of(feed_status(engine, settings, now)))
    assert [s["collector:system"] for s in seen] == ["ok"] * 5
    # push default 300 s: lag 80 s, 260 s, 380 s (late from 600 s), 680 s, 980 s (stale from 900 s)
    assert [s["api:migration-tool"] for s in seen] == ["ok", "ok", "ok", "late", "stale"]
    # the demo's 10 s: stale as soon as nothing arrives
    assert seen[0]["demo"] == "stale"


def test_tokens_that_may_ingest_are_feeds_before_they_push(engine: Engine, settings: Settings) -> None:
    tokens.create_token(engine, "nightly", ["ingest"], "root")
    tokens.create_token(engine, "dashboards", ["read"], "root")
    tokens.create_token(engine, "old", ["ingest"], "root", expires_ms=now_ms() - 1)
    gone, _ = tokens.create_token(engine, "gone", ["ingest"], "root")
    tokens.revoke_token(engine, gone.id, "root")
    assert status_of(feed_status(engine, settings, now_ms())) == {"api:nightly": "never"}


def test_the_api_renews_the_pushing_tokens_feed(engine: Engine, settings: Settings) -> None:
    secured = settings.model_copy(update={"auth": "on"})
    _, secret = tokens.create_token(engine, "qse-bot", ["ingest"], "root")
    tokens.create_token(engine, "nightly", ["ingest"], "root")
    before = now_ms()
    with TestClient(create_api(lambda: secured)) as api:
        reply = api.post(
            "/v1/events",
            json=[{"id": "q1", "type": "qse.compliance_scored", "timestamp": before / 1000, "source": "qse"}],
            headers={"Authorization": f"Bearer {secret}"},
        )
    assert reply.status_code == 200, reply.text
    judged = feed_status(engine, settings, before + 1_000)
    assert status_of(judged) == {"api:nightly": "never", "api:qse-bot": "ok"}
    assert judged.filter(pl.col("feed") == "api:qse-bot")["basis"].item() == "push"


def test_the_runner_declares_each_collectors_interval(engine: Engine, settings: Settings) -> None:
    class Quiet:
        name, interval = "quiet", 42.0

        def collect(self) -> Batch:
            return one("quiet_gauge", now_ms() - 1_000)

    collector_job(Quiet(), store_sink(settings, engine, {"collector:quiet": 42.0}))()
    row = load_feeds(engine).row(0, named=True)
    assert (row["feed"], row["interval_ms"]) == ("collector:quiet", 42_000)


def test_watched_files_and_junit_reports_renew_their_own_feeds(engine: Engine, settings: Settings, tmp_path) -> None:
    inbox = tmp_path / "inbox"
    (inbox / "junit" / "migration").mkdir(parents=True)
    ts = now_ms() - 60_000
    event = {"id": "m-1", "type": "migration.batch_completed", "timestamp": ts / 1000, "source": "mig", "data": {}}
    (inbox / "migration.events.jsonl").write_text(json.dumps(event) + "\n")
    (inbox / "junit" / "migration" / "load.xml").write_bytes(
        (ROOT / "data" / "samples" / "junit.sample.xml").read_bytes()
    )
    FileCollector(engine, inbox, settings=settings).collect()
    JunitFileCollector(engine, inbox, min_age_s=0).collect()
    feeds = set(load_feeds(engine)["feed"])
    assert feeds == {"files:migration.events.jsonl", "files:junit/migration"}
    JunitFileCollector(engine, inbox, min_age_s=0).collect()  # the same report again: stored once, renews nothing
    assert load_feeds(engine).filter(pl.col("feed") == "files:junit/migration")["batches"].item() == 1


def test_the_learned_interval_is_a_decaying_maximum_of_data_steps(engine: Engine) -> None:
    newest = [NOW, NOW + 200, NOW - 5_000]  # under a second forward, then older data: no step
    newest += [NOW + 10_000, NOW + 10_000, NOW + 20_000, NOW + 30_000]  # every 10 s (one delivery in two batches)
    newest += [NOW + 90_000]  # one long pause: taken at once
    newest += [NOW + 100_000, NOW + 110_000]  # back to 10 s: the estimate comes down by a tenth a step
    learned = []
    for n, ts in enumerate(newest):
        with engine.begin() as connection:  # arrival times a second apart: they do not matter
            record_feed(connection, FeedMark("files:a.events.jsonl", ts, 1), NOW + n * 1_000)
        row = load_feeds(engine).row(0, named=True)
        learned.append((row["gaps"], row["gap_ms"]))
    assert learned == [
        (0, None),
        (0, None),
        (0, None),
        (1, 9_800),
        (1, 9_800),
        (2, 10_000),
        (3, 10_000),
        (4, 60_000),
        (5, 54_000),
        (6, 48_600),
    ]
    assert MIN_STEP_MS == 1_000
    row = load_feeds(engine).row(0, named=True)
    assert (row["batches"], row["items"], row["first_ms"]) == (len(newest), len(newest), NOW)
    assert (row["last_data_ms"], row["last_write_ms"]) == (NOW + 110_000, NOW + (len(newest) - 1) * 1_000)


def test_purging_the_demo_forgets_its_feed(engine: Engine, settings: Settings) -> None:
    ingest(engine, Batch((Sample.of("qms_queue_depth", {"source": "demo"}, 3.0, T0),)), origin="demo")
    ingest(engine, one("system_load1", T0), origin="collector:system", feed_interval_s=5)
    purge_demo(engine)
    assert set(load_feeds(engine)["feed"]) == {"collector:system"}


# -- self metrics and the alert rule ---------------------------------------------------------------------------


def test_selfstats_writes_lag_and_ratio_per_reporting_feed(engine: Engine, settings: Settings) -> None:
    ingest(engine, one("system_load1", T0 - 4 * S), origin="collector:system", feed_interval_s=5)
    ingest(engine, one("loose", T0 - 30 * S), origin="files", feed="files:QSE-LOG")  # interval unknown
    ingest(engine, one("old", T0 - 8 * DAY), origin="api", feed="api:gone")  # retired
    tokens.create_token(engine, "nightly", ["ingest"], "root")  # never pushed
    stats = SelfStatsCollector(
        15, clock=lambda: T0 / 1000, host="h", feeds=lambda now: feed_status(engine, settings, now)
    )
    own = [
        s
        for s in stats.collect().samples
        if s.name in ("pulseboard_data_freshness_seconds", "pulseboard_feed_lag_ratio")
    ]
    assert sorted((s.name, dict(s.labels)["feed"], s.value) for s in own) == [
        ("pulseboard_data_freshness_seconds", "collector:system", 4.0),
        ("pulseboard_data_freshness_seconds", "files:QSE-LOG", 30.0),
        ("pulseboard_feed_lag_ratio", "collector:system", pytest.approx(0.8)),
    ]
    assert all(dict(s.labels).keys() == {"feed"} for s in own)  # no host: the store is shared by replicas


def alerts(engine: Engine) -> dict[str, str]:
    with engine.connect() as connection:
        found = connection.execute(
            sa.select(schema.alerts.c.labels, schema.alerts.c.state, schema.alerts.c.summary).where(
                schema.alerts.c.rule == "feed_stale"
            )
        ).all()
    return {labels: (state, summary) for labels, state, summary in found}


def test_feed_stale_fires_for_the_quiet_feed_only(engine: Engine, settings: Settings, tmp_path) -> None:
    cfg = alert_settings(settings, tmp_path)
    rule = next(r for r in load_yaml((ROOT / "alert_rules.yaml").read_text()) if r.name == "feed_stale")
    alert_store.save_rule(engine, rule, "tester")
    ingest(engine, one("migration_rows", T0), origin="collector:migration", feed_interval_s=15)
    clock = [T0 / 1000]
    stats = SelfStatsCollector(15, clock=lambda: clock[0], host="h", feeds=lambda now: feed_status(engine, cfg, now))
    states = []
    for step in range(0, 9 * 4):  # nine minutes, every 15 s: the system collector delivers, migration does not
        now = T0 + step * 15 * S
        clock[0] = now / 1000
        ingest(engine, one("system_load1", now), origin="collector:system", feed_interval_s=15)
        ingest(engine, stats.collect(), origin="collector:selfstats", settings=cfg)
        evaluate_all(engine, cfg, now + 1)
        states.append({labels: state for labels, (state, _) in alerts(engine).items()})
    found = alerts(engine)
    assert len(found) == 1, found  # no alert (not even pending) for the system feed
    ((labels, (state, summary)),) = found.items()
    assert '"feed":"collector:migration"' in labels and state == "firing"
    assert summary.startswith("Feed collector:migration is stale: its newest data is ")
    # ratio > 3 from 60 s on (45 s is exactly 3); for: 5m → pending from 1 min, firing 5 min later
    first_pending = next(i for i, s in enumerate(states) if s)
    first_firing = next(i for i, s in enumerate(states) if "firing" in s.values())
    assert (first_pending, first_firing) == (4, 24)

    ingest(engine, one("migration_rows", T0 + 9 * MIN), origin="collector:migration", feed_interval_s=15)
    clock[0] = (T0 + 9 * MIN + 15 * S) / 1000
    ingest(engine, stats.collect(), origin="collector:selfstats", settings=cfg)
    evaluate_all(engine, cfg, T0 + 9 * MIN + 15 * S + 1)
    assert [state for state, _ in alerts(engine).values()] == ["resolved"]


def test_a_fresh_install_with_the_demo_does_not_page(engine: Engine, settings: Settings, tmp_path) -> None:
    """Eight minutes of a new store as the scheduler runs it: demo every 10 s, system every 5 s, self-metrics and
    alerts every 15 s, recording every minute, an ingest token nobody has used yet. Every feed stays fresh."""
    cfg = alert_settings(settings, tmp_path)
    alert_store.save_rule(
        engine, next(r for r in load_yaml((ROOT / "alert_rules.yaml").read_text()) if r.name == "feed_stale"), "t"
    )
    tokens.create_token(engine, "nightly", ["ingest"], "root")
    start = (now_ms() - 3_600_000) // MIN * MIN
    clock = [start]
    demo = DemoCollector(engine, cfg, clock=lambda: clock[0], backfill_days=1)
    stats = SelfStatsCollector(
        cfg.selfstats_interval_s, clock=lambda: clock[0] / 1000, feeds=lambda now: feed_status(engine, cfg, now)
    )
    for second in range(0, 8 * 60):
        clock[0] = now = start + second * S
        if second % 10 == 0:
            demo.collect()
        if second % 5 == 0:
            ingest(engine, one("system_load1", now), origin="collector:system", settings=cfg, feed_interval_s=5)
        if second % 60 == 30:
            evaluate_recording_rules(engine, cfg, now=now)
        if second % 15 == 7:  # self-metrics and alerts run out of step with the others, as on a real scheduler
            ingest(engine, stats.collect(), origin="collector:selfstats", settings=cfg, feed_interval_s=15)
            evaluate_all(engine, cfg, now + 1)
    judged = feed_status(engine, cfg, clock[0])
    assert status_of(judged) == {
        "api:nightly": "never",
        "collector:selfstats": "ok",
        "collector:system": "ok",
        "demo": "ok",
        "recording": "ok",
    }
    assert judged.filter(pl.col("feed") == "demo")["ratio"].item() <= 1.0
    assert alerts(engine) == {}  # not even pending
