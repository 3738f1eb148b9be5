"""Pulseboard's own health, in Prometheus terms, served at ``/metrics``.

A private registry keeps the exposition to what Pulseboard itself measures, so a
Prometheus server scraping us sees stable, documented names (docs/metrics.md).
"""

from __future__ import annotations

import math
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

from prometheus_client import (
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    disable_created_metrics,
    generate_latest,
)
from prometheus_client.core import GaugeMetricFamily

disable_created_metrics()  # the _created series only double the exposition
REGISTRY = CollectorRegistry(auto_describe=True)

INGEST_ITEMS = Counter(
    "pulseboard_ingest_items_total",
    "Samples and events stored, by kind and origin.",
    ["kind", "origin"],
    registry=REGISTRY,
)
INGEST_REJECTED = Counter(
    "pulseboard_ingest_rejected_batches_total", "Batches refused as invalid, by origin.", ["origin"], registry=REGISTRY
)
INGEST_SECONDS = Histogram(
    "pulseboard_ingest_seconds",
    "Time to validate and write one batch.",
    ["origin"],
    registry=REGISTRY,
    buckets=(0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5),
)
JOB_SECONDS = Histogram(
    "pulseboard_job_run_seconds",
    "Duration of one background job or collector run.",
    ["job"],
    registry=REGISTRY,
    buckets=(0.001, 0.01, 0.05, 0.1, 0.5, 1, 5, 30),
)
JOB_ERRORS = Counter(
    "pulseboard_job_errors_total", "Background job or collector runs that raised.", ["job"], registry=REGISTRY
)
DATABASE_BYTES = Gauge("pulseboard_database_bytes", "Size of the store on disk.", registry=REGISTRY)
QUERY_SECONDS = Histogram(
    "pulseboard_query_seconds",
    "Time of one dashboard query.",
    ["query"],
    registry=REGISTRY,
    buckets=(0.001, 0.005, 0.01, 0.05, 0.1, 0.25, 0.5, 1, 5),
)
SPOOL_WRITTEN = Counter(
    "pulseboard_spool_written_batches",
    "Batches written to the on-disk spool because the store or server was unreachable.",
    ["origin"],
    registry=REGISTRY,
)
SPOOL_REPLAYED = Counter(
    "pulseboard_spool_replayed_batches",
    "Spooled batches delivered after the store or server came back.",
    ["origin"],
    registry=REGISTRY,
)
SPOOL_REFUSED = Counter(
    "pulseboard_spool_refused_batches",
    "Batches lost because the spool was full (logged as errors).",
    ["origin"],
    registry=REGISTRY,
)
SPOOL_QUARANTINED = Counter(
    "pulseboard_spool_quarantined_batches",
    "Spooled batches set aside under spool/rejected because they cannot be stored.",
    ["reason"],
    registry=REGISTRY,
)
SPOOL_BATCHES = Gauge("pulseboard_spool_batches", "Batches waiting in the spool.", registry=REGISTRY)
SPOOL_BYTES = Gauge("pulseboard_spool_bytes", "Size of the batches waiting in the spool.", registry=REGISTRY)
API_SPOOL_BATCHES = Gauge(
    "pulseboard_api_spool_batches",
    "API batches accepted (202) while the store could not take them, waiting in the API spool.",
    registry=REGISTRY,
)
API_SPOOL_BYTES = Gauge(
    "pulseboard_api_spool_bytes", "Size of the API batches waiting in the API spool.", registry=REGISTRY
)
STORE_UP = Gauge(
    "pulseboard_store_up",
    "1 while writes to the store succeed; 0 from a write refused as an outage (locked, unreachable, read-only, "
    "full) until one succeeds again.",
    registry=REGISTRY,
)
STORE_UP.set(1)  # assumed up until a write says otherwise: a fresh process must not report an outage
STORE_UNAVAILABLE = Counter(
    "pulseboard_store_unavailable",
    "Store operations refused for a reason that means 'try later', by condition (locked, read_only, ...).",
    ["condition"],
    registry=REGISTRY,
)
SCRAPES = Counter(
    "pulseboard_scrapes",
    "Prometheus target scrapes, by job and result (ok or failed).",
    ["job", "result"],
    registry=REGISTRY,
)

MEMORY_HELP = (
    "Where this process's memory is, by pool: rss, glibc_in_use, glibc_free, arrow, query_cache (docs/metrics.md)."
)
_MEMORY_READERS: dict[str, Callable[[], float]] = {}  # pools other modules own (the query cache)


def add_memory_pool(pool: str, read: Callable[[], float]) -> None:
    """Report ``read()`` as ``pulseboard_memory_bytes{pool=...}`` at every collection."""
    _MEMORY_READERS[pool] = read


class _MemoryPools:
    """``pulseboard_memory_bytes``, read when the registry is collected: by /metrics and by the stored copy alike."""

    def describe(self) -> list[GaugeMetricFamily]:
        return [GaugeMetricFamily("pulseboard_memory_bytes", MEMORY_HELP, labels=["pool"])]

    def collect(self) -> Iterator[GaugeMetricFamily]:
        family = GaugeMetricFamily("pulseboard_memory_bytes", MEMORY_HELP, labels=["pool"])
        for pool, value in {**memory_pools(), **{p: float(r()) for p, r in _MEMORY_READERS.items()}}.items():
            family.add_metric([pool], value)
        yield family


REGISTRY.register(_MemoryPools())
THREADS = Gauge("pulseboard_threads", "Python threads alive in this process.", registry=REGISTRY)
THREADS.set_function(threading.active_count)


def memory_pools() -> dict[str, float]:
    """Bytes held per memory pool now: a growing RSS is only actionable once the pool that grows is known."""
    import sys

    import psutil

    pools = {"rss": float(psutil.Process().memory_info().rss)}
    libc = _libc()
    if libc is not None and hasattr(libc, "mallinfo2"):
        info = _mallinfo2(libc)
        pools["glibc_in_use"] = float(info.uordblks + info.hblkhd)
        pools["glibc_free"] = float(info.fordblks)
    if "pyarrow" in sys.modules:  # never imported just to say it holds nothing
        pools["arrow"] = float(sys.modules["pyarrow"].total_allocated_bytes())
    return pools


MALLINFO2_FIELDS = (  # struct mallinfo2, in glibc's order
    "arena",
    "ordblks",
    "smblks",
    "hblks",
    "hblkhd",
    "usmblks",
    "fsmblks",
    "uordblks",
    "fordblks",
    "keepcost",
)


def _mallinfo2(libc: Any) -> Any:
    import ctypes

    class MallInfo2(ctypes.Structure):
        _fields_ = [(name, ctypes.c_size_t) for name in MALLINFO2_FIELDS]

    libc.mallinfo2.restype = MallInfo2
    return libc.mallinfo2()


def exposition() -> bytes:
    """The current values in Prometheus text format 0.0.4."""
    return generate_latest(REGISTRY)


class PageRuns:
    """Slowest and count of page script runs per page since the last :meth:`drain`.

    Kept outside the Prometheus registry: the self-metrics collector stores the slowest
    run of each page per interval as ``pulseboard_page_load_seconds{page=...}``, the
    series the default "Dashboard page load" SLA reads. Memory is one entry per page.
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._runs: dict[str, tuple[float, int]] = {}

    def record(self, page: str, seconds: float) -> None:
        """Note that one run of ``page`` took ``seconds``; refuses an empty page or a negative/non-finite time."""
        if not isinstance(page, str) or not page.strip():
            raise ValueError("page run: give the page name, e.g. 'overview'")
        if not math.isfinite(seconds) or seconds < 0:
            raise ValueError(f"page run of {page!r}: seconds must be a finite number >= 0, got {seconds!r}")
        with self._lock:
            slowest, count = self._runs.get(page, (0.0, 0))
            self._runs[page] = (max(slowest, float(seconds)), count + 1)

    def drain(self) -> dict[str, tuple[float, int]]:
        """(slowest seconds, runs) per page since the previous drain, and start afresh."""
        with self._lock:
            runs, self._runs = self._runs, {}
        return runs


PAGE_RUNS = PageRuns()


def record_page_run(page: str, seconds: float) -> None:
    """Record how long one run of a page script took (the page-load SLA's source).

    Called by the navigation hook after each page run, e.g.
    ``record_page_run("overview", time.perf_counter() - started)``.
    """
    PAGE_RUNS.record(page, seconds)


def start_memory_snapshots(folder: Path, every_s: float) -> threading.Thread:
    """Trace allocations and dump a tracemalloc snapshot every ``every_s`` seconds into ``folder``.

    What grows in a long-running server shows only after hours; comparing two snapshots
    (``tracemalloc.Snapshot.load(a).compare_to(load(b), "lineno")``) names the lines that
    allocated the growth. Opt-in (``PULSEBOARD_MEMORY_SNAPSHOT_DIR``): tracing slows every allocation.
    """
    import tracemalloc

    folder.mkdir(parents=True, exist_ok=True)
    tracemalloc.start(12)

    def dump() -> None:
        count = 0
        while True:
            time.sleep(every_s)
            count += 1
            tracemalloc.take_snapshot().dump(str(folder / f"memory-{count:04d}.snapshot"))

    thread = threading.Thread(target=dump, name="memory-snapshots", daemon=True)
    thread.start()
    return thread


M_ARENA_MAX = -8  # glibc mallopt parameter


def _libc() -> Any:
    import ctypes
    import ctypes.util

    name = ctypes.util.find_library("c")
    try:
        libc = ctypes.CDLL(name or "libc.so.6")
        libc.malloc_trim  # noqa: B018 — glibc only; musl and macOS have no malloc_trim
    except (OSError, AttributeError):
        return None
    return libc


def keep_native_memory_flat(every_s: float = 60.0) -> threading.Thread | None:
    """Stop the C heap from growing for good in a server that runs for weeks (glibc only; a no-op elsewhere).

    Most of this process's memory is not Python objects but C allocations — SQLite pages, the
    database drivers' row buffers, JSON and protobuf parsers — made by many threads (request
    workers, collectors, jobs, one per browser session). glibc gives each thread an arena of
    its own, up to eight per core, and keeps freed memory in them: RSS then only rises. A soak
    with steady ingest and three open dashboards grew several hundred MB an hour that way while
    the Python heap (tracemalloc) stayed flat. Two arenas are plenty for a process whose CPU work
    is mostly in one interpreter, and a periodic ``malloc_trim`` hands freed pages back.
    """
    libc = _libc()
    if libc is None:
        return None
    libc.mallopt(M_ARENA_MAX, 2)

    def trim() -> None:
        while True:
            time.sleep(every_s)
            libc.malloc_trim(0)

    thread = threading.Thread(target=trim, name="malloc-trim", daemon=True)
    thread.start()
    return thread
