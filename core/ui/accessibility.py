"""Accessibility on every page: display preferences, and a text alternative under every chart.

- :func:`apply` injects the style sheet of the viewer's preferences (core.ui.contrast: high contrast, text size,
  and a visible focus ring for everyone); pages/navigation.py calls it on every run, the login screen included.
- :func:`settings_menu` is the sidebar's "Accessibility" section where the viewer sets them. Pulseboard keeps no
  per-user preferences in its store, so they last for the browser session (every page of it).
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
from core.ui.text import md_escape

CONTRAST_KEY, SIZE_KEY = "a11y_high_contrast", "a11y_text_size"
SAVED_KEY = "a11y_prefs"  # survives runs in which the sidebar's controls are not drawn (the login screen)


def prefs() -> Prefs:
    """The viewer's preferences for this browser session (the defaults until they change them)."""
    saved = st.session_state.get(SAVED_KEY)
    return saved if isinstance(saved, Prefs) else Prefs()


def _save() -> None:
    size = st.session_state.get(SIZE_KEY)
    st.session_state[SAVED_KEY] = Prefs(
        bool(st.session_state.get(CONTRAST_KEY)), int(size) if size in TEXT_SIZES else 100
    )


def apply() -> None:
    """Inject the style sheet for the viewer's preferences (takes no room on the page)."""
    st.html(f"<style>{css(prefs())}</style>")


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
    summary = chart_text.describe(figure, rows, title, unit)
    shown = style_chart(figure, chosen).properties(description=summary)
    if chosen.high_contrast:
        altair_chart.setdefault("theme", None)  # Vega's plain black-on-white look; Streamlit's greys are fainter
    state = st.altair_chart(shown, **altair_chart)
    st.caption(md_escape(summary))  # label values come from whoever writes to the store
    with st.expander("Show data", type="compact", key=show_key, on_change="rerun") as box:
        if box.open:
            frame = data()
            st.dataframe(frame, hide_index=True, width="stretch", height=min(400, 36 + 35 * max(frame.height, 1)))
    return state


__all__ = ["apply", "chart", "prefs", "settings_menu"]
