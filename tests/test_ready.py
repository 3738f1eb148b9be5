"""/api/v1/ready over a real store: 200 only when the store, migrations and background jobs are all fine."""

from __future__ import annotations

import pytest
from fastapi.testclient import TestClient

from collectors.runner import build_scheduler
from core.api.routes import create_api
from core.auth import tokens
from core.config import load_settings
from tests.live import free_port


def _ready(settings, scheduler=None, headers=None):
    api = create_api(lambda: settings)
    api.state.scheduler = scheduler
    with TestClient(api) as client:
        return client.get("/v1/ready", headers=headers)


def test_stopped_collectors_answer_503_naming_them(settings, engine):
    jobs_on = settings.model_copy(update={"collectors": True, "auth": "on"})
    reader = {"Authorization": f"Bearer {tokens.create_token(engine, 'probe', ['read'], 'root')[1]}"}  # the checks
    scheduler = build_scheduler(jobs_on, engine)
    scheduler.start()
    try:
        running = _ready(jobs_on, scheduler, reader)
    finally:
        scheduler.stop()
    assert running.status_code == 200, running.text
    assert running.json()["checks"]["collectors"]["ok"] is True

    stopped = _ready(jobs_on, scheduler, reader)
    assert stopped.status_code == 503, stopped.text
    body = stopped.json()
    assert body["ready"] is False
    assert body["checks"]["collectors"]["ok"] is False and "collector:system" in body["checks"]["collectors"]["jobs"]
    assert body["checks"]["database"]["ok"] and body["checks"]["migrations"]["ok"]  # only the jobs are at fault

    never_started = _ready(jobs_on, None, reader)
    assert never_started.status_code == 503 and never_started.json()["checks"]["collectors"]["ok"] is False


@pytest.mark.parametrize("backend", ["sqlite", "postgres"])
def test_unreachable_database_answers_503_naming_it(tmp_path, backend):
    if backend == "sqlite":
        blocker = tmp_path / "not-a-folder"
        blocker.write_text("a file where the database folder should be")
        url, named = f"sqlite:///{blocker / 'pulseboard.db'}", "not-a-folder"
    else:
        url, named = (
            f"postgresql+psycopg://postgres@127.0.0.1:{free_port()}/test",
            "OperationalError",
        )  # nothing listens
    reply = _ready(load_settings(database_url=url, data_dir=tmp_path, collectors=False))
    assert reply.status_code == 503, reply.text
    checks = reply.json()["checks"]
    assert checks["database"]["ok"] is False and named in checks["database"]["error"]
    assert checks["migrations"]["ok"] is False and "collectors" not in checks  # collectors are off in these settings
