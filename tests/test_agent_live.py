"""The push agent against the real central server: samples arrive, a bad token is refused and spooled."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest
import sqlalchemy as sa

from tests.live import ROOT, live_server

pytestmark = pytest.mark.server


@pytest.fixture(scope="module")
def central(tmp_path_factory):
    with live_server(tmp_path_factory.mktemp("central"), env={"PULSEBOARD_COLLECTORS": "false"}) as running:
        yield running


def run_agent(url: str, token: str, data_dir) -> subprocess.CompletedProcess[str]:
    env = {
        **os.environ,
        "PULSEBOARD_DATA_DIR": str(data_dir),
        "PULSEBOARD_CONFIG": str(data_dir / "none.toml"),
        "PULSEBOARD_DEMO": "0",
        "PULSEBOARD_DATABASE_URL": f"sqlite:///{data_dir / 'unused.db'}",
    }
    return subprocess.run(
        [sys.executable, "-m", "collectors", "agent", "--push", url, "--token", token, "--once"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )


def system_series(server) -> int:
    engine = sa.create_engine(f"sqlite:///{server.log_path.parent / 'pulseboard.db'}")
    with engine.connect() as connection:
        count = connection.execute(sa.text("SELECT count(*) FROM series WHERE name LIKE 'system_%'")).scalar_one()
    engine.dispose()
    return int(count)


def test_agent_pushes_host_metrics_to_the_central_server(central, tmp_path):
    before = system_series(central)
    result = run_agent(central.url, central.token, tmp_path)
    assert result.returncode == 0, result.stdout + result.stderr
    assert system_series(central) > before
    assert not list((tmp_path / "agent-spool").glob("*.jsonl"))  # delivered, nothing left behind


def test_refused_token_keeps_the_batches_in_the_spool(central, tmp_path):
    before = system_series(central)
    result = run_agent(central.url, "not-a-token", tmp_path)
    assert system_series(central) == before
    spooled = list((tmp_path / "agent-spool").rglob("*.jsonl"))
    assert spooled, result.stdout + result.stderr
