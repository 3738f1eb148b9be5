"""Dashboards → Built-in thresholds: admins set the warning/critical levels of the role pages' panels.

The panels and their shipped levels are core.dashboards.builtin's; this draws one editable
table per page, saves through :func:`core.dashboards.builtin.adjust` (admins only, versioned,
audited) and names the field of a refused value.
"""

from __future__ import annotations

import polars as pl
import streamlit as st
from sqlalchemy.engine import Engine

from core.auth.access import Viewer
from core.dashboards import builtin, model, store
from core.dashboards.kinds import Thresholds, WidgetConfig
from core.ui.login import client_address
from core.ui.text import md_escape

SAVED = "builtin-saved"


def levels_frame(page: str, panels: dict[str, WidgetConfig]) -> pl.DataFrame:
    """The panels of ``page`` that carry levels (``panels``: builtin.panels): id, title, unit, direction, levels."""
    tuned = {p.widget.key for p in builtin.shipped(page).widgets if p.widget.thresholds != Thresholds()}
    rows = [
        {
            "id": key,
            "panel": config.title,
            "unit": config.unit,
            "worse when": "higher" if config.thresholds.higher_is_worse else "lower",
            "warning": config.thresholds.warning,
            "critical": config.thresholds.critical,
        }
        for key, config in panels.items()
        if key in tuned
    ]
    schema = {"id": pl.String, "panel": pl.String, "unit": pl.String, "worse when": pl.String}
    return pl.DataFrame(rows, schema={**schema, "warning": pl.Float64, "critical": pl.Float64})


def edited_levels(frame: pl.DataFrame) -> dict[str, Thresholds]:
    """The levels an edited table asks for, by panel id."""
    return {
        row["id"]: Thresholds(
            warning=row["warning"], critical=row["critical"], higher_is_worse=row["worse when"] == "higher"
        )
        for row in frame.iter_rows(named=True)
    }


def section(engine: Engine, viewer: Viewer) -> None:
    """The admin's editor of built-in levels (nothing for other roles)."""
    if "admin" not in viewer.roles:
        return
    with st.expander("Built-in thresholds of the role pages", icon=":material/tune:"):
        st.caption(
            "Warning and critical levels of the KPI panels on the role pages. The page layouts stay as shipped; "
            "a change applies to every viewer on their next refresh and is kept as a new audited version."
        )
        page = st.selectbox("Page", builtin.PAGES, format_func=str.title, key="builtin-page")
        saved = store.get(engine, builtin.slug_of(page))
        version = None if saved is None else saved.version
        panels = builtin.panels(engine, page)
        st.caption(
            "Shipped levels (never adjusted)."
            if saved is None
            else f"Version {version}, last changed by {md_escape(saved.updated_by)}."
        )
        frame = levels_frame(page, panels)
        edited = st.data_editor(
            frame.to_pandas(),
            disabled=["id", "panel", "unit", "worse when"],
            hide_index=True,
            width="stretch",
            key=f"builtin-levels-{page}-{version}",
            column_config={
                "warning": st.column_config.NumberColumn("warning", help="Empty: no warning level."),
                "critical": st.column_config.NumberColumn("critical", help="Empty: no critical level."),
            },
        )
        save_col, reset_col, export_col = st.columns(3)
        if save_col.button("Save levels", type="primary", icon=":material/save:", key="builtin-save"):
            try:
                wanted = edited_levels(pl.from_pandas(edited).cast({"warning": pl.Float64, "critical": pl.Float64}))
                new = builtin.adjust(engine, page, wanted, viewer, expected_version=version, address=client_address())
            except model.DashboardError as error:
                st.error(
                    "Not saved: " + "; ".join(f"{md_escape(f)}: {md_escape(m)}" for f, m in error.problems),
                    icon=":material/error:",
                )
            except (store.Conflict, store.Refused) as error:
                st.error(md_escape(str(error)), icon=":material/error:")
            else:
                st.session_state[SAVED] = f"Saved the {page} levels (version {new})."
                st.rerun()
        if message := st.session_state.pop(SAVED, None):
            st.success(message, icon=":material/check:")
        if saved is not None and reset_col.button("Back to shipped levels", key="builtin-reset"):
            builtin.reset(engine, page, viewer, address=client_address())
            st.rerun()
        export_col.download_button(
            "Export JSON",
            model.export(builtin.adjusted(page, {k: c.thresholds for k, c in panels.items()})),
            f"{builtin.slug_of(page)}.json",
            "application/json",
            icon=":material/download:",
            key="builtin-export",
        )
