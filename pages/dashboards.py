"""Dashboards: pick, view, build, share, import/export user dashboards; ``?kiosk=1`` shows one on a wall.

The model, storage, sharing and provisioning are core.dashboards; drawing and the editor are
core.ui.dashboard_view. This script only wires the modes together and keeps the draft in the session.
URL: ``?d=<slug>`` picks a dashboard, ``?kiosk=1`` hides the chrome, ``&playlist=a,b&every=30`` rotates.
"""

from __future__ import annotations

import streamlit as st
from streamlit_autorefresh import st_autorefresh

from core.auth.catalogue import ROLES
from core.config import get_settings
from core.dashboards import model, store
from core.dashboards.provision import read_folder
from core.store import get_engine
from core.ui import builtin_levels_view
from core.ui import dashboard_view as view
from core.ui.login import client_address, require_page
from core.ui.text import md_escape

viewer = require_page("dashboards")
engine = get_engine()
params = st.query_params
saved = {s.slug: s for s in store.visible(engine, viewer)}
default = store.default_for(engine, viewer)

if params.get("kiosk") == "1":
    view.kiosk()
    playlist = [slug for slug in params.get("playlist", "").split(",") if slug in saved]
    every = min(max(int(params.get("every", "30")) if params.get("every", "30").isdigit() else 30, 5), 3600)
    if playlist:
        turn = st_autorefresh(interval=every * 1000, key="playlist") or 0
        slug = playlist[turn % len(playlist)]
    else:
        slug = params.get("d") or (default.slug if default else next(iter(saved), ""))
    shown = saved.get(slug)
    if shown is None:
        st.info(f"No dashboard {md_escape(slug)!s} to show here; check the name and that it is shared with you.")
        st.stop()
    st.title(shown.dashboard.title)  # the only heading on a wall screen
    range_key, values = view.controls(engine, shown.dashboard, viewer, compact=True)
    view.grid(engine, shown.dashboard, viewer, range_key, values)
    if shown.dashboard.time.refresh_s and not playlist:
        st_autorefresh(interval=shown.dashboard.time.refresh_s * 1000, key="refresh")
    st.stop()

st.title("Dashboards")
draft = st.session_state.get(view.DRAFT)  # {"doc": JSON dict, "version": int | None (new)}
pick_col, new_col = st.columns([4, 1], vertical_alignment="bottom")
slugs = list(saved)
PICK, SAVED = "dash-pick", "dash-saved"
if (pending := st.session_state.pop(PICK, None)) in saved:
    st.session_state["d"] = pending
start = params.get("d") or (default.slug if default else None)
current = pick_col.selectbox(
    "Dashboard",
    slugs,
    index=slugs.index(start) if start in slugs else 0 if slugs else None,
    format_func=lambda s: f"{saved[s].dashboard.title} ({s})",
    key="d",
    bind="query-params",
    placeholder="No dashboard yet: create one",
)
if new_col.button("New dashboard", icon=":material/add:", width="stretch"):
    n = len(saved) + 1
    st.session_state[view.DRAFT] = draft = {"doc": view.blank(f"dashboard-{n}", f"Dashboard {n}"), "version": None}
    view.bump()
chosen = saved.get(str(current)) if current else None
if draft is None or (draft["version"] is not None and chosen is not None and draft["doc"]["slug"] != chosen.slug):
    draft = None if chosen is None else {"doc": chosen.dashboard.model_dump(mode="json"), "version": chosen.version}
    st.session_state[view.DRAFT] = draft
    view.bump()
if message := st.session_state.pop(SAVED, None):  # said after the rerun that moved the picker to it
    st.success(message, icon=":material/check:")
if draft is None:
    st.info("No dashboard is shared with you yet. Press **New dashboard** to build one.", icon=":material/dashboard:")
    builtin_levels_view.section(engine, viewer)
    st.stop()

is_new = draft["version"] is None
editable = is_new or (chosen is not None and store.may_edit(chosen, viewer))
modes = (
    ["Edit"] if is_new else ["View", "Edit", "Share", "Import / export"] if editable else ["View", "Import / export"]
)
mode = st.segmented_control("Mode", modes, default=modes[0], required=True, key=f"mode-{len(modes)}") or modes[0]

if mode == "View" and chosen is not None:
    range_key, values = view.controls(engine, chosen.dashboard, viewer)
    if chosen.dashboard.description:
        st.caption(md_escape(chosen.dashboard.description))
    view.grid(engine, chosen.dashboard, viewer, range_key, values)
    view.kiosk_link(chosen.slug)
    if chosen.dashboard.time.refresh_s:
        st_autorefresh(interval=chosen.dashboard.time.refresh_s * 1000, key="refresh")
elif mode == "Edit":
    view.editor(engine, draft["doc"], viewer, is_new=is_new)
    save_col, cancel_col = st.columns([1, 4])
    if save_col.button("Save dashboard", type="primary", icon=":material/save:"):
        try:
            dashboard = model.validate(draft["doc"])
            draft["version"] = store.save(
                engine, dashboard, viewer, expected_version=draft["version"], address=client_address()
            )
        except model.DashboardError as error:
            view.save_problems(error.problems)
        except store.Conflict as error:
            st.error(md_escape(str(error)), icon=":material/error:")
            if draft["version"] is not None:  # saved elsewhere: the next run starts again from the stored version
                st.session_state.pop(view.DRAFT, None)
        except store.Refused as error:
            st.error(md_escape(str(error)), icon=":material/error:")
        else:
            st.session_state[PICK] = dashboard.slug  # applied to the picker before it is drawn on the rerun
            st.session_state[SAVED] = f"Saved {md_escape(dashboard.title)} (version {draft['version']})"
            st.rerun()
    if is_new and cancel_col.button("Discard new dashboard"):
        st.session_state.pop(view.DRAFT, None)
        st.rerun()
elif mode == "Share" and chosen is not None:
    st.caption(f"Owner: {md_escape(chosen.owner)} · version {chosen.version} · {md_escape(chosen.origin)}")
    with st.form("share"):
        roles = st.multiselect("Shared with roles", ROLES, default=list(chosen.shared_roles))
        defaults = st.multiselect(
            "Default dashboard of roles",
            ROLES,
            default=list(chosen.default_for),
            help="Opened first on this page by these roles (and shared with them). One default per role.",
        )
        if st.form_submit_button("Apply sharing", type="primary"):
            store.share(engine, chosen.slug, roles, viewer, default_for=defaults, address=client_address())
            st.rerun()
    if st.button("Delete this dashboard", icon=":material/delete:"):
        store.delete(engine, chosen.slug, viewer, address=client_address())
        st.session_state.pop(view.DRAFT, None)
        st.rerun()
elif mode == "Import / export":
    if chosen is not None:
        st.download_button(
            "Export JSON",
            model.export(chosen.dashboard),
            f"{chosen.slug}.json",
            "application/json",
            icon=":material/download:",
        )
    upload = st.file_uploader("Import a dashboard JSON file", type=["json"])
    if upload is not None and st.button("Open the file as a new draft", icon=":material/upload:"):
        try:
            imported = model.load(upload.getvalue().decode("utf-8", errors="replace"))
        except model.DashboardError as error:
            view.save_problems(error.problems)
        else:
            taken = imported.slug in saved or store.get(engine, imported.slug) is not None
            doc = imported.model_dump(mode="json") | ({"slug": f"{imported.slug}-copy"} if taken else {})
            st.session_state[view.DRAFT] = {"doc": doc, "version": None}
            view.bump()
            st.rerun()

builtin_levels_view.section(engine, viewer)
if "admin" in viewer.roles and (folder := get_settings().dashboards_dir) is not None:
    _, problems = read_folder(folder)
    if problems:
        with st.expander(f"Provisioning: {len(problems)} problem(s) in {folder.name}/", icon=":material/warning:"):
            st.markdown("\n".join(f"- {md_escape(str(p))}" for p in problems))
