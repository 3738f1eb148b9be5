"""Login and page access through Streamlit's AppTest, with auth on, against a real store."""

from __future__ import annotations

import pytest
from streamlit import config as st_config
from streamlit.testing.v1 import AppTest

from core.auth import audit, users
from core.auth.access import Viewer
from core.auth.catalogue import PAGES, ROLES
from core.config import ROOT, get_settings
from core.ui.login import REFUSED_ICON

PASSWORD = "correct horse battery"


@pytest.fixture
def store(app_store, monkeypatch):
    """The test's store with login on."""
    monkeypatch.setenv("PULSEBOARD_AUTH", "on")
    get_settings.cache_clear()
    return app_store


def app(script: str = "pages/navigation.py", viewer: Viewer | None = None) -> AppTest:
    at = AppTest.from_file(str(ROOT / script), default_timeout=60)
    if viewer is not None:
        at.session_state["viewer"] = viewer
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
    at = app(viewer=at.session_state["viewer"])  # the same session state, as the next click brings it
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
