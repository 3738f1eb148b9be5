"""Login and page access through Streamlit's AppTest, with auth on, against a real store."""

from __future__ import annotations

import pytest
from streamlit import config as st_config
from streamlit.testing.v1 import AppTest

from core.auth import audit, sessions, users
from core.auth.access import Viewer
from core.auth.catalogue import PAGES, ROLES
from core.auth.sessions import cookie_key
from core.config import ROOT, get_settings
from core.store import get_engine
from core.ui.login import REFUSED_ICON, SESSION_KEY

PASSWORD = "correct horse battery"


@pytest.fixture
def store(app_store, monkeypatch):
    """The test's store with login on."""
    monkeypatch.setenv("PULSEBOARD_AUTH", "on")
    get_settings.cache_clear()
    return app_store


def session_for(username: str) -> str:
    """The secret of a new store session for ``username``, as a login would have started it."""
    settings = get_settings()
    return sessions.start(
        get_engine(),
        username,
        idle_s=settings.auth_session_idle_timeout_s,
        absolute_s=settings.auth_session_absolute_timeout_s,
    )[1]


def app(script: str = "pages/navigation.py", viewer: Viewer | None = None, secret: str | None = None) -> AppTest:
    """Run ``script`` in a fresh session; logged in as ``viewer`` (a new store session) or with ``secret``."""
    at = AppTest.from_file(str(ROOT / script), default_timeout=60)
    if viewer is not None:
        secret = session_for(viewer.username)
    if secret is not None:
        at.session_state[SESSION_KEY] = secret
    return at.run()


def menu(at: AppTest) -> set[str]:
    """URL slugs of the pages the viewer's menu lists (the default page has the empty slug)."""
    return {
        info["url_pathname"] or PAGES[0].slug for info in at._registered_pages.values() if info["icon"] != REFUSED_ICON
    }


def refused(at: AppTest) -> set[str]:
    return {info["url_pathname"] for info in at._registered_pages.values() if info["icon"] == REFUSED_ICON}


def log_in(at: AppTest, username: str, password: str) -> AppTest:
    at.text_input[0].input(username)
    at.text_input[1].input(password)
    return at.button[0].click().run()


def test_unauthenticated_session_sees_only_the_login_form(store):
    at = app()
    assert not at.exception
    assert [t.label for t in at.text_input] == ["Username", "Password"]
    assert {info["page_name"] for info in at._registered_pages.values()} == {"Log in"}
    assert not [t for t in at.title if t.value == "Overview"]


def test_first_visit_creates_the_admin_and_its_password_file(store, tmp_path):
    app()
    assert [u.username for u in users.list_users(store)] == ["admin"]
    assert (tmp_path / users.FIRST_PASSWORD_FILE).exists()


@pytest.mark.parametrize("role", ROLES)
def test_each_role_sees_exactly_its_pages(store, role):
    users.create_user(store, f"u-{role}", PASSWORD, [role], must_change_password=False)
    at = app(viewer=Viewer.of(f"u-{role}", [role]))
    assert not at.exception, [e.value for e in at.exception]
    expected = {p.slug for p in PAGES if role in p.roles}
    assert menu(at) == expected
    assert refused(at) == {p.slug for p in PAGES} - expected


def test_roles_come_from_the_store_not_from_the_session(store):
    users.create_user(store, "dev", PASSWORD, ["developer"], must_change_password=False)
    at = app(viewer=Viewer.of("dev", ["admin"]))  # a stale or forged role set is replaced by the stored one
    assert "admin" not in menu(at) and "developer" in menu(at)


def test_login_form_logs_in_and_wrong_passwords_lock_the_name(store):
    users.create_user(store, "dev", PASSWORD, ["developer"], must_change_password=False)
    at = app()
    for _ in range(3):
        at = log_in(at, "dev", "not the password")
    assert "Invalid username or password" in at.error[0].value and "blocked for 2 s" in at.error[0].value
    at = log_in(at, "dev", PASSWORD)
    assert "Too many failed logins" in at.error[0].value
    assert audit.LOGIN_LOCKED in audit.entries(store)["action"].to_list()


def test_login_form_with_the_right_password_opens_the_menu(store):
    users.create_user(store, "dev", PASSWORD, ["developer"], must_change_password=False)
    at = log_in(app(), "dev", PASSWORD)
    assert not at.exception, [e.value for e in at.exception]
    assert "developer" in menu(at) and "executive" not in menu(at)
    assert at.session_state["viewer"].username == "dev"
    assert audit.entries(store, actor="dev")["action"].to_list() == [audit.LOGIN]


def test_must_change_password_shows_only_the_change_form(store):
    users.create_user(store, "qa", PASSWORD, ["qa_lead"], must_change_password=True)
    at = app(viewer=Viewer.of("qa", ["qa_lead"]))
    assert [t.value for t in at.title] == ["Choose a new password"]
    assert {info["page_name"] for info in at._registered_pages.values()} == {"Change password"}


@pytest.mark.parametrize(
    ("role", "script"),
    [("developer", "pages/admin.py"), ("executive", "pages/audit.py"), ("qa_lead", "pages/admin.py")],
)
def test_page_scripts_refuse_roles_that_may_not_open_them(store, role, script):
    users.create_user(store, "someone", PASSWORD, [role], must_change_password=False)
    at = app(script, Viewer.of("someone", [role]))
    assert [t.value for t in at.title] == ["Access refused"]
    assert audit.entries(store, actions=(audit.PAGE_REFUSED,))["actor"].to_list() == ["someone"]


def test_page_scripts_refuse_anonymous_sessions(store):
    for spec in PAGES:
        if spec.script:
            assert [t.value for t in app(spec.script).title] == ["Access refused"], spec.script


def test_disabled_user_is_logged_out_at_the_next_run(store):
    users.create_user(store, "ops", PASSWORD, ["operations"], must_change_password=False)
    at = app(viewer=Viewer.of("ops", ["operations"]))
    assert "operations" in menu(at)
    users.update_user(store, "ops", disabled=True, actor="root")
    at = app(secret=at.session_state[SESSION_KEY])  # the same session, as the next click brings it
    assert [t.label for t in at.text_input] == ["Username", "Password"]


def test_admin_page_renders_for_admin(store):
    users.create_user(store, "root", PASSWORD, ["admin"], must_change_password=False)
    at = app("pages/admin.py", Viewer.of("root", ["admin"]))
    assert not at.exception, [e.value for e in at.exception]
    assert [t.value for t in at.title] == ["Admin"]
    assert [t.label for t in at.tabs] == ["Users", "API tokens", "Audit log", "Demo data"]


def test_admin_purges_demo_data_and_the_purge_is_audited(store):
    from core.auth import audit
    from core.ingest import ingest
    from core.ingest.demo_data import has_demo_data
    from core.model import Batch, Event, Sample, now_ms

    users.create_user(store, "root", PASSWORD, ["admin"], must_change_password=False)
    demo = Batch(
        (Sample.of("qms_queue_depth", {"source": "demo"}, 3),), (Event("d1", "workflow.pr_created", now_ms(), "demo"),)
    )
    real = Batch(
        (Sample.of("qms_queue_depth", {"source": "ci"}, 4),), (Event("r1", "workflow.pr_created", now_ms(), "ci"),)
    )
    ingest(store, demo, origin="test")
    ingest(store, real, origin="test")
    at = app("pages/admin.py", Viewer.of("root", ["admin"]))
    next(b for b in at.button if b.label == "Purge demo data").click()
    at.run()
    assert not at.exception, [e.value for e in at.exception]
    assert not has_demo_data(store)
    with store.connect() as connection:
        assert connection.exec_driver_sql("SELECT count(*) FROM events").scalar() == 1
        assert connection.exec_driver_sql("SELECT count(*) FROM series").scalar() == 1
    assert audit.DEMO_PURGED in set(audit.entries(store)["action"])


def test_no_login_mode_needs_a_localhost_bound_server(store, monkeypatch):
    monkeypatch.setenv("PULSEBOARD_AUTH", "off")
    get_settings.cache_clear()
    at = app()
    assert "No login" in at.warning[0].value and menu(at) == {p.slug for p in PAGES}
    st_config.set_option("server.address", "0.0.0.0")
    try:
        at = app()
        assert [t.label for t in at.text_input] == ["Username", "Password"]
    finally:
        st_config.set_option("server.address", "127.0.0.1")


def is_login_form(at: AppTest) -> bool:
    return [t.label for t in at.text_input] == ["Username", "Password"] and not at.sidebar.button


def button(at: AppTest, label: str):
    return next(b for b in at.button if b.label == label)


def test_a_viewer_in_session_state_without_a_store_session_opens_nothing(store):
    users.create_user(store, "dev", PASSWORD, ["developer"], must_change_password=False)
    at = AppTest.from_file(str(ROOT / "pages/navigation.py"), default_timeout=60)
    at.session_state["viewer"] = Viewer.of("dev", ["developer"])
    assert is_login_form(at.run())


def test_logout_ends_the_session_a_copied_cookie_names(store, monkeypatch):
    users.create_user(store, "dev", PASSWORD, ["developer"], must_change_password=False)
    at = log_in(app(), "dev", PASSWORD)
    secret = at.session_state[SESSION_KEY]
    copied = sessions.encode_cookie(secret, cookie_key(get_settings()), 4_000_000_000_000)
    monkeypatch.setattr("core.ui.login.browser_cookie", lambda: copied)
    elsewhere = app()  # another browser holding the copy is logged in ...
    assert "developer" in menu(elsewhere) and elsewhere.session_state[SESSION_KEY] == secret
    button(at, "Log out").click().run()
    assert is_login_form(at)
    assert is_login_form(app())  # ... until the logout: the copy opens nothing any more
    assert is_login_form(elsewhere.run())  # and the other browser is out at its next click
    assert audit.entries(store, actions=(audit.LOGOUT,))["actor"].to_list() == ["dev"]


@pytest.mark.parametrize("case", ["garbage", "alg none", "string exp", "old format", "valid signature, no session"])
def test_forged_or_malformed_cookies_show_the_login_form_without_an_error(store, monkeypatch, case):
    from tests.test_auth_sessions import forged_cookies

    users.create_user(store, "dev", PASSWORD, ["developer"], must_change_password=False)
    key = cookie_key(get_settings())
    cookies = {
        name: sessions.encode_cookie("A" * 43, key, 4_000_000_000_000) if name.startswith("valid") else value
        for name, value in {**forged_cookies("A" * 43), "valid signature, no session": None}.items()
    }
    monkeypatch.setattr("core.ui.login.browser_cookie", lambda: cookies[case])
    at = app()
    assert not at.exception, [e.value for e in at.exception]
    assert is_login_form(at)


def change_password(at: AppTest, current: str, new: str = "a newer long secret") -> AppTest:
    fields = {t.label: t for t in at.text_input}
    fields["Current password"].input(current)
    fields["New password"].input(new)
    fields["Repeat new password"].input(new)
    return button(at, "Change password").click().run()


def test_wrong_current_passwords_in_the_change_form_lock_the_account(store):
    users.create_user(store, "dev", PASSWORD, ["developer"], must_change_password=False)
    at = app(viewer=Viewer.of("dev", ["developer"]))
    for attempt in range(3):
        at = change_password(at, f"guess-{attempt}")
    assert "Current password is wrong. Further attempts for this account are blocked for 2 s." in [
        e.value for e in at.error
    ]
    at = change_password(at, PASSWORD)
    assert any("Too many wrong passwords" in e.value for e in at.error)
    assert users.authenticate(store, "dev", PASSWORD).reason == "locked"  # the login form shares the count


def test_changing_the_password_ends_every_other_session(store):
    users.create_user(store, "dev", PASSWORD, ["developer"], must_change_password=False)
    other = session_for("dev")
    at = app(viewer=Viewer.of("dev", ["developer"]))
    before = at.session_state[SESSION_KEY]
    at = change_password(at, PASSWORD)
    assert not at.exception, [e.value for e in at.exception]
    assert any("Password changed" in s.value for s in at.success)
    assert at.session_state[SESSION_KEY] != before and "developer" in menu(at)  # this browser goes on, anew
    assert is_login_form(app(secret=other)) and is_login_form(app(secret=before))


def test_admin_ends_a_users_sessions(store):
    users.create_user(store, "root", PASSWORD, ["admin"], must_change_password=False)
    users.create_user(store, "dev", PASSWORD, ["developer"], must_change_password=False)
    dev = app(viewer=Viewer.of("dev", ["developer"]))
    at = app("pages/admin.py", Viewer.of("root", ["admin"]))
    at.selectbox(key="admin_user_pick").select("dev").run()
    button(at, "End sessions").click().run()
    assert not at.exception, [e.value for e in at.exception]
    assert any("Ended 1 session of **dev**" in s.value for s in at.success)
    assert is_login_form(dev.run())
    assert audit.entries(store, actions=(audit.SESSIONS_ENDED,))["target"].to_list() == ["dev"]
