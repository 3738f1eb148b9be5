"""Making a real store fail on purpose (an unwritable file, connections that may only read), for outage tests."""

from __future__ import annotations

import contextlib
import os
import stat
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest
import sqlalchemy as sa


@contextlib.contextmanager
def unwritable(path: Path) -> Iterator[None]:
    """``path`` cannot be opened for writing: chmod a-w, or the immutable attribute for root (chmod cannot stop)."""
    if os.geteuid() == 0:
        done = subprocess.run(["chattr", "+i", str(path)], capture_output=True, text=True)
        if done.returncode != 0:
            pytest.skip(f"root, and no immutable attribute on this file system: {done.stderr.strip()}")
        try:
            yield
        finally:
            subprocess.run(["chattr", "-i", str(path)], check=True)
        return
    mode = path.stat().st_mode
    path.chmod(stat.S_IRUSR | stat.S_IRGRP | stat.S_IROTH)
    try:
        yield
    finally:
        path.chmod(mode)


def refusing_writes(engine: sa.Engine) -> sa.Engine:
    """The same store through connections that may only read (a read-only file or replica)."""
    url = engine.url.render_as_string(hide_password=False)
    if engine.dialect.name == "sqlite":
        reader = sa.create_engine(url)
        sa.event.listen(reader, "connect", lambda connection, _: connection.execute("PRAGMA query_only=1"))
        return reader
    return sa.create_engine(url, connect_args={"options": "-c default_transaction_read_only=on"})
