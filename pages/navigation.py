"""The script every browser session runs: page chrome and role-based navigation.

``app.py`` serves this through ``st.App``. It lives inside pages/ on purpose: a
``pages/`` folder *beside* the entry script switches on Streamlit's older automatic
multipage mode, in which the first deep link after a start (say /admin) runs that page
script directly, skipping this script, the login and the role menu.

Pages whose issue has not landed yet are shown as explicit placeholders, so the menu
already tells each audience what is coming. Nobody gets
past :func:`core.ui.login.gate` without logging in; the menu lists the viewer's pages
only, and every other page's URL answers with a refusal.
"""

from __future__ import annotations

import time
from pathlib import Path

import streamlit as st

from core import selfmetrics
from core.alerts.notify.inapp import SEEN_KEY, new_toasts
from core.alerts.views import firing_count
from core.auth.access import pages_for_viewer
from core.auth.catalogue import PAGES, SECTIONS, PageSpec
from core.config import ROOT
from core.ingest.demo_data import has_demo_data
from core.store import get_engine
from core.ui import accessibility
from core.ui.login import gate, refusal_page
from core.ui.outage import guarded, store_guard
from core.ui.text import md_escape

st.set_page_config(page_title="Pulseboard", page_icon=":material/monitor_heart:", layout="wide")
accessibility.apply()  # high contrast, text size and the focus ring, the login screen included


def _placeholder(spec: PageSpec) -> st.Page:
    def render() -> None:
        st.title(spec.title)
        where = f" (issue #{spec.issue})" if spec.issue else ""
        st.info(
            f"**Not built yet.** The {spec.title} page is planned{where}; nothing on it is real data yet.",
            icon=":material/construction:",
        )

    return st.Page(render, title=spec.title, icon=spec.icon, url_path=spec.slug)


def _page(spec: PageSpec, default: bool) -> st.Page:
    if spec.script and (ROOT / spec.script).exists():
        return st.Page(Path(ROOT / spec.script), title=spec.title, icon=spec.icon, url_path=spec.slug, default=default)
    return _placeholder(spec)


@guarded
@st.cache_data(ttl=30, show_spinner=False)
def _demo_in_store() -> bool:
    return has_demo_data(get_engine())


@guarded
@st.cache_data(ttl=10, show_spinner=False)
def _firing() -> int:
    return firing_count(get_engine())


@guarded
def _toasts(seen: int | None) -> tuple[list[str], int]:
    return new_toasts(get_engine(), seen)


# A store that cannot be reached shows a "store unavailable" banner instead of a traceback (core/ui/outage.py).
with store_guard():
    viewer = gate()  # login screen, forced password change or "no login" banner; stops when not logged in
specs = pages_for_viewer(viewer)
pages = {spec.slug: _page(spec, default=index == 0) for index, spec in enumerate(specs)}
sections: dict[str, list[st.Page]] = {}
for spec in specs:
    sections.setdefault(spec.section, []).append(pages[spec.slug])
# Pages the viewer may not open stay out of the menu but keep their URL, which answers with a refusal.
sections[specs[0].section] += [refusal_page(spec) for spec in PAGES if spec not in specs]
navigation = st.navigation({name: sections[name] for name in SECTIONS if name in sections})
if "alerts" in pages and (firing := _firing()):
    st.sidebar.page_link(
        pages["alerts"], label=f"{firing} alert{'s' * (firing != 1)} firing", icon=":material/notifications_active:"
    )
if "alerts" in pages:  # in-app toasts on every page, each new firing notification once per session
    toasts, st.session_state[SEEN_KEY] = _toasts(st.session_state.get(SEEN_KEY))
    for text in toasts:
        st.toast(md_escape(text), icon=":material/notifications:")  # an alert's summary carries label values
accessibility.settings_menu()
if _demo_in_store():
    st.sidebar.badge("Demo data", icon=":material/science:", color="orange")
    st.sidebar.caption("Figures include simulated data (`source=demo`); an admin can purge it.")
started = time.perf_counter()
try:
    with store_guard():
        navigation.run()
finally:  # pages end with st.stop(), which raises: time every run for the page-load SLA
    selfmetrics.record_page_run(navigation.url_path or specs[0].slug, time.perf_counter() - started)
