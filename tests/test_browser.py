"""End to end in Debian's Chromium: login, role menus and refused URLs, data posted to the API shows up."""

from __future__ import annotations

import re
import stat
import uuid

import httpx
import jwt
import pytest
from playwright.sync_api import TimeoutError as PlaywrightTimeout

from core.auth import users
from core.auth.catalogue import PAGES, ROLES
from tests.live import live_server

pytestmark = pytest.mark.browser


PASSWORD = "correct horse battery"


def add_users(engine):
    users.create_user(engine, "root", PASSWORD, ["admin"], must_change_password=False)
    users.create_user(engine, "dev", PASSWORD, ["developer"], must_change_password=False)
    users.create_user(engine, "victim", PASSWORD, ["developer"], must_change_password=False)
    for role in NON_ADMIN:
        users.create_user(engine, f"as-{role.replace('_', '-')}", PASSWORD, [role], must_change_password=False)


NON_ADMIN = [role for role in ROLES if role != "admin"]


def forbidden(role: str) -> list[tuple[str, str]]:
    """(slug, title) of the built pages ``role`` may not open, Admin first, at most three."""
    pages = sorted((p for p in PAGES if p.script and role not in p.roles), key=lambda p: p.slug != "admin")
    return [(p.slug, p.title) for p in pages[:3]]


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    with live_server(
        tmp_path_factory.mktemp("browser"), env={"PULSEBOARD_COLLECTORS": "false"}, prepare=add_users
    ) as running:
        yield running


@pytest.fixture(scope="module")
def fresh_server(tmp_path_factory):
    """A server started on an empty users table: it creates the first admin itself."""
    tmp = tmp_path_factory.mktemp("first-run")
    with live_server(tmp, env={"PULSEBOARD_COLLECTORS": "false"}) as running:
        yield running, tmp


@pytest.fixture
def page(browser):
    context = browser.new_context(viewport={"width": 1400, "height": 900})
    yield context.new_page()
    context.close()


def no_error_box(page):
    assert page.locator("[data-testid='stException']").count() == 0


def submit_until(page, fill, button: str, done, tries: int = 3) -> None:
    """Fill a form and press ``button`` until ``done`` (a locator) shows.

    A form submitted while the page is still connecting can be dropped and stay as it
    was. Pressing again is what a person would do, so a submit that changed nothing within
    20 s is repeated; one that went through (the form is gone) is just waited for.
    """
    for attempt in range(tries):
        fill()
        page.get_by_role("button", name=button).click()
        try:
            done.first.wait_for(timeout=20_000)
            return
        except PlaywrightTimeout:
            if attempt == tries - 1 or page.get_by_role("button", name=button).count() == 0:
                break
    done.first.wait_for(timeout=30_000)


def log_in(page, url, username, password, expect="Overview", path="/"):
    page.goto(url + path)
    page.get_by_role("textbox", name="Username").wait_for(timeout=30_000)
    if path != "/":  # a logged-out deep link may first say the page is unknown to an anonymous session
        page.wait_for_timeout(1_000)
        if page.get_by_text("Page not found").count():
            page.keyboard.press("Escape")

    def fill() -> None:
        page.get_by_role("textbox", name="Username").fill(username)
        page.get_by_role("textbox", name="Password", exact=True).fill(password)

    if expect:
        submit_until(page, fill, "Log in", page.get_by_text(expect))
        wait_for_cookie(page, present=True)  # the page posts it to the server right after the login
    else:  # a failed login is the subject: press once, the caller reads the answer
        fill()
        page.get_by_role("button", name="Log in").click()


def test_posted_sample_appears_on_overview(server, page):
    name = f"browser_{uuid.uuid4().hex[:8]}"
    reply = httpx.post(
        f"{server.url}/api/v1/metrics",
        json=[{"name": name, "labels": {"host": "web-1"}, "value": 42.5}],
        headers=server.headers,
    )
    assert reply.status_code == 200
    log_in(page, server.url, "root", PASSWORD)
    page.get_by_text("What is in the store").click()
    # The data grid draws on a canvas; its cells are mirrored in an accessible table in the DOM.
    page.wait_for_function("name => document.body.innerHTML.includes(name)", arg=name, timeout=30_000)
    no_error_box(page)


def test_dashboards_page_opens_with_the_provisioned_dashboard(server, page):
    """The last placeholder page is built: /dashboards shows the dashboard provisioned from dashboards/."""
    log_in(page, server.url, "root", PASSWORD, expect="Queue depth:", path="/dashboards")
    no_error_box(page)


def test_navigation_lists_every_section(server, page):
    log_in(page, server.url, "root", PASSWORD)
    nav = page.locator("[data-testid='stSidebarNav']")
    nav.wait_for(timeout=30_000)
    more = page.get_by_text(re.compile(r"^View \d+ more$"))
    if more.count():
        more.first.click()
        page.get_by_text("View less").wait_for(timeout=30_000)
    for section in ("Everyone", "Management", "Operations", "Engineering", "Quality", "Administration"):
        assert nav.get_by_text(section, exact=True).count() >= 1
    assert nav.get_by_role("link").count() == 16


def test_anonymous_visitor_gets_the_login_form_on_any_url(server, page):
    for path in ("/", "/admin", "/executive"):
        page.goto(server.url + path)
        page.get_by_role("button", name="Log in").wait_for(timeout=30_000)
        assert page.locator("[data-testid='stSidebarNav']").count() == 0
        assert page.get_by_role("heading", name="Admin").count() == 0


def test_first_deep_link_after_a_start_goes_through_the_login(tmp_path, page):
    """A page folder beside the entry script would let the very first /admin request skip navigation."""
    with live_server(tmp_path, env={"PULSEBOARD_COLLECTORS": "false"}) as just_started:
        page.goto(just_started.url + "/admin")
        page.get_by_role("button", name="Log in").wait_for(timeout=30_000)
        assert page.get_by_text("navigation", exact=True).count() == 0
        assert page.locator("[data-testid='stSidebarNav']").count() == 0


@pytest.mark.parametrize("role", NON_ADMIN)
def test_each_role_is_refused_when_forcing_other_pages_urls(server, page, role):
    log_in(page, server.url, f"as-{role.replace('_', '-')}", PASSWORD)
    nav = page.locator("[data-testid='stSidebarNav']")
    nav.wait_for(timeout=30_000)
    more = page.get_by_text(re.compile(r"^View \d+ more$"))
    if more.count():
        more.first.click()
        page.get_by_text("View less").wait_for(timeout=30_000)
    links = [link.inner_text().splitlines()[-1] for link in nav.get_by_role("link").all()]
    refused = forbidden(role)
    assert refused and "Overview" in links and not {title for _, title in refused} & set(links)
    for slug, title in refused:  # the session cookie keeps the user logged in across the forced loads
        page.goto(f"{server.url}/{slug}")
        page.get_by_text("Access refused").first.wait_for(timeout=30_000)
        page.get_by_text(f"may not open the page {slug}").wait_for(timeout=30_000)  # the refusal names this page
        assert page.get_by_role("heading", name=title, exact=True).count() == 0
        assert page.get_by_text("Users", exact=True).count() == 0
        no_error_box(page)


def wait_for_cookie(page, *, present: bool) -> None:
    """The server sets (or clears) the cookie when the page posts it, a moment after the login (or logout) run."""
    for _ in range(100):
        if any(cookie["name"] == "pulseboard_auth" for cookie in page.context.cookies()) == present:
            return
        page.wait_for_timeout(200)
    pytest.fail(f"session cookie {'never written' if present else 'outlived the logout'}")


def test_session_cookie_survives_a_reload_and_logout_ends_it(server, page):
    log_in(page, server.url, "dev", PASSWORD)
    page.reload()
    page.locator("[data-testid='stSidebarNav']").wait_for(timeout=30_000)
    assert page.get_by_role("button", name="Log in").count() == 0
    page.get_by_role("button", name="Log out").click()
    page.get_by_role("button", name="Log in").wait_for(timeout=30_000)
    wait_for_cookie(page, present=False)
    page.reload()
    page.get_by_role("button", name="Log in").wait_for(timeout=30_000)


def test_wrong_passwords_slow_down_the_next_attempts(server, page):
    for attempt in range(2):
        log_in(page, server.url, "victim", f"wrong-{attempt}", expect=None)
        page.get_by_text("Invalid username or password.", exact=True).wait_for(timeout=30_000)
    log_in(page, server.url, "victim", "wrong-2", expect=None)
    page.get_by_text("Further attempts for this name are blocked for 2 s").wait_for(timeout=30_000)


def test_first_run_password_works_once_and_must_be_changed(fresh_server, page):
    server, tmp = fresh_server
    secret_file = tmp / "admin-password.txt"
    assert stat.S_IMODE(secret_file.stat().st_mode) == 0o600
    first = secret_file.read_text().strip()
    assert first in server.log()  # printed once to the server log
    log_in(page, server.url, "admin", first, expect="Choose a new password")
    assert page.locator("[data-testid='stSidebarNav']").count() == 0

    def fill() -> None:
        page.get_by_role("textbox", name="Current password").fill(first)
        page.get_by_role("textbox", name="New password", exact=True).fill("my own long secret")
        page.get_by_role("textbox", name="Repeat new password").fill("my own long secret")

    submit_until(page, fill, "Change password", page.locator("[data-testid='stSidebarNav']"))
    assert not secret_file.exists()
    page.context.clear_cookies()
    log_in(page, server.url, "admin", first, expect=None)
    page.get_by_text("Invalid username or password").wait_for(timeout=30_000)
    log_in(page, server.url, "admin", "my own long secret")


def sidebar_or_login(page) -> str:
    """Wait for the app to settle on either the menu or the login form; say which."""
    page.locator("[data-testid='stSidebarNav'], [data-testid='stForm'] button:has-text('Log in')").first.wait_for(
        timeout=30_000
    )
    return "menu" if page.locator("[data-testid='stSidebarNav']").count() else "login"


def test_a_cookie_copied_before_logout_is_refused_after_it(server, browser, page):
    log_in(page, server.url, "dev", PASSWORD)
    copied = [c for c in page.context.cookies() if c["name"] == "pulseboard_auth"]
    assert copied and copied[0]["sameSite"] == "Strict" and copied[0]["httpOnly"]  # no script can read it
    assert page.evaluate("document.cookie").find("pulseboard_auth") == -1
    thief = browser.new_context(viewport={"width": 1400, "height": 900})
    try:
        thief.add_cookies(copied)
        stolen = thief.new_page()
        stolen.goto(server.url + "/")
        assert sidebar_or_login(stolen) == "menu"  # the copy works while the session lives ...
        page.get_by_role("button", name="Log out").click()
        page.get_by_role("button", name="Log in").wait_for(timeout=30_000)
        wait_for_cookie(page, present=False)
    finally:
        thief.close()
    fresh = browser.new_context(viewport={"width": 1400, "height": 900})
    try:
        fresh.add_cookies(copied)
        replay = fresh.new_page()
        replay.goto(server.url + "/")
        assert sidebar_or_login(replay) == "login"  # ... and opens nothing after the logout
        replay.get_by_role("textbox", name="Username").wait_for(timeout=30_000)
        no_error_box(replay)
    finally:
        fresh.close()


def test_forged_and_malformed_cookies_show_the_login_page_without_a_traceback(server, browser):
    from core.auth import sessions
    from tests.test_auth_sessions import forged_cookies

    visit = browser.new_context()
    visit.new_page().goto(server.url + "/")  # the first page run creates the cookie key
    visit.pages[0].get_by_role("button", name="Log in").wait_for(timeout=30_000)
    visit.close()
    key = (server.log_path.parent / "secrets" / "cookie_key").read_text().strip()
    secret = "A" * 43
    cases = {
        **{name: forged_cookies(secret)[name] for name in ("garbage", "alg none", "string exp", "list sid")},
        "old format, right key": jwt.encode({"username": "root", "exp_date": 4_000_000_000}, key, algorithm="HS256"),
        "right key, no such session": sessions.encode_cookie(secret, key, 4_000_000_000_000),
    }
    host = server.url.split("//", 1)[1].split(":")[0]
    for case, value in cases.items():
        context = browser.new_context(viewport={"width": 1400, "height": 900})
        try:
            context.add_cookies([{"name": "pulseboard_auth", "value": value, "domain": host, "path": "/"}])
            forged = context.new_page()
            forged.goto(server.url + "/admin")
            assert sidebar_or_login(forged) == "login", case
            no_error_box(forged)
            assert "Traceback" not in forged.content(), case
        finally:
            context.close()
