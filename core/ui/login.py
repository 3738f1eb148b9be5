"""Streamlit glue for login: who is viewing, the login and password screens, page checks.

The decisions live in core.auth.users (passwords, lock-out), core.auth.sessions (server-side
sessions), core.auth.access (roles) and core.auth.audit; this module only draws them.

A login starts a session in the store; ``st.session_state`` keeps its secret (server-side
state: no widget writes that key, so a browser cannot set it) and every run, fragment reruns
of live panels included, asks the store whether the session is still live and its user still
enabled (:func:`current_viewer`). A logout, a password change or an administrator's "End
sessions" revokes it, and the browser is back at the login at its next click.

The re-login cookie carries the same session secret, in a JWT signed with the installation's
cookie key (:func:`core.auth.sessions.encode_cookie`); a new browser session reads it from
the handshake and resumes the session only while the store says it is live, so a cookie
copied before a logout is refused after it. Streamlit gives the script no HTTP response to
set a header on, so the page posts the cookie to the server's ``/auth/session`` right after
the login, and the server sets it HttpOnly (core/api/session_cookie.py); a logout has the
server clear it. Pulseboard's own form checks passwords, under the same lock-out as the login.

Slightly over 300 lines: the login, first-run and password screens share one session flow.
"""

from __future__ import annotations

import functools
import json
import math
from collections.abc import Callable
from typing import Any, TypeVar

import streamlit as st
from sqlalchemy.engine import Engine
from streamlit.runtime.scriptrunner import get_script_run_ctx

from core.auth import audit, sessions, users
from core.auth.access import Viewer, may_open
from core.auth.catalogue import PAGES, PageSpec
from core.config import Settings, get_settings
from core.model import now_ms
from core.store import get_engine
from core.ui.netaddr import bound_to_localhost
from core.ui.text import md_escape

F = TypeVar("F", bound=Callable[..., Any])
VIEWER_KEY = "viewer"
SESSION_KEY = "pulseboard_session"  # the session secret, server-side
REFUSED_COOKIE_KEY = "pulseboard_refused_cookie"  # a cookie already refused is not checked again
NOTICE_KEY = "pulseboard_login_notice"
REFUSED_ICON = ":material/block:"
COOKIE_OP_KEY = "pulseboard_cookie_op"  # a cookie change for the server to make, drawn in the next run


def auth_required(settings: Settings) -> bool:
    """Login is required unless switched off on a server bound to localhost."""
    return settings.auth == "on" or not bound_to_localhost()


def client_address() -> str | None:
    address = st.context.ip_address
    return address if isinstance(address, str) else None


def browser_cookie() -> str | None:
    """The login cookie as the browser sent it when this session connected (None when it sent none)."""
    value = st.context.cookies.get(sessions.COOKIE_NAME)
    return value if isinstance(value, str) else None


def _forget_session() -> None:
    for key in (SESSION_KEY, VIEWER_KEY):
        st.session_state.pop(key, None)


def current_viewer(settings: Settings | None = None) -> Viewer | None:
    """The viewer of this session if its store session is live and its user enabled; None otherwise."""
    settings = settings or get_settings()
    if not auth_required(settings):
        return Viewer.of("local", [st.session_state.get("role", "admin")], "Local user (no login)")
    secret = st.session_state.get(SESSION_KEY)
    user = (
        users.session_user(get_engine(settings), secret, idle_s=settings.auth_session_idle_timeout_s)
        if isinstance(secret, str)
        else None
    )
    if user is None:
        if secret is not None and not st.session_state.get(COOKIE_OP_KEY):  # ended elsewhere: drop its cookie
            st.session_state[COOKIE_OP_KEY] = ("delete", "")
        _forget_session()
        return None
    viewer = user.viewer()
    st.session_state[VIEWER_KEY] = viewer
    return viewer


def fragment(run_every: float | None) -> Callable[[F], F]:
    """``st.fragment(run_every=...)`` whose reruns check the login session first.

    A fragment rerun skips :func:`gate`, so without this a live panel would go on refreshing
    in a browser whose session was ended; once it has, the whole app reruns and shows the login.
    """

    def decorate(render: F) -> F:
        @functools.wraps(render)
        def checked(*args: Any, **kwargs: Any) -> Any:
            run = get_script_run_ctx()
            if run is not None and run.fragment_ids_this_run and current_viewer() is None:
                st.rerun(scope="app")
            return render(*args, **kwargs)

        return st.fragment(run_every=run_every)(checked)  # type: ignore[return-value]

    return decorate


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
        f"Your account ({md_escape(actor)}) may not open the page **{md_escape(slug)}**. "
        "Ask an administrator if you need it.",
        icon=":material/block:",
    )
    st.stop()


def refusal_page(spec: PageSpec) -> st.Page:
    """A hidden page at ``spec``'s URL that refuses, for roles that may not open it."""

    def render() -> None:
        refuse(spec.slug, current_viewer())

    return st.Page(render, title=spec.title, icon=REFUSED_ICON, url_path=spec.slug, visibility="hidden")


def _establish(engine: Engine, settings: Settings, user: users.User) -> None:
    """Start a store session for ``user`` in this browser session and have the browser keep its cookie."""
    session, secret = sessions.start(
        engine,
        user.username,
        client_address(),
        idle_s=settings.auth_session_idle_timeout_s,
        absolute_s=settings.auth_session_absolute_timeout_s,
    )
    st.session_state[SESSION_KEY] = secret
    st.session_state[VIEWER_KEY] = user.viewer()
    if settings.auth_cookie_expiry_days > 0:
        expires_ms = min(session.expires_ms, now_ms() + int(settings.auth_cookie_expiry_days * 86_400_000))
        st.session_state[COOKIE_OP_KEY] = (
            "set",
            sessions.encode_cookie(secret, sessions.cookie_key(settings), expires_ms),
        )


def _pending_cookie_op(logged_in: bool) -> None:
    """Hand a cookie change to the server, once: the page posts it and the answer sets or clears the cookie.

    The element is drawn in this run only; the request it starts outlives it.
    """
    operation, value = st.session_state.pop(COOKIE_OP_KEY, None) or (None, "")
    if operation == "set" and logged_in:
        request = f"fetch('/auth/session', {{{_POST}, body: JSON.stringify({{cookie: {_js_string(value)}}})}})"
    elif operation == "delete":
        request = f"fetch('/auth/logout', {{{_POST}, body: '{{}}'}})"
    else:
        return
    hide = "<style>.stElementContainer:has(.pb-cookie-op) {display: none}</style>"  # no empty gap for it
    st.html(f'{hide}<span class="pb-cookie-op"></span><script>{request};</script>', unsafe_allow_javascript=True)


_POST = "method: 'POST', credentials: 'same-origin', keepalive: true, headers: {'Content-Type': 'application/json'}"


def _js_string(value: str) -> str:
    """``value`` as a JavaScript string literal that cannot close the script element."""
    return json.dumps(value).replace("<", "\\u003c")


def _login_from_cookie(engine: Engine, settings: Settings) -> Viewer | None:
    """Resume the session the browser's cookie names, if the store says it is live; else None.

    Anything but a live session (a forged, garbled or old-format cookie, one whose session
    was ended or timed out) is "not logged in", and the browser is told to drop the cookie.
    """
    value = browser_cookie()
    if value is None or value == st.session_state.get(REFUSED_COOKIE_KEY):
        return None
    secret = sessions.decode_cookie(value, sessions.cookie_key(settings))
    user = users.session_user(engine, secret, idle_s=settings.auth_session_idle_timeout_s) if secret else None
    if user is None or secret is None:
        st.session_state[REFUSED_COOKIE_KEY] = value
        if not st.session_state.get(COOKIE_OP_KEY):
            st.session_state[COOKIE_OP_KEY] = ("delete", "")
        return None
    st.session_state[SESSION_KEY] = secret
    viewer = user.viewer()
    st.session_state[VIEWER_KEY] = viewer
    audit.record(engine, user.username, audit.LOGIN, user.username, {"via": "cookie"}, client_address())
    return viewer


def _login_screen(engine: Engine, settings: Settings) -> None:
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
            _establish(engine, settings, result.user)
            st.rerun()
        elif result.reason == "locked":
            st.error(
                f"Too many failed logins for this name. Try again in {math.ceil(result.retry_after_s)} s.",
                icon=":material/lock_clock:",
            )
        elif result.reason == "disabled":
            st.error("This account is disabled. Ask an administrator.", icon=":material/person_off:")
        else:
            st.error("Invalid username or password." + _blocked(result), icon=":material/error:")


def _blocked(result: users.LoginResult) -> str:
    seconds = math.ceil(result.retry_after_s)
    return f" Further attempts for this name are blocked for {seconds} s." if seconds else ""


def _password_form(engine: Engine, settings: Settings, viewer: Viewer, key: str) -> bool:
    """The change-password form; the current password is checked under the login lock-out. True on success.

    On success every session of the user has ended (a cookie copied earlier is refused) and
    this browser gets a new one.
    """
    with st.form(key, clear_on_submit=True):
        current = st.text_input("Current password", type="password", autocomplete="current-password")
        new = st.text_input("New password", type="password", autocomplete="new-password")
        repeat = st.text_input("Repeat new password", type="password", autocomplete="new-password")
        submitted = st.form_submit_button("Change password", type="primary")
    if not submitted:
        st.caption(f"At least {users.MIN_PASSWORD_CHARS} characters.")
        return False
    problem = users.change_problem(new, repeat)
    if problem:
        st.error(problem)
        return False
    result = users.change_password(
        engine,
        viewer.username,
        current,
        new,
        client_address(),
        free_attempts=settings.auth_lockout_free_attempts,
        max_delay_s=settings.auth_lockout_max_s,
    )
    if result.user is None:
        if result.reason == "locked":
            st.error(f"Too many wrong passwords. Try again in {math.ceil(result.retry_after_s)} s.")
        else:
            st.error("Current password is wrong." + _blocked(result).replace("this name", "this account"))
        return False
    if viewer.username == users.FIRST_ADMIN:
        users.forget_first_password(settings.data_dir)
    _establish(engine, settings, result.user)
    return True


def _forced_change_screen(engine: Engine, settings: Settings, viewer: Viewer) -> None:
    middle = st.columns([1, 1.2, 1])[1]
    with middle:
        st.title("Choose a new password")
        st.info(
            f"**{md_escape(viewer.username)}**: your password was set by the system or an administrator. "
            "Choose your own before going on.",
            icon=":material/key:",
        )
        if _password_form(engine, settings, viewer, key="forced_password_change"):
            st.rerun()
        if st.button("Log out", key="forced_logout"):
            _logout(engine, viewer)


def _logout(engine: Engine, viewer: Viewer) -> None:
    """End this browser's session in the store (every tab and every copy of its cookie), then show the login."""
    sessions.end(engine, st.session_state.get(SESSION_KEY), viewer.username)
    audit.record(engine, viewer.username, audit.LOGOUT, viewer.username, {}, client_address())
    st.session_state[COOKIE_OP_KEY] = ("delete", "")
    _forget_session()
    st.rerun()


def _account_sidebar(engine: Engine, settings: Settings, viewer: Viewer) -> None:
    with st.sidebar:
        st.caption(f":material/person: **{md_escape(viewer.display_name)}** · {', '.join(sorted(viewer.roles))}")
        if st.session_state.pop(NOTICE_KEY, None):
            st.success("Password changed; other browsers must log in again.", icon=":material/key:")
        log_out, change = st.columns(2)
        if log_out.button("Log out", icon=":material/logout:", key="sidebar_logout", width="stretch"):
            _logout(engine, viewer)
        with change.popover("Password", key="sidebar_password", width="stretch", help="Change your password"):
            if _password_form(engine, settings, viewer, key="sidebar_password_change"):
                st.session_state[NOTICE_KEY] = True
                st.rerun()  # the next run hands the new session's cookie to the browser


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
    viewer = current_viewer(settings) or _login_from_cookie(engine, settings)
    _pending_cookie_op(logged_in=viewer is not None)
    if viewer is None:
        _only(lambda: _login_screen(engine, settings), "Log in")
    assert viewer is not None
    if viewer.must_change_password:
        _only(lambda: _forced_change_screen(engine, settings, viewer), "Change password")
    _account_sidebar(engine, settings, viewer)
    return viewer
