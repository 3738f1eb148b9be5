"""Data export from every table and chart: CSV, Parquet and JSON of exactly the rows a panel drew.

The writers live in core.reports.export (formula-looking CSV cells neutralised against spreadsheet formula
injection; times as UTC ISO 8601); this module puts them behind Streamlit download buttons so every page
exports the same way:

- :func:`data_menu` — the compact "Data" menu each panel carries: one small control opening CSV, Parquet and
  JSON downloads of the frame the panel drew (after the page's range and filters), with the columns the viewer
  may not see removed (core.auth.access.redact: a developer never exports cost fields). The bytes are built only
  when a format is clicked (Streamlit's deferred ``data=`` callable), so a page with twenty panels does not encode
  sixty files on every rerun; each download is audited. Files are named ``<page>-<panel>-<range>.<format>``.
- :func:`table` and :func:`chart` — ``st.dataframe`` / ``st.altair_chart`` plus that menu, for pages that draw a
  frame or an Altair chart themselves; ``core.ui.chrome.widget`` adds it to every registry widget. Every chart is
  drawn by :func:`drawn_chart`, which adds its text alternative and "Show data" table (core.ui.accessibility).
- :func:`download_buttons` — three full-size buttons, for the pages where export is the point (Explore, the audit
  log, the report history).

The page, range and viewer in file names and redaction come from :func:`set_scope`, which ``core.ui.chrome.page``
calls once per run; :func:`chart_frame` reads the rows out of an Altair chart. ``csv_bytes`` and ``neutralise``
are re-exported for the callers that predate this module.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from functools import partial
from typing import Any

import altair as alt
import polars as pl
import streamlit as st
from sqlalchemy.engine import Engine
from streamlit.runtime.scriptrunner import get_script_run_ctx

from core.auth import audit
from core.auth.access import Viewer, redact
from core.reports.export import FORMATS, FORMULA_STARTS, csv_bytes, data_bytes, neutralise
from core.ui import accessibility

LABELS = {"csv": "CSV", "parquet": "Parquet", "json": "JSON"}
SCOPE_KEY = "export_scope"
MENU_LABEL = "Data"


@dataclass(frozen=True)
class Scope:
    """Whose export it is and of what: the page slug, the chosen range (file names), the viewer (redaction) and
    where downloads are audited (the store and the client's address)."""

    page: str = "pulseboard"
    range_label: str = ""
    viewer: Viewer | None = None
    engine: Engine | None = None
    address: str | None = None


def set_scope(
    page: str, range_label: str, viewer: Viewer | None, *, engine: Engine | None = None, address: str | None = None
) -> None:
    """Record the page, range and viewer the panels of this run export for, and the store their downloads are
    audited in (``core.ui.chrome.page`` calls it)."""
    st.session_state[SCOPE_KEY] = Scope(page, range_label, viewer, engine, address)


def scope() -> Scope:
    """The scope :func:`set_scope` recorded for this session (a neutral one when no page set it)."""
    current = st.session_state.get(SCOPE_KEY)
    return current if isinstance(current, Scope) else Scope()


def slug(text: str) -> str:
    """``text`` as a file-name part: lower case letters, digits, dots and single hyphens."""
    return re.sub(r"-{2,}", "-", re.sub(r"[^a-z0-9.]+", "-", text.lower())).strip("-.") or "data"


def file_stem(page: str, panel: str, range_label: str = "") -> str:
    """``<page>-<panel>-<range>``: a downloaded file says where it came from and which period it covers."""
    return "-".join(slug(part) for part in (page, panel, range_label) if part)


def exported(frame: pl.DataFrame, viewer: Viewer | None) -> pl.DataFrame:
    """What ``viewer`` may take away of ``frame``: the same rows without the columns they may not see."""
    return frame if viewer is None else redact(frame, viewer)


def _frames(chart: Any) -> list[tuple[str, pl.DataFrame]]:
    """Every (mark, frame) an Altair chart draws, top level first, then its layers and sub-charts in order."""
    found: list[tuple[str, pl.DataFrame]] = []
    data = getattr(chart, "data", alt.Undefined)
    mark = getattr(chart, "mark", alt.Undefined)
    mark_name = mark if isinstance(mark, str) else str(getattr(mark, "type", "") or "")
    if isinstance(data, pl.DataFrame):
        found.append((mark_name, data))
    elif data is not alt.Undefined and hasattr(data, "columns") and hasattr(data, "to_dict"):
        found.append((mark_name, pl.from_pandas(data)))
    for attr in ("layer", "hconcat", "vconcat", "concat"):
        parts = getattr(chart, attr, None)
        if isinstance(parts, list):
            for part in parts:
                found.extend(_frames(part))
    return found


def chart_frame(chart: Any) -> pl.DataFrame:
    """The rows an Altair chart draws, as one frame.

    A chart with one data set gives it as it is. A layered chart whose layers draw different frames (a series
    and the deployments marked on it, a forecast and its actual values) gives them stacked, with a ``layer``
    column naming each row's mark; a frame drawn by several layers (a line and its points) appears once.
    """
    distinct: list[tuple[str, pl.DataFrame]] = []
    for mark, frame in _frames(chart):
        if not any(frame is seen for _, seen in distinct):
            distinct.append((mark, frame))
    if not distinct:
        return pl.DataFrame()
    if len(distinct) == 1:
        return distinct[0][1]
    return pl.concat(
        [
            frame.select(pl.lit(mark or f"layer {i + 1}").alias("layer"), pl.all())
            for i, (mark, frame) in enumerate(distinct)
        ],
        how="diagonal_relaxed",
    )


def _download(frame: pl.DataFrame, fmt: str, file_name: str, where: Scope) -> bytes:
    """The bytes of one export, built when its button is clicked; the download is audited like every export
    (``export`` action, target ``panel:<file name>``, with the row count and columns)."""
    if where.engine is not None:
        actor = where.viewer.username if where.viewer is not None else "local"
        detail = {"rows": frame.height, "columns": frame.columns}
        audit.record(where.engine, actor, audit.EXPORT, f"panel:{file_name}", detail, where.address)
    return data_bytes(frame, fmt)


def free_key(base: str) -> str:
    """``base``, or ``base-2``, ``base-3`` … when a panel of the same name already drew its menu in this run (a page
    drawing one config per queue); deterministic per run, so a live fragment's rerun gets the same keys."""
    run = get_script_run_ctx()
    used = getattr(getattr(run, "shared", None), "widget_user_keys_this_run", None)
    if used is None:
        return base
    candidate, n = base, 1
    while candidate in used:
        n += 1
        candidate = f"{base}-{n}"
    return candidate


def data_menu(frame: pl.DataFrame, panel: str, *, key: str | None = None) -> None:
    """The panel's small "Data" menu: CSV, Parquet and JSON of ``frame`` (redacted for the viewer), built on click.

    ``panel`` names the file (``<page>-<panel>-<range>.csv``); ``key`` (default: the panel name) keeps the buttons
    of two panels apart.
    """
    where = scope()
    shown = exported(frame, where.viewer)
    stem = file_stem(where.page, panel, where.range_label)
    rows = f"{shown.height:,} row{'s' if shown.height != 1 else ''}"
    base = free_key(f"export-{key or slug(panel)}")
    with st.popover(
        MENU_LABEL,
        icon=":material/download:",
        type="tertiary",
        help=f"Download the {rows} this panel shows as CSV, Parquet or JSON",
        key=base,
    ):
        st.caption(f"{rows} · {stem}")
        for fmt in FORMATS:
            st.download_button(
                LABELS[fmt],
                partial(_download, shown, fmt, f"{stem}.{fmt}", where),  # deferred: built only when clicked
                file_name=f"{stem}.{fmt}",
                mime=FORMATS[fmt],
                key=f"{base}-{fmt}",
                icon=":material/download:",
                disabled=shown.is_empty(),
                on_click="ignore",
                width="stretch",
            )


def table(frame: Any, panel: str, *, menu_key: str | None = None, **dataframe: Any) -> Any:
    """``st.dataframe(frame, **dataframe)`` followed by the panel's :func:`data_menu` of the same rows (``frame``
    is a polars frame or anything polars turns into one, such as a list of row dicts)."""
    rows = frame if isinstance(frame, pl.DataFrame) else pl.DataFrame(frame)
    drawn = st.dataframe(rows, **dataframe)
    with st.container(horizontal=True, horizontal_alignment="right"):  # under the table's right edge, out of the way
        data_menu(rows, panel, key=menu_key)
    return drawn


def drawn_chart(
    figure: Any,
    panel: str,
    panel_key: str,
    *,
    rows: pl.DataFrame | None = None,
    unit: str | None = None,
    **altair_chart: Any,
) -> Any:
    """``st.altair_chart`` with the chart's text alternative (core.ui.accessibility.chart): its "Show data" table
    holds the rows the Data menu exports (``rows``, else what the chart draws), redacted for the viewer alike."""

    def data() -> pl.DataFrame:
        return exported(rows if rows is not None else chart_frame(figure), scope().viewer)

    show_key = free_key(f"show-{panel_key}")
    return accessibility.chart(figure, title=panel, show_key=show_key, data=data, rows=rows, unit=unit, **altair_chart)


def chart(figure: Any, panel: str, *, menu_key: str | None = None, **altair_chart: Any) -> Any:
    """``st.altair_chart(figure, **altair_chart)`` with its text alternative (core.ui.accessibility.chart),
    followed by the :func:`data_menu` of the rows it draws; returns what ``st.altair_chart`` returned (the
    selection state of a clickable chart)."""
    state = drawn_chart(figure, panel, menu_key or slug(panel), **altair_chart)
    with st.container(horizontal=True, horizontal_alignment="right"):
        data_menu(chart_frame(figure), panel, key=menu_key)
    return state


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


__all__ = [
    "FORMULA_STARTS",
    "Scope",
    "chart",
    "chart_frame",
    "csv_bytes",
    "data_menu",
    "download_buttons",
    "drawn_chart",
    "exported",
    "file_stem",
    "free_key",
    "neutralise",
    "set_scope",
    "table",
]
