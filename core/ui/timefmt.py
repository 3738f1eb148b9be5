"""Human wording for times, shared by every page.

:func:`duration` and :func:`duration_expr` word the same span the same way, one for a
single value and one as a polars expression for a whole column (feed lags, intervals), so
a table and a tile never disagree about "5 min".
"""

from __future__ import annotations

import polars as pl

from core.model import now_ms

UNITS = (("d", 86_400), ("h", 3_600), ("min", 60))


def duration(seconds: float) -> str:
    """'12 s', '5 min', '3 h', '2 d': the largest whole unit, rounded down (never negative)."""
    whole = max(0, int(seconds))
    for unit, size in UNITS:
        if whole >= size:
            return f"{whole // size} {unit}"
    return f"{whole} s"


def duration_expr(seconds: pl.Expr) -> pl.Expr:
    """:func:`duration` for a column of seconds; null stays null."""
    whole = seconds.clip(lower_bound=0).floor().cast(pl.Int64)
    worded = pl.concat_str(whole.cast(pl.String), pl.lit(" s"))
    for unit, size in reversed(UNITS):
        worded = (
            pl.when(whole >= size)
            .then(pl.concat_str((whole // size).cast(pl.String), pl.lit(f" {unit}")))
            .otherwise(worded)
        )
    return worded


def ago(ts_ms: int | None, now: int | None = None) -> str:
    """'12 s ago', '5 min ago', '3 h ago', '2 d ago', or 'never'."""
    if ts_ms is None:
        return "never"
    return f"{duration(((now_ms() if now is None else now) - ts_ms) // 1000)} ago"
