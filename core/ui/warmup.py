"""One-time work of a server process that would otherwise fall on its first viewer, done at start instead.

Why: the first page a fresh server draws used to pay for things no page script asks for by name —
Streamlit importing pandas and pyarrow for its first table or chart (about 0.5 s on a 2-core machine)
and the start of the SQLite read workers (core.store.columnar: a process each, importing pyarrow and the
ADBC driver). app.py's lifespan runs :func:`warm_up` in a background thread, so start-up is not
delayed and the first viewer finds them ready; bench/pages.py runs it before its cold page runs and
reports its time as ``page_warmup_ms``.
"""

from __future__ import annotations

import importlib
import logging
import threading
import time

from sqlalchemy.engine import Engine

from core.store import columnar

log = logging.getLogger(__name__)

# What Streamlit imports on the first st.dataframe / st.altair_chart (streamlit.dataframe_util, its Arrow
# serialisation), measured by the modules a first page run added to sys.modules; none is a page's own import.
DRAWING_MODULES = ("pandas", "pyarrow", "streamlit.dataframe_util", "narwhals")


def warm_up(engine: Engine) -> dict[str, float]:
    """Import what drawing the first table needs and start the SQLite read workers; milliseconds per step.

    Never raises: anything that fails here is simply paid (and reported) by the first page, as before.
    """
    spent: dict[str, float] = {}
    started = time.perf_counter()
    for name in DRAWING_MODULES:
        try:
            importlib.import_module(name)
        except ImportError:
            log.debug("warm-up: %s is not installed", name)
    spent["imports_ms"] = (time.perf_counter() - started) * 1000
    started = time.perf_counter()
    try:
        columnar.start_readers(engine)
    except Exception:  # a warm-up must never stop the server
        log.warning("warm-up: starting the SQLite read workers failed", exc_info=True)
    spent["readers_ms"] = (time.perf_counter() - started) * 1000
    return spent


def warm_up_in_background(engine: Engine) -> threading.Thread:
    """:func:`warm_up` in a daemon thread (the server answers meanwhile); the thread, for whoever wants to wait."""
    thread = threading.Thread(target=warm_up, args=(engine,), name="warm-up", daemon=True)
    thread.start()
    return thread
