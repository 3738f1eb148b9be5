"""Per-feed freshness: for every source of data, when it last delivered, how late it is, and what that means.

A single store-wide figure ("the newest sample of anything") was masked by whichever
source writes most often: the system collector every 5 s hid a QSE log or a migration
push that had stopped hours ago. So freshness is judged per *feed*, the name every batch
is ingested under (core/ingest/feeds.py records it in the batch's own transaction):
``collector:<name>`` (system, selfstats, ``prometheus:<job>:<instance>``, database, …),
``api:<token name>`` (``api`` with auth off), ``files:<file>`` / ``files:QSE-LOG`` /
``files:junit/<component>``, ``recording`` and ``demo``.

**Expected interval**, the first that applies (column ``basis``):

1. ``declared`` — the writer said how often it delivers: the runner sends each
   collector's configured interval with its batches;
2. ``configured`` — a feed whose schedule is a setting: ``demo`` → ``demo_interval_s``;
3. ``push`` — a feed pushed through the API → ``feed_push_interval_s`` (default 5 min);
4. ``learned`` — from the feed's own history once its newest data time has moved forward
   :data:`LEARN_AFTER_GAPS` times: the largest recent step, decaying by a tenth per smaller
   one (core/ingest/feeds.py), so a feed is only called late once it is quieter than it
   has recently been;
5. ``unknown`` — none of these (a file dropped once or twice): the lag is shown, the feed
   is never late or stale, so a one-off import cannot page anyone.

**Status**: ``never`` — an API token allowed to ingest that has not pushed yet (known
without data); ``ok`` — lag ≤ :data:`LATE_RATIO` × expected, or expected unknown; ``late``
— up to :data:`STALE_RATIO` ×; ``stale`` — beyond (the ``feed_stale`` alert rule reads the
same ratio, ``pulseboard_feed_lag_ratio``); ``retired`` — silent for longer than
``feed_retire_after_s``: listed, but off the Overview strip and out of the alert, so a
removed source is not reported forever. Lag is now − the newest sample or event time the
feed delivered (data time, not arrival: a spool replaying an outage is not fresh until it
has caught up).
"""

from __future__ import annotations

from collections.abc import Sequence

import polars as pl
import sqlalchemy as sa
from sqlalchemy.engine import Engine

from core.auth.tokens import list_tokens
from core.config import Settings
from core.store import schema

LATE_RATIO = 2.0  # a collector's lag runs up to one interval plus the run itself: twice is already unusual
STALE_RATIO = 3.0  # the feed_stale alert's threshold in alert_rules.yaml (a test keeps the two equal)
LEARN_AFTER_GAPS = 3
STATUSES = ("stale", "late", "never", "ok", "retired")  # worst first: the order of every listing
KINDS = ("collector", "prometheus", "database", "push", "file", "recording", "demo", "other")
ROW_SCHEMA = {
    "feed": pl.String,
    "first_ms": pl.Int64,
    "last_write_ms": pl.Int64,
    "last_data_ms": pl.Int64,
    "batches": pl.Int64,
    "items": pl.Int64,
    "gaps": pl.Int64,
    "gap_ms": pl.Int64,
    "interval_ms": pl.Int64,
}
STATUS_SCHEMA = {
    "feed": pl.String,
    "kind": pl.String,
    "last_data_ms": pl.Int64,
    "last_write_ms": pl.Int64,
    "expected_s": pl.Float64,
    "basis": pl.String,
    "lag_s": pl.Float64,
    "ratio": pl.Float64,
    "status": pl.String,
}


def load_feeds(engine: Engine) -> pl.DataFrame:
    """Every row of the ``feeds`` table (one per feed that ever delivered), as :data:`ROW_SCHEMA`."""
    table = schema.feeds
    with engine.connect() as connection:
        rows = connection.execute(sa.select(*(table.c[name] for name in ROW_SCHEMA))).all()
    return pl.DataFrame([tuple(r) for r in rows], schema=ROW_SCHEMA, orient="row")


def pushing_tokens(engine: Engine, now: int) -> list[str]:
    """Names of the API tokens that may ingest right now: each is a feed, ``never`` until it pushes."""
    return sorted(
        {
            t.name
            for t in list_tokens(engine)
            if "ingest" in t.scopes and t.revoked_ms is None and (t.expires_ms is None or t.expires_ms > now)
        }
    )


def feed_kind(feed: pl.Expr) -> pl.Expr:
    """What sort of source a feed name denotes (one of :data:`KINDS`), from the prefix its writer gives it."""
    return (
        pl.when(feed.str.starts_with("collector:prometheus:"))
        .then(pl.lit("prometheus"))
        .when(feed.str.starts_with("collector:database:"))
        .then(pl.lit("database"))
        .when(feed.str.starts_with("collector:"))
        .then(pl.lit("collector"))
        .when((feed == "api") | feed.str.starts_with("api:"))
        .then(pl.lit("push"))
        .when(feed.str.starts_with("files:"))
        .then(pl.lit("file"))
        .when(feed == "recording")
        .then(pl.lit("recording"))
        .when(feed == "demo")
        .then(pl.lit("demo"))
        .otherwise(pl.lit("other"))
    )


def judge(feeds: pl.DataFrame, now: int, settings: Settings, tokens: Sequence[str] = ()) -> pl.DataFrame:
    """Expected interval, lag, lag ratio and status of every feed at ``now`` (the rules in the module docstring).

    ``feeds`` has :data:`ROW_SCHEMA`; ``tokens`` are ingest token names, listed as ``never``
    when no feed of theirs exists. Pure: the same rows and ``now`` give the same answer.
    Sorted worst status first, then by name.
    """
    quiet = pl.DataFrame({"feed": [f"api:{name}" for name in tokens]}, schema={"feed": pl.String}).join(
        feeds.select("feed"), on="feed", how="anti"
    )
    frame = pl.concat([feeds.cast(ROW_SCHEMA), quiet], how="diagonal")  # type: ignore[arg-type]
    kind = feed_kind(pl.col("feed"))
    configured = pl.when(pl.col("feed") == "demo").then(pl.lit(round(settings.demo_interval_s * 1000)))
    push = pl.when(kind == "push").then(pl.lit(round(settings.feed_push_interval_s * 1000)))
    learned = pl.when(pl.col("gaps") >= LEARN_AFTER_GAPS).then(pl.col("gap_ms"))
    lag_ms = (pl.lit(now) - pl.col("last_data_ms")).clip(lower_bound=0)
    ratio = pl.col("lag_s") / pl.col("expected_s")
    return (
        frame.with_columns(
            kind=kind,
            expected_s=pl.coalesce(pl.col("interval_ms"), configured, push, learned).cast(pl.Float64) / 1000,
            basis=pl.when(pl.col("interval_ms").is_not_null())
            .then(pl.lit("declared"))
            .when(configured.is_not_null())
            .then(pl.lit("configured"))
            .when(push.is_not_null())
            .then(pl.lit("push"))
            .when(learned.is_not_null())
            .then(pl.lit("learned"))
            .otherwise(pl.lit("unknown")),
            lag_s=lag_ms.cast(pl.Float64) / 1000,
        )
        .with_columns(ratio=ratio)
        .with_columns(
            status=pl.when(pl.col("last_data_ms").is_null())
            .then(pl.lit("never"))
            .when(pl.col("lag_s") > settings.feed_retire_after_s)
            .then(pl.lit("retired"))
            .when(pl.col("ratio") > STALE_RATIO)
            .then(pl.lit("stale"))
            .when(pl.col("ratio") > LATE_RATIO)
            .then(pl.lit("late"))
            .otherwise(pl.lit("ok"))
        )
        .with_columns(_rank=pl.col("status").replace_strict(STATUSES, range(len(STATUSES))))
        .sort("_rank", "feed")
        .select(list(STATUS_SCHEMA))
        .cast(STATUS_SCHEMA)  # type: ignore[arg-type]
    )


def feed_status(engine: Engine, settings: Settings, now: int) -> pl.DataFrame:
    """Every feed judged at ``now``: the rows of the ``feeds`` table plus the tokens that never pushed."""
    return judge(load_feeds(engine), now, settings, pushing_tokens(engine, now))
