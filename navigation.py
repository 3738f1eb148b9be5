"""The script every browser session runs: page chrome and role-based navigation.

``app.py`` serves this through ``st.App``; ``streamlit run navigation.py`` also works
for a UI-only run. Pages whose issue has not landed yet are shown as explicit
placeholders, so the menu already tells each audience what is coming.
"""

from __future__ import annotations

from pathlib import Path

import streamlit as st

from core.config import ROOT
from core.pages import SECTIONS, PageSpec, pages_for

st.set_page_config(page_title="Pulseboard", page_icon=":material/monitor_heart:", layout="wide")


def _placeholder(spec: PageSpec) -> st.Page:
    def render() -> None:
        st.title(spec.title)
        where = f" (issue #{spec.issue})" if spec.issue else ""
        st.info(f"**Not built yet.** The {spec.title} page is planned{where}; nothing on it is real data yet.", icon=":material/construction:")

    return st.Page(render, title=spec.title, icon=spec.icon, url_path=spec.slug)


def _page(spec: PageSpec, default: bool) -> st.Page:
    if spec.script and (ROOT / spec.script).exists():
        return st.Page(Path(ROOT / spec.script), title=spec.title, icon=spec.icon, url_path=spec.slug, default=default)
    return _placeholder(spec)


role = st.session_state.get("role", "admin")
specs = pages_for(role)
sections: dict[str, list[st.Page]] = {}
for index, spec in enumerate(specs):
    sections.setdefault(spec.section, []).append(_page(spec, default=index == 0))
navigation = st.navigation({name: sections[name] for name in SECTIONS if name in sections})
navigation.run()
