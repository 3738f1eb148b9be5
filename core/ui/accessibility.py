"""Accessibility on every page: display preferences, and a text alternative under every chart.

- :func:`apply` injects the style sheet of the viewer's preferences (core.ui.contrast: high contrast, text size,
  and a visible focus ring for everyone); pages/navigation.py calls it on every run, the login screen included.
- :func:`settings_menu` is the sidebar's "Accessibility" section where the viewer sets them. Pulseboard keeps no
  per-user preferences in its store, so they last for the browser session (every page of it) and ride along in
  the page's link (``?contrast=high&text=130``), which is how a reload, a bookmark or a wall screen keeps them.
- :func:`chart` draws an Altair chart the way every page does (through ``core.ui.export.drawn_chart``, which
  ``core.ui.chrome.widget`` and ``core.ui.export.chart`` call): styled for the preferences, with its one-line summary
  (core.ui.chart_text) as the chart's accessible description and as a caption under it, and a "Show data"
  table of the rows it draws, built only when opened.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import polars as pl
import streamlit as st

from core.ui import chart_text
from core.ui.contrast import TEXT_SIZES, Prefs, css, style_chart
from core.ui.schema_check import unchecked, with_properties
from core.ui.text import md_escape, md_plain

CONTRAST_KEY, SIZE_KEY = "a11y_high_contrast", "a11y_text_size"
SAVED_KEY = "a11y_prefs"  # survives runs in which the sidebar's controls are not drawn (the login screen)


def from_link(contrast: str | None, text: str | None) -> tuple[Prefs, list[str]]:
    """Preferences asked for in a link (``?contrast=high&text=130``) and the problems with what was asked: a
    link can open Pulseboard already in high contrast (a wall screen, a screenshot) without a click."""
    problems = []
    high = contrast == "high"
    if contrast not in (None, "high", "standard"):
        problems.append(f"contrast={contrast} is not 'high' or 'standard'")
    size = 100
    if text is not None:
        if text.isdigit() and int(text) in TEXT_SIZES:
            size = int(text)
        else:
            problems.append(f"text={text} is not a text size in % ({', '.join(map(str, TEXT_SIZES))})")
    return Prefs(high, size), problems


def prefs() -> Prefs:
    """The viewer's preferences for this browser session: what the first link of the session asked for
    (:func:`from_link`), then what they set in the sidebar."""
    saved = st.session_state.get(SAVED_KEY)
    if isinstance(saved, Prefs):
        return saved
    chosen, problems = from_link(st.query_params.get("contrast"), st.query_params.get("text"))
    for problem in problems:
        st.toast(f"Display setting ignored: {md_escape(problem)}.", icon=":material/warning:")
    st.session_state[SAVED_KEY] = chosen
    return chosen


def _save() -> None:
    size = st.session_state.get(SIZE_KEY)
    st.session_state[SAVED_KEY] = Prefs(
        bool(st.session_state.get(CONTRAST_KEY)), int(size) if size in TEXT_SIZES else 100
    )


def link_params(chosen: Prefs) -> dict[str, str]:
    """The link form of ``chosen`` (what :func:`from_link` reads back): only the settings that differ from the
    defaults, so a default viewer's links stay clean."""
    return ({"contrast": "high"} if chosen.high_contrast else {}) | (
        {"text": str(chosen.text_size)} if chosen.text_size != 100 else {}
    )


def apply() -> None:
    """Inject the style sheet for the viewer's preferences (takes no room on the page), and keep them in the
    page's link, so a reload or a copied link opens the same way (a new browser session starts from the link)."""
    chosen = prefs()
    st.html(f"<style>{css(chosen)}</style>")
    wanted = link_params(chosen)
    for name in ("contrast", "text"):
        if name in wanted and st.query_params.get(name) != wanted[name]:
            st.query_params[name] = wanted[name]
        elif name not in wanted and name in st.query_params:
            del st.query_params[name]


def settings_menu() -> None:
    """The sidebar's Accessibility section: a high-contrast switch and the text size."""
    current = prefs()
    st.session_state.setdefault(CONTRAST_KEY, current.high_contrast)
    st.session_state.setdefault(SIZE_KEY, current.text_size)
    with st.sidebar.expander("Accessibility", icon=":material/accessibility_new:"):
        st.toggle(
            "High contrast",
            key=CONTRAST_KEY,
            on_change=_save,
            help="Black on white with strong borders, underlined links and thicker chart lines.",
        )
        st.segmented_control(
            "Text size",
            TEXT_SIZES,
            key=SIZE_KEY,
            on_change=_save,
            required=True,
            format_func=lambda size: f"{size} %",
            help="Scales all text on every page, charts included.",
        )


def chart(
    figure: Any,
    *,
    title: str,
    show_key: str,
    data: Callable[[], pl.DataFrame],
    rows: pl.DataFrame | None = None,
    unit: str | None = None,
    **altair_chart: Any,
) -> Any:
    """``st.altair_chart(figure, **altair_chart)`` for the viewer's preferences, followed by the chart's text
    alternative: the summary sentence (from ``rows`` when given, else from what the chart draws) and a "Show
    data" expander (widget key ``show_key``) holding the table ``data()`` returns, called only while it is open.
    Returns what ``st.altair_chart`` returned (the selection of a clickable chart)."""
    chosen = prefs()
    summary = chart_text.describe(figure, rows, md_plain(title), unit)  # titles are Markdown; the summary is text
    shown = with_properties(style_chart(figure, chosen), description=summary)
    if chosen.high_contrast:
        altair_chart.setdefault("theme", None)  # Vega's plain black-on-white look; Streamlit's greys are fainter
    state = st.altair_chart(unchecked(shown), **altair_chart)
    st.caption(md_escape(summary))  # label values come from whoever writes to the store
    with st.expander("Show data", type="compact", key=show_key, on_change="rerun") as box:
        if box.open:
            frame = data()
            st.dataframe(frame, hide_index=True, width="stretch", height=min(400, 36 + 35 * max(frame.height, 1)))
    return state


__all__ = ["apply", "chart", "from_link", "link_params", "prefs", "settings_menu"]
