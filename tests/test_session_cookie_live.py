"""The login cookie endpoints over real HTTP: only a live session's cookie is set, HttpOnly, same-origin only."""

from __future__ import annotations

import json

import httpx
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from core.auth import sessions, users
from core.store import make_engine
from tests.live import live_server

KEY = "k" * 48


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("session-cookie")
    with live_server(
        tmp,
        env={"PULSEBOARD_COLLECTORS": "false", "PULSEBOARD_COOKIE_KEY": KEY},
        prepare=lambda engine: users.create_user(engine, "dev", "correct horse battery", ["developer"]),
    ) as running:
        running.engine = make_engine(f"sqlite:///{tmp / 'pulseboard.db'}")
        yield running
        running.engine.dispose()


def live_cookie(server) -> tuple[str, str]:
    """A new store session for ``dev``: (its secret, the signed cookie the page would post)."""
    session, secret = sessions.start(server.engine, "dev", "127.0.0.1", idle_s=3_600, absolute_s=86_400)
    return secret, sessions.encode_cookie(secret, KEY, session.expires_ms)


def post(
    server, path: str, body: object = None, *, content: bytes | None = None, origin: str | None = "same", **headers
):
    if origin == "same":
        origin = server.url
    if origin is not None:
        headers["Origin"] = origin
    if content is None:
        return httpx.post(server.url + path, json=body, headers=headers)
    return httpx.post(server.url + path, content=content, headers={"Content-Type": "application/json", **headers})


def test_a_live_sessions_cookie_is_set_httponly_strict_for_the_whole_site(server):
    _, cookie = live_cookie(server)
    reply = post(server, "/auth/session", {"cookie": cookie})
    assert reply.status_code == 204
    header = reply.headers["set-cookie"]
    assert header.startswith(f"{sessions.COOKIE_NAME}={cookie};")
    attributes = {part.strip().split("=")[0].lower() for part in header.split(";")[1:]}
    assert {"httponly", "samesite", "path", "max-age"} <= attributes and "secure" not in attributes
    assert "samesite=strict" in header.lower() and "path=/" in header.lower()
    max_age = int(header.lower().split("max-age=")[1].split(";")[0])
    assert 86_000 < max_age <= 86_400  # the session's absolute timeout, shorter than the 7-day cookie lifetime
    assert reply.headers["cache-control"] == "no-store"


def test_behind_an_https_proxy_the_cookie_is_secure(server):
    _, cookie = live_cookie(server)
    reply = post(server, "/auth/session", {"cookie": cookie}, **{"X-Forwarded-Proto": "https"})
    assert reply.status_code == 204 and "secure" in reply.headers["set-cookie"].lower()


def test_an_ended_or_forged_session_is_not_set(server):
    secret, cookie = live_cookie(server)
    sessions.end(server.engine, secret, "dev")
    for value in (cookie, sessions.encode_cookie("A" * 43, KEY, 4_000_000_000_000), "garbage"):
        reply = post(server, "/auth/session", {"cookie": value})
        assert reply.status_code == 401, value
        assert reply.json()["error"]["code"] == "no_session" and "set-cookie" not in reply.headers


@pytest.mark.parametrize(
    ("origin", "path"),
    [("http://evil.example", "/auth/session"), (None, "/auth/session"), ("http://evil.example", "/auth/logout")],
)
def test_another_site_can_neither_plant_nor_clear_the_cookie(server, origin, path):
    _, cookie = live_cookie(server)
    reply = post(server, path, {"cookie": cookie}, origin=origin)
    assert reply.status_code == 403 and "set-cookie" not in reply.headers
    error = reply.json()["error"]
    assert error["code"] == "cross_origin" and repr(origin) in error["message"]


@pytest.mark.parametrize(
    ("content", "headers", "status", "names"),
    [
        (b"cookie=x", {"Content-Type": "application/x-www-form-urlencoded"}, 415, "Content-Type: application/json"),
        (b"{" * 5_000, {}, 413, "5000 bytes"),
        (b"{not json", {}, 400, "not JSON"),
        (b'{"cookie": 7}', {}, 400, "field 'cookie'"),
        (b"[]", {}, 400, "field 'cookie'"),
    ],
)
def test_a_bad_body_is_refused_naming_the_problem(server, content, headers, status, names):
    reply = post(server, "/auth/session", content=content, **headers)
    assert reply.status_code == status
    assert names in reply.json()["error"]["message"] and "set-cookie" not in reply.headers


def test_logout_clears_the_cookie(server):
    reply = post(server, "/auth/logout", {})
    assert reply.status_code == 204
    header = reply.headers["set-cookie"].lower()
    assert header.startswith(f'{sessions.COOKIE_NAME}="";') and "max-age=0" in header and "httponly" in header


JSON_VALUES = st.recursive(
    st.none() | st.booleans() | st.integers() | st.text(max_size=40),
    lambda inner: (
        st.lists(inner, max_size=3) | st.dictionaries(st.sampled_from(["cookie", "x", ""]), inner, max_size=3)
    ),
)
BODIES = st.one_of(st.binary(max_size=600), JSON_VALUES.map(lambda value: json.dumps(value).encode()))


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(body=BODIES)
def test_no_body_makes_the_endpoint_fail_or_set_a_cookie(server, body):
    reply = post(server, "/auth/session", content=body)
    assert reply.status_code in {400, 401}, reply.text
    assert reply.json()["status"] == "error" and "set-cookie" not in reply.headers
