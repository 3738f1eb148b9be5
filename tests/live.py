"""A real Pulseboard server (``streamlit run app.py``) on a free port, for HTTP and browser tests."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import httpx
from sqlalchemy.engine import Engine

from core.auth.tokens import create_token
from core.store.engine import make_engine
from core.store.migrate import upgrade

ROOT = Path(__file__).resolve().parent.parent
CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update"]


@dataclass
class LiveServer:
    """A running server: its base URL, the log file, the process, and an ingest+read API token."""

    url: str
    log_path: Path
    process: subprocess.Popen[bytes]
    token: str = ""

    @property
    def headers(self) -> dict[str, str]:
        """``Authorization`` header carrying :attr:`token`."""
        return {"Authorization": f"Bearer {self.token}"}

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@contextmanager
def live_server(
    tmp: Path,
    env: dict[str, str] | None = None,
    timeout_s: float = 90.0,
    prepare: Callable[[Engine], None] | None = None,
    port: int | None = None,
) -> Iterator[LiveServer]:
    """Start the app like `make run` does, wait until /api/v1/health answers, stop it on exit.

    Login and API tokens are on. Before the start, the server's SQLite store is migrated
    and given an API token (scopes ingest and read, in ``server.token``); ``prepare``
    may add more (users, say) through core functions, exactly as an admin would.
    """
    port = port or free_port()  # a fixed port lets a restarted server keep its clients (bench/soak.py)
    store = make_engine(f"sqlite:///{tmp / 'pulseboard.db'}")
    upgrade(store)
    _, token = create_token(store, "tests", ["ingest", "read"], "tests")
    if prepare is not None:
        prepare(store)
    store.dispose()
    log_path = tmp / "server.log"
    environment = {
        **os.environ,
        "PULSEBOARD_CONFIG": str(tmp / "none.toml"),
        "PULSEBOARD_DATABASE_URL": f"sqlite:///{tmp / 'pulseboard.db'}",
        "PULSEBOARD_DATA_DIR": str(tmp),
        "PULSEBOARD_INBOX_DIR": str(tmp / "inbox"),
        "PULSEBOARD_DEMO": "0",
        "PULSEBOARD_AUTH": "on",
        **(env or {}),
    }
    command = [
        sys.executable,
        "-m",
        "streamlit",
        "run",
        "app.py",
        "--server.headless",
        "true",
        "--server.port",
        str(port),
        "--server.address",
        "127.0.0.1",
    ]
    with log_path.open("wb") as log:
        process = subprocess.Popen(command, cwd=ROOT, env=environment, stdout=log, stderr=subprocess.STDOUT)
    server = LiveServer(f"http://127.0.0.1:{port}", log_path, process, token)
    with running(process, f"{server.url}/api/v1/health", timeout_s, server.log, "server"):
        yield server


@contextmanager
def running(
    process: subprocess.Popen[bytes], ready_url: str, timeout_s: float, log: Callable[[], str], what: str
) -> Iterator[None]:
    """Wait until ``ready_url`` answers 200 (failing with ``log()`` if the process dies or is late); stop it after."""
    try:
        deadline = time.monotonic() + timeout_s
        while True:
            if process.poll() is not None:
                raise RuntimeError(f"{what} exited with {process.returncode}:\n{log()}")
            try:
                if httpx.get(ready_url, timeout=1).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            if time.monotonic() > deadline:
                raise RuntimeError(f"{what} did not answer within {timeout_s} s:\n{log()}")
            time.sleep(0.2)
        yield
    finally:
        if process.poll() is None:
            process.send_signal(signal.SIGTERM)
            try:
                process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
