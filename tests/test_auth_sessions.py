"""Server-side sessions on both backends: revocation, idle and absolute timeouts on an injected clock, cookies.

No Streamlit here: core/auth/sessions.py decides, core/ui/login.py only asks it on every run.
"""

from __future__ import annotations

import base64
import json

import jwt
import pytest
import sqlalchemy as sa

from core.auth import audit, sessions, users
from tests.store_faults import refusing_writes

PASSWORD = "correct horse battery"
KEY = "k" * 64
T0 = 1_800_000_000_000
IDLE_S = 3_600.0
ABSOLUTE_S = 86_400.0
MINUTE = 60_000


def start(engine, username="dana", now=T0):
    return sessions.start(engine, username, "10.0.0.7", idle_s=IDLE_S, absolute_s=ABSOLUTE_S, now=now)


def live(engine, secret, now):
    return sessions.check(engine, secret, idle_s=IDLE_S, now=now) is not None


@pytest.fixture
def dana(engine):
    users.create_user(engine, "dana", PASSWORD, ["developer"], must_change_password=False)
    return engine


def test_the_store_keeps_only_a_hash_of_the_secret(dana):
    session, secret = start(dana)
    with dana.connect() as connection:
        stored = connection.execute(sa.text("SELECT * FROM sessions")).mappings().one()
    assert stored["id"] == sessions.digest(secret) == session.id and secret not in str(dict(stored))
    assert stored["username"] == "dana" and stored["address"] == "10.0.0.7"


def test_logout_ends_the_session_for_every_copy_of_its_secret(dana):
    _, secret = start(dana)
    copied = str(secret)
    assert live(dana, copied, T0 + MINUTE)
    assert sessions.end(dana, secret, "dana", now=T0 + 2 * MINUTE)
    assert not live(dana, copied, T0 + 3 * MINUTE)
    assert not sessions.end(dana, secret, "dana")  # already ended


def test_idle_timeout_counts_from_the_last_run(dana):
    _, secret = start(dana)
    idle_ms = int(IDLE_S * 1000)
    assert live(dana, secret, T0 + idle_ms - 1)  # a run just in time renews it ...
    assert live(dana, secret, T0 + 2 * idle_ms - 2)  # ... so it lasts an idle period from there
    assert not live(dana, secret, T0 + 3 * idle_ms)  # a whole idle period without a run ends it
    assert not live(dana, secret, T0 + 3 * idle_ms + MINUTE)  # for good


def test_last_seen_is_written_at_most_once_a_minute(dana):
    _, secret = start(dana)

    def last_seen():
        with dana.connect() as connection:
            return connection.execute(sa.text("SELECT last_seen_ms FROM sessions")).scalar_one()

    sessions.check(dana, secret, idle_s=IDLE_S, now=T0 + 10_000)
    assert last_seen() == T0
    sessions.check(dana, secret, idle_s=IDLE_S, now=T0 + MINUTE)
    assert last_seen() == T0 + MINUTE


def test_a_store_that_refuses_writes_keeps_the_session_open(dana):
    _, secret = start(dana)
    reader = refusing_writes(dana)
    try:
        with pytest.raises(sa.exc.DBAPIError), reader.begin() as connection:  # the store really refuses writes
            connection.execute(sa.text("UPDATE sessions SET last_seen_ms = 0"))
        session = sessions.check(reader, secret, idle_s=IDLE_S, now=T0 + 5 * MINUTE)
        assert session is not None and session.username == "dana"
        assert session.last_seen_ms == T0  # not renewed: nothing was written
    finally:
        reader.dispose()
    assert sessions.check(dana, secret, idle_s=IDLE_S, now=T0 + 6 * MINUTE).last_seen_ms == T0 + 6 * MINUTE


def test_absolute_timeout_ends_even_a_busy_session(dana):
    _, secret = start(dana)
    absolute_ms = int(ABSOLUTE_S * 1000)
    now = T0
    while now + 30 * MINUTE < T0 + absolute_ms:  # a run every half hour, well within the idle timeout
        now += 30 * MINUTE
        assert live(dana, secret, now)
    assert not live(dana, secret, T0 + absolute_ms)


def test_password_change_reset_disabling_and_end_sessions_revoke_every_session(dana):
    first, second = start(dana)[1], start(dana)[1]
    result = users.change_password(dana, "dana", PASSWORD, "a newer long secret", now=T0 + MINUTE)
    assert result.ok and not live(dana, first, T0 + 2 * MINUTE) and not live(dana, second, T0 + 2 * MINUTE)
    assert '"sessions_ended":2' in audit.entries(dana, actions=(audit.PASSWORD_CHANGED,))["detail"][0]

    _, third = start(dana, now=T0 + 3 * MINUTE)
    users.set_password(dana, "dana", "reset by the admin", must_change=True, actor="root")
    assert not live(dana, third, T0 + 4 * MINUTE)

    _, fourth = start(dana, now=T0 + 5 * MINUTE)
    assert users.end_sessions(dana, "dana", "root", "10.9.9.9") == 1
    assert not live(dana, fourth, T0 + 6 * MINUTE)
    ended = audit.entries(dana, actions=(audit.SESSIONS_ENDED,))
    assert ended["actor"].to_list() == ["root"] and ended["target"].to_list() == ["dana"]

    _, fifth = start(dana, now=T0 + 7 * MINUTE)
    users.update_user(dana, "dana", disabled=True, actor="root")
    assert not live(dana, fifth, T0 + 8 * MINUTE)


def test_a_session_of_a_disabled_user_opens_nothing(dana):
    _, secret = start(dana)
    assert users.session_user(dana, secret, idle_s=IDLE_S, now=T0 + 1).username == "dana"
    with dana.begin() as connection:  # disabled behind the application's back: the user check still holds
        connection.execute(sa.text("UPDATE users SET disabled = :d WHERE username = 'dana'"), {"d": True})
    assert users.session_user(dana, secret, idle_s=IDLE_S, now=T0 + 2) is None


def test_ending_one_users_sessions_leaves_the_others(dana):
    users.create_user(dana, "erin", PASSWORD, ["qa_lead"], must_change_password=False)
    _, erin = start(dana, "erin")
    start(dana, "dana")
    users.end_sessions(dana, "dana", "root")
    assert live(dana, erin, T0 + MINUTE)
    frame = sessions.active_frame(dana, idle_s=IDLE_S, now=T0 + MINUTE)
    assert frame["username"].to_list() == ["erin"] and frame["sessions"].to_list() == [1]
    table = users.users_frame(dana, IDLE_S)
    assert dict(zip(table["username"], table["sessions"], strict=True)) == {"dana": 0, "erin": 1}


def test_dead_sessions_are_pruned_at_the_next_login(dana):
    _, ended = start(dana)
    sessions.end(dana, ended, "dana", now=T0 + 1)
    start(dana, now=T0 + 2)  # idle from here on
    _, kept = start(dana, now=T0 + int(IDLE_S * 1000))
    start(dana, now=T0 + int(IDLE_S * 1000) + 3)
    with dana.connect() as connection:
        assert connection.execute(sa.text("SELECT count(*) FROM sessions")).scalar_one() == 2
    assert live(dana, kept, T0 + int(IDLE_S * 1000) + 4)


def _segment(data: dict) -> str:
    return base64.urlsafe_b64encode(json.dumps(data).encode()).rstrip(b"=").decode()


def forged_cookies(secret: str) -> dict[str, object]:
    """Cookies that must all mean "not logged in"."""
    exp = (T0 + 86_400_000) // 1000 + 10**9  # far in the future
    return {
        "garbage": "not a jwt at all",
        "three dots": "...",
        "bad base64": "@@@.###.$$$",
        "alg none": f"{_segment({'alg': 'none', 'typ': 'JWT'})}.{_segment({'sid': secret, 'exp': exp})}.",
        "other key": jwt.encode({"sid": secret, "exp": exp}, "another installation's key" * 3, algorithm="HS256"),
        "string exp": jwt.encode({"sid": secret, "exp": "tomorrow"}, KEY, algorithm="HS256"),
        "past exp": jwt.encode({"sid": secret, "exp": 1}, KEY, algorithm="HS256"),
        "no exp": jwt.encode({"sid": secret}, KEY, algorithm="HS256"),
        "list sid": jwt.encode({"sid": [secret], "exp": exp}, KEY, algorithm="HS256"),
        "short sid": jwt.encode({"sid": "abc", "exp": exp}, KEY, algorithm="HS256"),
        "old format": jwt.encode({"username": "dana", "exp_date": exp}, KEY, algorithm="HS256"),
        "array payload": f"{_segment({'alg': 'HS256'})}.{base64.urlsafe_b64encode(b'[1]').decode()}.x",
        "header not json": f"{base64.urlsafe_b64encode(b'{').decode()}.e30.x",
        "huge": "a" * 100_000,
        "empty": "",
        "not a string": 12,
        "none": None,
    }


@pytest.mark.parametrize("case", list(forged_cookies("x" * 43)))
def test_every_malformed_or_forged_cookie_reads_as_no_session(case):
    assert sessions.decode_cookie(forged_cookies("A" * 43)[case], KEY) is None


def test_a_cookie_opens_its_session_until_the_session_ends(dana):
    session, secret = start(dana)
    cookie = sessions.encode_cookie(secret, KEY, session.expires_ms)
    assert sessions.decode_cookie(cookie, KEY) == secret
    assert sessions.decode_cookie(cookie, KEY + "x") is None
    assert users.session_user(dana, sessions.decode_cookie(cookie, KEY), idle_s=IDLE_S, now=T0 + 1) is not None
    sessions.end(dana, secret, "dana", now=T0 + 2)
    assert users.session_user(dana, sessions.decode_cookie(cookie, KEY), idle_s=IDLE_S, now=T0 + 3) is None


@pytest.mark.parametrize("secret", [None, "", "A" * 42, "A" * 43 + "\n", "../" * 20, "A" * 44])
def test_malformed_secrets_never_reach_the_store(dana, secret):
    assert sessions.check(dana, secret, idle_s=IDLE_S) is None
    assert not sessions.end(dana, secret, "dana")
