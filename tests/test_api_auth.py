"""API tokens on both backends: each kind of bad token refused with the right status and reason."""

from __future__ import annotations

import pytest
from fastapi.testclient import TestClient

from core.api.routes import create_api
from core.auth import audit, tokens
from core.model import now_ms

SAMPLE = [{"name": "up", "labels": {"job": "t"}, "value": 1}]


@pytest.fixture
def secured(settings):
    return settings.model_copy(update={"auth": "on"})


@pytest.fixture
def api(secured):
    with TestClient(create_api(lambda: secured)) as client:
        yield client


def bearer(secret):
    return {"Authorization": f"Bearer {secret}"}


def test_valid_ingest_token_stores_and_records_last_use(api, engine):
    _, secret = tokens.create_token(engine, "ci", ["ingest"], "root")
    reply = api.post("/v1/metrics", json=SAMPLE, headers=bearer(secret))
    assert reply.status_code == 200, reply.text
    assert tokens.list_tokens(engine)[0].last_used_ms is not None
    with engine.connect() as connection:
        assert connection.exec_driver_sql("SELECT token_hash FROM api_tokens").scalar_one() == tokens.digest(secret)
        assert secret not in str(connection.exec_driver_sql("SELECT * FROM api_tokens").all())


@pytest.mark.parametrize(
    ("case", "status", "says"),
    [
        ("missing", 401, "missing bearer token"),
        ("malformed", 401, "malformed Authorization header"),
        ("wrong", 401, "invalid token"),
        ("expired", 401, "has expired"),
        ("revoked", 401, "was revoked"),
        ("wrong scope", 403, "lacks scope 'ingest'"),
    ],
)
@pytest.mark.parametrize("path", ["/v1/metrics", "/v1/events", "/v1/junit"])
def test_bad_tokens_are_refused_with_status_and_reason(api, engine, case, status, says, path):
    _, good = tokens.create_token(engine, "ci", ["ingest"], "root")
    _, expired = tokens.create_token(engine, "old", ["ingest"], "root", expires_ms=now_ms() - 1)
    revoked_token, revoked = tokens.create_token(engine, "gone", ["ingest"], "root")
    tokens.revoke_token(engine, revoked_token.id, "root")
    _, reader = tokens.create_token(engine, "dash", ["read"], "root")
    headers = {
        "missing": {},
        "malformed": {"Authorization": good},
        "wrong": bearer(good + "x"),
        "expired": bearer(expired),
        "revoked": bearer(revoked),
        "wrong scope": bearer(reader),
    }[case]
    reply = api.post(path, json=SAMPLE, headers=headers)
    assert reply.status_code == status, reply.text
    assert says in reply.json()["error"]
    assert ("www-authenticate" in reply.headers) == (status == 401)
    with engine.connect() as connection:
        assert connection.exec_driver_sql("SELECT count(*) FROM samples").scalar_one() == 0


def test_health_is_open_by_default_and_closable(secured, engine):
    with TestClient(create_api(lambda: secured)) as client:
        assert client.get("/v1/health").status_code == 200
    closed = secured.model_copy(update={"api_auth_open_health": False})
    _, reader = tokens.create_token(engine, "probe", ["read"], "root")
    with TestClient(create_api(lambda: closed)) as client:
        assert client.get("/v1/health").status_code == 401
        assert client.get("/v1/health", headers=bearer(reader)).status_code == 200


def test_token_creation_and_revocation_are_audited(engine):
    token, _ = tokens.create_token(engine, "ci", ["ingest", "read"], "root", address="10.0.0.1")
    tokens.revoke_token(engine, token.id, "root", address="10.0.0.1")
    frame = audit.entries(engine, actor="root")
    assert frame["action"].to_list() == [audit.TOKEN_REVOKED, audit.TOKEN_CREATED]
    assert frame["target"].to_list() == [token.id, token.id]
    with pytest.raises(ValueError, match="no active token"):
        tokens.revoke_token(engine, token.id, "root")


@pytest.mark.parametrize("scopes", [[], ["superuser"], ["ingest", "write"]])
def test_unknown_or_no_scopes_are_refused(engine, scopes):
    with pytest.raises(ValueError, match="scopes"):
        tokens.create_token(engine, "x", scopes, "root")


def failing_scheduler():
    """A scheduler, never started, whose one job failed with an error text a stranger must not read."""
    from core.jobs import Scheduler

    def job() -> None:
        raise OSError("cannot open /srv/secret/path for db-host-7.internal")

    scheduler = Scheduler()
    scheduler.add("collector:system", 60, job)
    scheduler.run_once("collector:system")
    return scheduler


def ready(settings, headers=None):
    api = create_api(lambda: settings)
    api.state.scheduler = failing_scheduler()
    with TestClient(api) as client:
        return client.get("/v1/ready", headers=headers)


def test_ready_tells_an_anonymous_caller_only_ready_or_not(secured, engine):
    jobs_on = secured.model_copy(update={"collectors": True})
    _, ingest_only = tokens.create_token(engine, "ci", ["ingest"], "root")
    for headers in (None, bearer(ingest_only), bearer("pb_no-such-token"), {"Authorization": "garbage"}):
        reply = ready(jobs_on, headers)
        assert reply.status_code == 503 and reply.json() == {"ready": False}, headers
        assert "secret" not in reply.text and "OSError" not in reply.text
    assert ready(jobs_on.model_copy(update={"collectors": False})).json() == {"ready": True}


def test_ready_shows_the_checks_to_a_read_token_or_without_login(secured, engine, settings):
    jobs_on = secured.model_copy(update={"collectors": True})
    _, reader = tokens.create_token(engine, "probe", ["read"], "root")
    detailed = ready(jobs_on, bearer(reader))
    assert detailed.status_code == 503
    job = detailed.json()["checks"]["collectors"]["jobs"]["collector:system"]
    assert "/srv/secret/path" in job["last_error"] and detailed.json()["checks"]["database"]["ok"]
    closed = jobs_on.model_copy(update={"api_auth_open_health": False})
    assert ready(closed).status_code == 401  # closed: no token, no answer at all
    assert "checks" in ready(closed, bearer(reader)).json()
    no_login = settings.model_copy(update={"collectors": True, "auth": "off"})
    assert "last_error" in ready(no_login).text
