"""Streamlit glue for login: who is viewing, the login and password screens, page checks.

The decisions live in core.auth.users (passwords, lock-out), core.auth.access (roles) and
core.auth.audit; this module only draws them. streamlit-authenticator keeps the login
cookie (a JWT signed with the installation's cookie key) and the password-change
form; its credentials are read from the users table on every run.

``st.session_state["viewer"]`` holds the logged-in :class:`~core.auth.access.Viewer`. It
is server-side state: no widget writes that key, so a browser cannot set it. Every
run re-reads the user from the store, so disabling a user or changing their roles
takes effect at their next click.

Slightly over 300 lines: the login, first-run and password screens share one cookie flow.
"""

from __future__ import annotations

import math
import os
import secrets
from typing import Any

import streamlit as st
import streamlit_authenticator as stauth
from sqlalchemy.engine import Engine
from streamlit_authenticator.utilities import CredentialsError, ResetError, Validator

from core.auth import audit, users
from core.auth.access import Viewer, may_open
from core.auth.catalogue import PAGES, PageSpec
from core.config import Settings, get_settings
from core.store import get_engine
from core.ui.netaddr import bound_to_localhost

VIEWER_KEY = "viewer"
COOKIE_NAME = "pulseboard_auth"
REFUSED_ICON = ":material/block:"
# The cookie component acts only once its frame has loaded, and the cookie manager's own
# first value triggers a rerun that may unmount it before then; so a cookie change is
# repeated on the next few full runs.
COOKIE_OP_KEY = "pulseboard_cookie_op"
COOKIE_OP_RUNS = 3


class PasswordRules(Validator):  # type: ignore[misc]
    """streamlit-authenticator's validator with Pulseboard's password rule."""

    def validate_password(self, password: str) -> bool:
        return users.password_problem(password) is None

    def diagnose_password(self, password: str) -> str:
        return users.password_problem(password) or ""


def auth_required(settings: Settings) -> bool:
    """Login is required unless switched off on a server bound to localhost."""
    return settings.auth == "on" or not bound_to_localhost()


def cookie_key(settings: Settings) -> str:
    """The installation's cookie-signing secret, created (mode 0600) on first use."""
    if settings.cookie_key is not None:
        return settings.cookie_key.get_secret_value()
    path = settings.data_dir / "secrets" / "cookie_key"
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        return path.read_text().strip()
    with os.fdopen(fd, "w") as handle:
        handle.write(secrets.token_urlsafe(48))
    return path.read_text().strip()


def client_address() -> str | None:
    address = st.context.ip_address
    return address if isinstance(address, str) else None


def _authenticator(engine: Engine, settings: Settings) -> tuple[stauth.Authenticate, dict[str, Any]]:
    credentials = users.credentials(engine)
    authenticator = stauth.Authenticate(
        credentials,
        COOKIE_NAME,
        cookie_key(settings),
        settings.auth_cookie_expiry_days,
        validator=PasswordRules(),
        auto_hash=False,
    )
    return authenticator, credentials


def current_viewer(settings: Settings | None = None) -> Viewer | None:
    """The viewer of this session, re-read from the store; None when nobody is logged in."""
    settings = settings or get_settings()
    if not auth_required(settings):
        return Viewer.of("local", [st.session_state.get("role", "admin")], "Local user (no login)")
    held = st.session_state.get(VIEWER_KEY)
    if not isinstance(held, Viewer):
        return None
    user = users.get_user(get_engine(settings), held.username)
    if user is None or user.disabled:
        st.session_state.pop(VIEWER_KEY, None)
        return None
    viewer = user.viewer()
    st.session_state[VIEWER_KEY] = viewer
    return viewer


def require_page(slug: str) -> Viewer:
    """First line of every page script: the viewer, or a refusal and a stopped script."""
    viewer = current_viewer()
    if viewer is None or viewer.must_change_password or not may_open(viewer, slug):
        refuse(slug, viewer)
    assert viewer is not None
    return viewer


def refuse(slug: str, viewer: Viewer | None) -> None:
    """Say the page is not available to this viewer, audit it, and stop the script."""
    actor = viewer.username if viewer else "anonymous"
    audit.record(get_engine(), actor, audit.PAGE_REFUSED, slug, {}, client_address())
    st.title("Access refused")
    st.error(
        f"Your account ({actor}) may not open the page **{slug}**. Ask an administrator if you need it.",
        icon=":material/block:",
    )
    st.stop()


def refusal_page(spec: PageSpec) -> st.Page:
    """A hidden page at ``spec``'s URL that refuses, for roles that may not open it."""

    def render() -> None:
        refuse(spec.slug, current_viewer())

    return st.Page(render, title=spec.title, icon=REFUSED_ICON, url_path=spec.slug, visibility="hidden")


def _establish(authenticator: stauth.Authenticate, user: users.User, set_cookie: bool) -> None:
    authenticator.authentication_controller.login(token={"username": user.username})
    if set_cookie and get_settings().auth_cookie_expiry_days > 0:
        st.session_state[COOKIE_OP_KEY] = ("set", COOKIE_OP_RUNS)
    st.session_state[VIEWER_KEY] = user.viewer()


def _pending_cookie_op(authenticator: stauth.Authenticate, logged_in: bool) -> None:
    operation, runs = st.session_state.get(COOKIE_OP_KEY) or (None, 0)
    if operation == "set" and logged_in:
        authenticator.cookie_controller.set_cookie()
    elif operation == "delete":
        authenticator.cookie_controller.delete_cookie()
    if runs > 1:
        st.session_state[COOKIE_OP_KEY] = (operation, runs - 1)
    else:
        st.session_state.pop(COOKIE_OP_KEY, None)


def _login_from_cookie(authenticator: stauth.Authenticate, engine: Engine, settings: Settings) -> bool:
    token = authenticator.cookie_controller.get_cookie()
    if not token or "username" not in token:
        return False
    user = users.get_user(engine, token["username"])
    issued_ms = (token["exp_date"] - settings.auth_cookie_expiry_days * 86_400) * 1000
    if user is None or user.disabled or user.updated_ms > issued_ms + 1_000:
        return False  # the account changed (password, roles, disabled) after this cookie was issued
    _establish(authenticator, user, set_cookie=False)
    audit.record(engine, user.username, audit.LOGIN, user.username, {"via": "cookie"}, client_address())
    return True


def _login_screen(authenticator: stauth.Authenticate, engine: Engine, settings: Settings) -> None:
    middle = st.columns([1, 1.2, 1])[1]
    with middle:
        st.title(":material/monitor_heart: Pulseboard")
        with st.form("pulseboard_login"):
            st.subheader("Log in")
            username = st.text_input("Username", autocomplete="username")
            password = st.text_input("Password", type="password", autocomplete="current-password")
            submitted = st.form_submit_button("Log in", type="primary", width="stretch")
        if not submitted:
            st.caption(
                "First run? The administrator's one-time password is in the server log and in data/admin-password.txt."
            )
            return
        result = users.authenticate(
            engine,
            username,
            password,
            client_address(),
            free_attempts=settings.auth_lockout_free_attempts,
            max_delay_s=settings.auth_lockout_max_s,
        )
        if result.user is not None:
            _establish(authenticator, result.user, set_cookie=True)
            st.rerun()
        elif result.reason == "locked":
            st.error(
                f"Too many failed logins for this name. Try again in {math.ceil(result.retry_after_s)} s.",
                icon=":material/lock_clock:",
            )
        elif result.reason == "disabled":
            st.error("This account is disabled. Ask an administrator.", icon=":material/person_off:")
        else:
            wait = (
                f" Further attempts for this name are blocked for {math.ceil(result.retry_after_s)} s."
                if result.retry_after_s
                else ""
            )
            st.error("Invalid username or password." + wait, icon=":material/error:")


def _password_form(authenticator: stauth.Authenticate, credentials: dict[str, Any], viewer: Viewer, key: str) -> bool:
    """streamlit-authenticator's change-password form; stores the new hash. True on success."""
    engine, settings = get_engine(), get_settings()
    try:
        changed = authenticator.reset_password(
            viewer.username,
            fields={
                "Form name": "Change password",
                "Current password": "Current password",
                "New password": "New password",
                "Repeat password": "Repeat new password",
                "Reset": "Change password",
            },
            key=key,
        )
    except (CredentialsError, ResetError) as error:
        message = "Current password is wrong." if isinstance(error, CredentialsError) else str(error)
        st.error(message)
        return False
    if not changed:
        st.caption(f"At least {users.MIN_PASSWORD_CHARS} characters.")
        return False
    new_hash = credentials["usernames"][viewer.username]["password"]
    users.store_password_hash(engine, viewer.username, new_hash, client_address())
    if viewer.username == users.FIRST_ADMIN:
        users.forget_first_password(settings.data_dir)
    refreshed = users.get_user(engine, viewer.username)
    if refreshed is not None:
        st.session_state[VIEWER_KEY] = refreshed.viewer()
    return True


def _forced_change_screen(authenticator: stauth.Authenticate, credentials: dict[str, Any], viewer: Viewer) -> None:
    middle = st.columns([1, 1.2, 1])[1]
    with middle:
        st.title("Choose a new password")
        st.info(
            f"**{viewer.username}**: your password was set by the system or an administrator. "
            "Choose your own before going on.",
            icon=":material/key:",
        )
        if _password_form(authenticator, credentials, viewer, key="forced_password_change"):
            st.rerun()
        if st.button("Log out", key="forced_logout"):
            _logout(authenticator, viewer)


def _logout(authenticator: stauth.Authenticate, viewer: Viewer) -> None:
    audit.record(get_engine(), viewer.username, audit.LOGOUT, viewer.username, {}, client_address())
    authenticator.authentication_controller.logout()  # also stops this session from re-reading the cookie
    st.session_state[COOKIE_OP_KEY] = ("delete", COOKIE_OP_RUNS)
    st.session_state.pop(VIEWER_KEY, None)
    st.rerun()


def _account_sidebar(authenticator: stauth.Authenticate, credentials: dict[str, Any], viewer: Viewer) -> None:
    with st.sidebar:
        st.caption(f":material/person: **{viewer.display_name}** · {', '.join(sorted(viewer.roles))}")
        log_out, change = st.columns(2)
        if log_out.button("Log out", icon=":material/logout:", key="sidebar_logout", width="stretch"):
            _logout(authenticator, viewer)
        with change.popover("Password", key="sidebar_password", width="stretch", help="Change your password"):
            if _password_form(authenticator, credentials, viewer, key="sidebar_password_change"):
                st.success("Password changed.")


def _only(render: Any, title: str) -> None:
    """Run ``render`` whatever URL was asked for; every page URL stays put for after login."""
    pages = [st.Page(render, title=title, url_path="login", default=True)]
    pages += [st.Page(render, title=title, url_path=spec.slug, visibility="hidden") for spec in PAGES]
    st.navigation(pages, position="hidden").run()
    st.stop()


def gate() -> Viewer:
    """The logged-in viewer; otherwise draw the login (or forced password change) and stop."""
    settings = get_settings()
    if not auth_required(settings):
        viewer = current_viewer(settings)
        assert viewer is not None
        st.warning(
            "**No login** — PULSEBOARD_AUTH=off: anyone who can reach this machine's localhost port has full access.",
            icon=":material/lock_open:",
        )
        return viewer
    engine = get_engine(settings)
    users.ensure_first_admin(engine, settings.data_dir)
    authenticator, credentials = _authenticator(engine, settings)
    viewer = current_viewer(settings)
    if viewer is None and _login_from_cookie(authenticator, engine, settings):
        viewer = current_viewer(settings)
    _pending_cookie_op(authenticator, logged_in=viewer is not None)
    if viewer is None:
        _only(lambda: _login_screen(authenticator, engine, settings), "Log in")
    assert viewer is not None
    if not st.session_state.get("authentication_status"):  # session set up outside the login form (tests)
        authenticator.authentication_controller.login(token={"username": viewer.username})
    if viewer.must_change_password:
        _only(lambda: _forced_change_screen(authenticator, credentials, viewer), "Change password")
    _account_sidebar(authenticator, credentials, viewer)
    return viewer
