"""Data feeds as the pages show them: the Overview strip (one tile per feed) and the Operations table.

core/query/feeds.py judges every feed (lag, expected interval, status); this module only
words it for people — lags and intervals through :mod:`core.ui.timefmt`, one colour per
status from the status grid's palette — so Overview and Operations say the same thing
in the same words. Pure polars, no Streamlit: the pages draw the frames with the widget
registry's ``status_grid`` and ``table`` kinds.
"""

from __future__ import annotations

import polars as pl

from core.ui import widgets as w
from core.ui.timefmt import duration_expr

STRIP = w.StatusGridConfig(
    title="Data feeds",
    columns=8,
    note="note",
    pick=False,
    help=(
        "One tile per source of data and how old its newest data is: late after twice its expected interval, "
        "stale after three times (the feed_stale alert). Operations lists every feed."
    ),
    empty="No feed has delivered data yet: collectors, API pushes and watched files appear here as they write.",
)
TABLE = w.TableConfig(
    title="Data feeds",
    help=(
        "Expected interval: declared by the collector's schedule, configured (demo), the push setting for API "
        "tokens, or learned from the feed's own gaps. Late: lag over 2×; stale: over 3×; retired: silent for longer "
        "than feed_retire_after_s."
    ),
    empty="No feeds yet: data arriving through ingest (collectors, API tokens, watched files) creates them.",
)


def display_name(feed: pl.Expr) -> pl.Expr:
    """``system`` for ``collector:system``, ``files: QSE-LOG`` for ``files:QSE-LOG``: short, and wraps at the space."""
    short = feed.str.strip_prefix("collector:")
    return short.str.replace(":", ": ", literal=True, n=1)


def _expected(seconds: pl.Expr) -> pl.Expr:
    """The expected interval in words; "unknown yet" while a feed without a configured one is still learning."""
    return pl.when(seconds.is_null()).then(pl.lit("unknown yet")).otherwise(duration_expr(seconds))


def strip_frame(judged: pl.DataFrame) -> pl.DataFrame:
    """Tiles for the Overview: every feed but the retired, name/status/note/detail as ``status_grid`` reads them."""
    lag = duration_expr(pl.col("lag_s"))
    return judged.filter(pl.col("status") != "retired").select(
        name=display_name(pl.col("feed")),
        status=pl.col("status"),
        note=pl.when(pl.col("status") == "never")
        .then(pl.lit("never reported"))
        .otherwise(pl.concat_str(pl.col("status"), pl.lit(" · "), lag)),
        detail=pl.when(pl.col("status") == "never")
        .then(pl.lit("an ingest token that has not pushed yet"))
        .otherwise(
            pl.concat_str(
                pl.lit("newest data "),
                lag,
                pl.lit(" old; expected every "),
                _expected(pl.col("expected_s")),
                pl.lit(" ("),
                pl.col("basis"),
                pl.lit(")"),
            )
        ),
    )


def table_frame(judged: pl.DataFrame) -> pl.DataFrame:
    """Rows for the Operations table: feed, kind, last data (UTC), expected interval and its basis, lag, status."""
    return judged.select(
        feed=pl.col("feed"),
        kind=pl.col("kind"),
        last_data=pl.from_epoch("last_data_ms", time_unit="ms").dt.replace_time_zone("UTC"),
        expected=_expected(pl.col("expected_s")),
        interval_from=pl.col("basis"),
        lag=duration_expr(pl.col("lag_s")).fill_null("—"),
        status=pl.col("status"),
    ).rename({"last_data": "last data", "interval_from": "interval from"})
