"""Admin: users (and their login sessions), API tokens and the audit log."""

from __future__ import annotations

import streamlit as st

from core.auth import audit, tokens, users
from core.auth.catalogue import ROLES
from core.config import get_settings
from core.ingest import demo_data
from core.model import now_ms
from core.store import get_engine
from core.ui import audit_view, export
from core.ui.login import client_address, require_page
from core.ui.text import md_escape

viewer = require_page("admin")
engine = get_engine()
settings = get_settings()
address = client_address()
export.set_scope("admin", "", viewer, engine=engine, address=address)  # the tables' "Data" menus


def show_secret_once(label: str, secret: str) -> None:
    st.success(f"{label} Copy it now: it is shown only this once.", icon=":material/key:")
    st.code(secret, language=None)


def users_tab() -> None:
    export.table(
        users.users_frame(engine, settings.auth_session_idle_timeout_s), hide_index=True, width="stretch", panel="users"
    )
    create, change = st.columns(2)
    with create.form("admin_create_user", clear_on_submit=True, border=True):
        st.subheader("Create user")
        name = st.text_input("Username", help="Lower-case letters, digits, '.', '_' or '-'.")
        display = st.text_input("Display name")
        email = st.text_input("Email")
        roles = st.multiselect("Roles", ROLES)
        if st.form_submit_button("Create", type="primary"):
            password = users.random_password()
            try:
                users.create_user(
                    engine,
                    name,
                    password,
                    roles,
                    display,
                    email,
                    must_change_password=True,
                    actor=viewer.username,
                    address=address,
                )
            except users.UserError as error:
                st.error(md_escape(error))  # it quotes the name as typed
            else:
                show_secret_once(
                    f"Created **{md_escape(users.normalise(name))}**; first-login password below (must be changed).",
                    password,
                )
    with change.container(border=True):
        st.subheader("Change user")
        everyone = users.list_users(engine)
        chosen = st.selectbox("User", [u.username for u in everyone], key="admin_user_pick")
        user = next((u for u in everyone if u.username == chosen), None)
        if user is None:
            return
        with st.form("admin_change_user"):
            roles = st.multiselect("Roles", ROLES, default=list(user.roles))
            disabled = st.checkbox("Disabled (cannot log in)", value=user.disabled)
            if st.form_submit_button("Save"):
                try:
                    users.update_user(
                        engine, user.username, roles=roles, disabled=disabled, actor=viewer.username, address=address
                    )
                    st.rerun()
                except users.UserError as error:
                    st.error(md_escape(error))
        if st.button("Reset password", icon=":material/lock_reset:", key="admin_reset_password"):
            password = users.random_password()
            users.set_password(
                engine, user.username, password, must_change=True, actor=viewer.username, address=address
            )
            show_secret_once(
                f"New password for **{md_escape(user.username)}** (must be changed at next login).", password
            )
        if st.button(
            "End sessions",
            icon=":material/logout:",
            key="admin_end_sessions",
            help="Log this user out of every browser now; a copied login cookie stops working too.",
        ):
            ended = users.end_sessions(engine, user.username, viewer.username, address)
            st.success(f"Ended {ended} session{'s' * (ended != 1)} of **{user.username}**.")


def tokens_tab() -> None:
    export.table(tokens.tokens_frame(engine), hide_index=True, width="stretch", panel="tokens")
    create, revoke = st.columns(2)
    with create.form("admin_create_token", clear_on_submit=True, border=True):
        st.subheader("Create token")
        name = st.text_input("Name", help="Who or what uses it, e.g. 'ci-runner-3'.")
        scopes = st.multiselect(
            "Scopes",
            tokens.SCOPES,
            default=["ingest"],
            help="ingest: push samples, events and reports. read: read the API as you — your roles decide which "
            "pages' numbers and which fields. admin: also acknowledge alerts and create or expire silences.",
        )
        days = st.number_input("Expires after (days; 0 = never)", min_value=0, max_value=3650, value=90)
        if st.form_submit_button("Create", type="primary"):
            expires = now_ms() + int(days) * 86_400_000 if days else None
            try:
                token, secret = tokens.create_token(engine, name, scopes, viewer.username, expires, address)
            except ValueError as error:
                st.error(md_escape(error))
            else:
                show_secret_once(f"Token **{md_escape(token.id)}** ({', '.join(token.scopes)}).", secret)
    with revoke.container(border=True):
        st.subheader("Revoke token")
        active = [t for t in tokens.list_tokens(engine) if t.revoked_ms is None]
        chosen = st.selectbox(
            "Token",
            [t.id for t in active],
            key="admin_token_pick",
            format_func=lambda i: next(f"{t.id} · {t.name}" for t in active if t.id == i),
        )
        if chosen and st.button("Revoke", icon=":material/block:", key="admin_revoke_token"):
            tokens.revoke_token(engine, chosen, viewer.username, address)
            st.rerun()


def demo_tab() -> None:
    if not demo_data.has_demo_data(engine):
        st.info("No demo data in the store.", icon=":material/check_circle:")
        return
    st.warning(
        "The store holds **demo data** (everything labelled `source=demo`). Purging deletes it and stops "
        "the demo workload from writing more; real data is untouched.",
        icon=":material/science:",
    )
    if st.button("Purge demo data", type="primary", icon=":material/delete_sweep:"):
        counts = demo_data.purge_demo(engine)
        audit.record(engine, viewer.username, audit.DEMO_PURGED, "demo", counts, address)
        st.success("Removed " + ", ".join(f"{n:,} {kind}" for kind, n in counts.items()) + ".")


st.title("Admin")
users_panel, tokens_panel, audit_panel, demo_panel = st.tabs(["Users", "API tokens", "Audit log", "Demo data"])
with users_panel:
    users_tab()
with tokens_panel:
    tokens_tab()
with audit_panel:
    audit_view.render(engine, viewer, address, key="admin_audit")
with demo_panel:
    demo_tab()
