"""Lock-out under concurrency, on real SQLite and Postgres: parallel guesses get no more tries than serial ones.

Every thread uses the same injected clock, so the lock the third failure earns is still in
force for every later attempt however slowly the threads run: the count of guesses that
reached bcrypt is then exactly the number of free attempts.
"""

from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor

import pytest
import sqlalchemy as sa

from core.auth import audit, lockout, users

PASSWORD = "correct horse battery"
NEW_PASSWORD = "another long secret"
FREE = 3
T0 = 1_800_000_000_000
PARALLEL = 20


@pytest.fixture
def guesses(monkeypatch):
    """Counts every password actually checked against a hash (thread-safe)."""
    seen: list[str] = []
    lock = threading.Lock()
    real = users.check_password

    def counting(engine, username, password):
        with lock:
            seen.append(password)
        return real(engine, username, password)

    monkeypatch.setattr(users, "check_password", counting)
    return seen


def in_parallel(calls):
    """Run every zero-argument call at once (released together by a barrier); their results in order."""
    barrier = threading.Barrier(len(calls))

    def run(call):
        barrier.wait()
        return call()

    with ThreadPoolExecutor(len(calls)) as pool:
        return list(pool.map(run, calls))


def failures_row(engine, key):
    with engine.connect() as connection:
        return connection.execute(
            sa.text("SELECT count, locked_until_ms FROM login_failures WHERE username = :k"), {"k": key}
        ).first()


def test_parallel_wrong_logins_get_exactly_the_free_attempts(engine, guesses):
    users.create_user(engine, "dana", PASSWORD, ["developer"], must_change_password=False)
    results = in_parallel(
        [
            lambda i=i: users.authenticate(engine, "dana", f"guess-{i}", free_attempts=FREE, now=T0)
            for i in range(PARALLEL)
        ]
    )
    reasons = [r.reason for r in results]
    assert reasons.count("invalid") == FREE and reasons.count("locked") == PARALLEL - FREE
    assert len(guesses) == FREE  # no more passwords reached bcrypt than serial attempts would have
    assert tuple(failures_row(engine, "dana")) == (FREE, T0 + 2_000)  # the third failure locks for 2 s
    assert audit.entries(engine)["action"].to_list().count(audit.LOGIN_FAILED) == FREE
    assert users.authenticate(engine, "dana", PASSWORD, now=T0 + 1_000).reason == "locked"  # even the right one


def test_parallel_wrong_current_passwords_in_the_change_form_are_counted_the_same(engine, guesses):
    users.create_user(engine, "dana", PASSWORD, ["developer"], must_change_password=False)
    results = in_parallel(
        [
            lambda i=i: users.change_password(engine, "dana", f"guess-{i}", NEW_PASSWORD, free_attempts=FREE, now=T0)
            for i in range(PARALLEL)
        ]
    )
    assert [r.reason for r in results].count("invalid") == FREE and len(guesses) == FREE
    failed = audit.entries(engine, actions=(audit.LOGIN_FAILED,))
    assert failed.height == FREE and all('"via":"change_password"' in d for d in failed["detail"])
    assert users.authenticate(engine, "dana", PASSWORD, now=T0 + 1_000).reason == "locked"


def test_login_and_change_password_share_one_count(engine, guesses):
    users.create_user(engine, "dana", PASSWORD, ["developer"], must_change_password=False)
    calls = [lambda i=i: users.authenticate(engine, "dana", f"login-{i}", now=T0) for i in range(PARALLEL // 2)]
    calls += [
        lambda i=i: users.change_password(engine, "dana", f"form-{i}", NEW_PASSWORD, now=T0)
        for i in range(PARALLEL // 2)
    ]
    results = in_parallel(calls)
    assert [r.reason for r in results].count("invalid") == FREE and len(guesses) == FREE


def test_change_password_after_failed_logins_is_locked_and_checks_nothing(engine, guesses):
    users.create_user(engine, "dana", PASSWORD, ["developer"], must_change_password=False)
    for i in range(FREE):
        users.authenticate(engine, "dana", f"guess-{i}", now=T0 + i)
    guesses.clear()
    refused = users.change_password(engine, "dana", PASSWORD, NEW_PASSWORD, now=T0 + 1_000)
    assert refused.reason == "locked" and 0 < refused.retry_after_s <= 2 and guesses == []
    changed = users.change_password(engine, "dana", PASSWORD, NEW_PASSWORD, now=T0 + 10_000)
    assert changed.ok and failures_row(engine, "dana") is None  # the right password clears the count
    assert users.authenticate(engine, "dana", NEW_PASSWORD, now=T0 + 11_000).ok


def test_a_weak_new_password_is_refused_before_the_current_one_is_checked(engine, guesses):
    users.create_user(engine, "dana", PASSWORD, ["developer"], must_change_password=False)
    with pytest.raises(users.UserError):
        users.change_password(engine, "dana", "whatever guess", "short", now=T0)
    assert guesses == [] and failures_row(engine, "dana") is None
    assert users.change_problem("long enough secret", "long enough secrex") == "The new passwords do not match."


def test_unknown_names_share_a_bounded_set_of_rows_and_old_rows_are_pruned(engine):
    for i in range(600):  # what a failed login with a random name counts, without 600 bcrypt checks
        lockout.claim(engine, lockout.key_for(engine, f"random-{i}"), T0, FREE, 900)
    with engine.connect() as connection:
        keys = connection.execute(sa.text("SELECT username FROM login_failures")).scalars().all()
    assert 1 < len(keys) <= lockout.UNKNOWN_BUCKETS and all(k.startswith("?") for k in keys)
    users.create_user(engine, "dana", PASSWORD, ["developer"], must_change_password=False)
    later = T0 + lockout.MEMORY_MS + 3_600_000  # every bucket's lock has run out and nothing failed for a day
    assert not users.authenticate(engine, "dana", "wrong guess", now=later).ok  # a failure prunes the stale rows
    with engine.connect() as connection:
        assert connection.execute(sa.text("SELECT username FROM login_failures")).scalars().all() == ["dana"]


def test_an_unknown_name_locks_after_the_same_number_of_misses_as_a_real_one(engine):
    delays = [users.authenticate(engine, "nobody-here", "x" * 12, now=T0 + i * 10_000).retry_after_s for i in range(4)]
    assert delays == [0, 0, 2, 4]
    assert users.authenticate(engine, "nobody-here", "x" * 12, now=T0 + 30_001).reason == "locked"
