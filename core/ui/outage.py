"""The "store unavailable" banner that replaces a traceback when a page cannot reach the store.

A locked, stopped, read-only or full store is an operating condition, not a bug: the
viewer should learn what failed, since when, and that nothing is lost (collectors and
the API spool what arrives and replay it), not read a SQLAlchemy stack trace with the
SQL in it. :func:`store_guard` wraps a page run (pages/navigation.py) and every live
panel's rerun (core.ui.chrome.live); errors that are not outages
(core.store.outage.describe_outage) still raise, so bugs stay visible.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from typing import Any, TypeVar

import streamlit as st

from core.config import get_settings
from core.ingest.health import note_failure
from core.model import now_ms
from core.store.outage import Outage, store_label
from core.ui.timefmt import ago

F = TypeVar("F", bound=Callable[..., Any])

HINTS = {
    "locked": "another process holds a write lock on the store — a backup, a second Pulseboard, a sqlite3 shell",
    "busy": "the database is out of connections or overloaded",
    "read_only": "the permissions of the SQLite file and its folder, a file system remounted read-only, or a Postgres "
    "standby / default_transaction_read_only",
    "disk_full": "free space on the volume that holds the store",
    "unreachable": "that the database server runs and this host can reach it (host, port, firewall, credentials)",
    "io_error": "the disk and the kernel log: the store's file system reports I/O errors",
    "damaged": "the SQLite file: it is not a readable database (restore it from a backup)",
    "unavailable": "the database server's log",
}


def banner(outage: Outage) -> None:
    """``st.error`` saying what failed and since when, and that the data will appear once the store is back."""
    settings = get_settings()
    since = outage.since_ms or now_ms()
    stamp = datetime.fromtimestamp(since / 1000, UTC).strftime("%Y-%m-%d %H:%M:%S UTC")
    detail = outage.detail.replace("`", "'")  # shown in a code span: a path or message is never read as Markdown
    st.error(
        f"**Store unavailable** — the store ({store_label(settings.resolved_database_url)}) is {outage.what}: "
        f"`{detail}`\n\n"
        f"Failing since {stamp} ({ago(since, now_ms())}). Nothing sent meanwhile is lost: collectors and the "
        "API keep it in their spool and replay it, and it will appear here once the store is back.",
        icon=":material/error:",
    )
    st.caption(f"What to check: {HINTS.get(outage.condition, HINTS['unavailable'])}.")
    st.button("Try again", icon=":material/refresh:", key=f"store-retry-{id(outage)}")


@contextmanager
def store_guard() -> Iterator[None]:
    """Run the block; if the store is out, draw :func:`banner` and stop the run instead of raising."""
    try:
        yield
    except Exception as error:
        outage = note_failure(error)
        if outage is None:
            raise
        banner(outage)
        st.stop()


def guarded(render: F) -> F:
    """``render`` run under :func:`store_guard` (for live panels, whose reruns skip the page script)."""

    @functools.wraps(render)
    def run(*args: Any, **kwargs: Any) -> Any:
        with store_guard():
            return render(*args, **kwargs)

    return run  # type: ignore[return-value]
