"""Audit log: who did what, when, from where (operations and admin)."""

from __future__ import annotations

import streamlit as st

from core.store import get_engine
from core.ui import audit_view
from core.ui.login import client_address, require_page

viewer = require_page("audit")

st.title("Audit log")
audit_view.render(get_engine(), viewer, client_address())
