"""The audit-log viewer drawn on the Admin and Audit log pages (Streamlit glue).

Filters by time, actor, action and target; the CSV download (core.ui.export) is itself audited.
"""

from __future__ import annotations

import streamlit as st
from sqlalchemy.engine import Engine

from core.auth import audit
from core.auth.access import Viewer, can
from core.model import now_ms
from core.ui.export import download_buttons

RANGES = {"Last 24 h": 1, "Last 7 days": 7, "Last 30 days": 30, "Last 90 days": 90, "Everything": None}


def render(engine: Engine, viewer: Viewer, address: str | None, key: str = "audit") -> None:
    """Filters, the newest matching entries, and a CSV download."""
    if not can(viewer, "view_audit_log"):
        st.error("Your roles do not include viewing the audit log.")
        return
    span, actor, actions, target = st.columns([1, 1, 2, 1])
    days = RANGES[span.selectbox("Time", list(RANGES), key=f"{key}_range")]
    who = actor.text_input("Actor", key=f"{key}_actor", placeholder="username")
    chosen = actions.multiselect("Actions", audit.action_names(engine), key=f"{key}_actions", placeholder="all actions")
    text = target.text_input("Target contains", key=f"{key}_target")
    since = None if days is None else now_ms() - days * 86_400_000
    frame = audit.entries(
        engine, since_ms=since, actor=who.strip().lower() or None, actions=tuple(chosen), text=text.strip()
    )
    st.caption(f"{frame.height:,} entries (newest first, at most 1,000)")
    st.dataframe(frame, hide_index=True, width="stretch", column_config={"id": None})
    download_buttons(  # actors, targets and details come from users: formula-looking CSV cells are neutralised
        frame,
        "pulseboard-audit",
        f"{key}_export",
        on_click=audit.record,
        args=(engine, viewer.username, audit.EXPORT, "audit_log", {"rows": frame.height}, address),
    )
