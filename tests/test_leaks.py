"""What the server lets out: the files it writes are its own (0600/0700), and browsers get no exception details.

The real server keeps what it writes to itself: files 0600, folders 0700 under its data folder.

The store, its WAL, the spool, rejected inbox lines and secrets hold data and credentials;
with the usual umask 022 they were readable by every local user. app.py sets umask 077 before
anything touches the data folder. The server here gets a data folder that does not exist yet,
so every file and folder in it is one the server created.
"""

from __future__ import annotations

import stat
import time
import tomllib

import httpx
import pytest

from core.config import ROOT
from tests.live import live_server

pytestmark = pytest.mark.server


def wait_for(condition, timeout_s: float = 30.0) -> None:
    deadline = time.monotonic() + timeout_s
    while not condition():
        assert time.monotonic() < deadline, "the server never wrote the expected files"
        time.sleep(0.1)


def test_files_the_server_creates_are_private(tmp_path):
    data = tmp_path / "data"
    env = {
        "PULSEBOARD_DATA_DIR": str(data),
        "PULSEBOARD_DATABASE_URL": f"sqlite:///{data / 'store' / 'pulseboard.db'}",
        "PULSEBOARD_INBOX_DIR": str(data / "inbox"),
    }
    with live_server(tmp_path, env=env) as server:
        wait_for(lambda: (data / "store" / "pulseboard.db-wal").exists() and (data / "spool").is_dir())
        (data / "inbox").mkdir()  # a file dropped by someone else: the watcher writes its rejects
        (data / "inbox" / "bad.events.jsonl").write_text("{not json\n")
        wait_for(lambda: any(p.name.endswith(".rejected.jsonl") for p in data.rglob("*")))
        assert httpx.get(f"{server.url}/api/v1/health", timeout=10).status_code == 200
        created = [data, *data.rglob("*")]
        modes = {str(p.relative_to(tmp_path)): stat.S_IMODE(p.stat().st_mode) for p in created}
    ours = {"data/inbox", "data/inbox/bad.events.jsonl"}  # made by this test, not the server
    loose = {
        name: oct(mode)
        for name, mode in modes.items()
        if name not in ours and mode != (0o700 if (tmp_path / name).is_dir() else 0o600)
    }
    assert loose == {}
    names = set(modes)
    assert {
        "data/store/pulseboard.db",
        "data/store/pulseboard.db-wal",
        "data/admin-password.txt",
        "data/spool",
    } <= names
    assert any(name.startswith("data/inbox/rejected/") for name in names)


def test_browsers_get_no_exception_details():
    """Tracebacks can carry paths, SQL and settings; "false" (the legacy value) would still show the traceback."""
    config = tomllib.loads((ROOT / ".streamlit" / "config.toml").read_text())
    assert config["client"]["showErrorDetails"] == "none"
