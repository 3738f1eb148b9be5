"""Generate a report into the history, in the caller's thread (CLI, schedules) or in a background thread (page).

The Reports page must not build a report on its script thread (a 30-day PDF takes seconds, and Streamlit
reruns the script on every click), so :func:`start_background` writes the ``running`` row, returns its id
at once and builds in a daemon thread; the page polls :func:`core.reports.history.get` for the progress.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Mapping

from sqlalchemy.engine import Engine

from core.config import Settings
from core.reports import history
from core.reports.build import build, check, render

log = logging.getLogger(__name__)


def generate(
    engine: Engine,
    settings: Settings,
    report_id: int,
    kind: str,
    fmt: str,
    start_ms: int,
    end_ms: int,
    scope: Mapping[str, str],
) -> bytes | None:
    """Build and render into row ``report_id``; on failure the row says why and None is returned."""
    try:
        report = build(
            engine,
            kind,
            start_ms,
            end_ms,
            scope,
            settings=settings,
            progress=lambda f, m: history.progress(engine, report_id, f, m),
        )
        history.progress(engine, report_id, 0.7, f"rendering {fmt.upper()}")
        content = render(report, fmt)
    except Exception as error:  # the failure is stored and shown, never lost
        log.exception("report %s failed", report_id)
        history.fail(engine, report_id, f"{type(error).__name__}: {error}")
        return None
    history.finish(engine, report_id, content)
    return content


def start_background(
    engine: Engine,
    settings: Settings,
    kind: str,
    fmt: str,
    start_ms: int,
    end_ms: int,
    scope: Mapping[str, str],
    actor: str,
) -> tuple[int, threading.Thread]:
    """Validate, record the request (audited) and build in a daemon thread; returns the row id and the thread."""
    check(kind, fmt, start_ms, end_ms)
    report_id = history.start(engine, kind, fmt, start_ms, end_ms, dict(scope), actor)
    thread = threading.Thread(
        target=generate,
        args=(engine, settings, report_id, kind, fmt, start_ms, end_ms, scope),
        name=f"report-{report_id}",
        daemon=True,
    )
    thread.start()
    return report_id, thread
