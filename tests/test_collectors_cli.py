"""`python -m collectors run` as an operator starts it: a real process, a real SQLite store, real inputs."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time

import pytest
import sqlalchemy as sa

from tests.live import ROOT


def environment(tmp_path, **env: str) -> dict[str, str]:
    return {
        **os.environ,
        "PULSEBOARD_CONFIG": str(tmp_path / "none.toml"),
        "PULSEBOARD_DATA_DIR": str(tmp_path),
        "PULSEBOARD_INBOX_DIR": str(tmp_path / "inbox"),
        "PULSEBOARD_DEMO": "0",
        "PULSEBOARD_DATABASE_URL": f"sqlite:///{tmp_path / 'store.db'}",
        **env,
    }


def run_collectors(tmp_path, *args: str, **env: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "collectors", "run", *args],
        cwd=ROOT,
        env=environment(tmp_path, **env),
        capture_output=True,
        text=True,
        timeout=120,
    )


def count(tmp_path, query: str) -> int:
    engine = sa.create_engine(f"sqlite:///{tmp_path / 'store.db'}")
    try:
        with engine.connect() as connection:
            return int(connection.execute(sa.text(query)).scalar_one())
    finally:
        engine.dispose()


SAMPLES_OF = "SELECT count(*) FROM samples x JOIN series s ON s.id = x.series_id WHERE s.name = '{}'"


def samples_while_starting(tmp_path, name: str) -> int:
    """Samples of ``name`` so far; 0 while the process has not yet created or migrated the store."""
    if not (tmp_path / "store.db").exists():  # opening it here would create it under the process's feet
        return 0
    try:
        return count(tmp_path, SAMPLES_OF.format(name))
    except sa.exc.OperationalError:
        return 0


def test_run_once_collects_into_the_configured_store_and_exits_0(tmp_path):
    (tmp_path / "inbox").mkdir()
    event = {
        "id": "cli-evt-1",
        "type": "workflow.pr_created",
        "timestamp": "2025-08-17T06:23:14Z",
        "source": "ci",
        "data": {"pr_number": 7},
    }
    (tmp_path / "inbox" / "ci.events.jsonl").write_text(json.dumps(event) + "\n")
    result = run_collectors(tmp_path, "--once")
    assert result.returncode == 0, result.stdout + result.stderr
    assert count(tmp_path, SAMPLES_OF.format("system_memory_used_bytes")) == 1
    assert count(tmp_path, "SELECT count(*) FROM events WHERE id = 'cli-evt-1'") == 1  # the watched folder ran too


@pytest.mark.parametrize(
    ("key", "value"),
    [("PULSEBOARD_SYSTEM_INTERVAL_S", "0.1"), ("PULSEBOARD_METRIC_NAME_PATTERN", "[unclosed")],
)
def test_a_bad_setting_stops_it_with_the_key_named(tmp_path, key, value):
    result = run_collectors(tmp_path, "--once", **{key: value})
    assert result.returncode == 2, result.stdout + result.stderr
    assert key in result.stderr and "Traceback" not in result.stderr, result.stderr
    assert not (tmp_path / "store.db").exists()  # refused before touching the store


def test_run_keeps_collecting_until_sigterm_then_exits_0(tmp_path):
    log_path = tmp_path / "collectors.log"
    with log_path.open("w") as log:
        process = subprocess.Popen(
            [sys.executable, "-m", "collectors", "run"],
            cwd=ROOT,
            stdout=log,
            stderr=subprocess.STDOUT,
            env=environment(tmp_path, PULSEBOARD_SYSTEM_INTERVAL_S="1"),
        )
    try:
        deadline = time.monotonic() + 60
        # A CPU rate needs two readings: seeing one proves the scheduler ran the collector repeatedly.
        while samples_while_starting(tmp_path, "system_cpu_percent") == 0:
            assert process.poll() is None, log_path.read_text()
            assert time.monotonic() < deadline, f"no system_cpu_percent within 60 s:\n{log_path.read_text()}"
            time.sleep(0.5)
        process.send_signal(signal.SIGTERM)
        assert process.wait(timeout=30) == 0, log_path.read_text()
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
