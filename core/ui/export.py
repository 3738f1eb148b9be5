"""Download buttons for tables: CSV, Parquet and JSON of exactly the rows a page shows (range and filters applied).

The writers live in core.reports.export (formula-looking CSV cells neutralised against spreadsheet formula
injection; times as UTC ISO 8601); this module puts them behind Streamlit download buttons so every page
exports the same way. ``csv_bytes`` and ``neutralise`` are re-exported for the callers that predate it.
"""

from __future__ import annotations

from collections.abc import Callable

import polars as pl
import streamlit as st

from core.reports.export import FORMATS, FORMULA_STARTS, csv_bytes, data_bytes, neutralise

LABELS = {"csv": "CSV", "parquet": "Parquet", "json": "JSON"}


def download_buttons(
    frame: pl.DataFrame,
    name: str,
    key: str,
    *,
    formats: tuple[str, ...] = tuple(FORMATS),
    on_click: Callable[..., None] | None = None,
    args: tuple[object, ...] = (),
) -> None:
    """One download button per format for ``frame`` ("Download CSV", "Parquet", "JSON") in a row; files are
    ``<name>.<format>``. ``on_click(*args)`` runs on each download (the pages audit exports with it)."""
    with st.container(horizontal=True):
        for fmt in formats:
            st.download_button(
                f"Download {LABELS[fmt]}" if fmt == formats[0] else LABELS[fmt],
                data_bytes(frame, fmt),
                file_name=f"{name}.{fmt}",
                mime=FORMATS[fmt],
                key=f"{key}-{fmt}",
                icon=":material/download:",
                disabled=frame.is_empty(),
                on_click=on_click or "ignore",
                args=args,
            )


__all__ = ["FORMULA_STARTS", "csv_bytes", "download_buttons", "neutralise"]
