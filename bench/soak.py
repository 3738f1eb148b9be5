"""Soak: steady ingest and open dashboards for a long time, then a kill -9, a read-only store and abused inbox files.

A wall dashboard stays open for weeks and clients send around the clock, so what matters is
what a short test cannot show: nothing acknowledged is lost or stored twice, ingest latency
stays low, memory levels off, and a crash, a store that refuses writes or a hostile file in
the watched folder costs no data. Phases, all with the ingest clients running:

1. steady: ``--clients`` clients each post ``--rate`` samples/s (one batch a second, each with
   an idempotency key, retried until acknowledged) while ``--viewers`` logged-in browser tabs
   keep Operations and Explore open on a 5 s refresh; the server's RSS is sampled throughout;
2. ``kill -9`` of the server and a restart on the same store and port;
3. the store file made unwritable for ``--readonly-s`` seconds (batches go to the spool or get
   a 503 and are retried);
4. the inbox abused: a rotated file, a truncated one, a partial last line, a 10 MB line, binary
   garbage and a symlink out of the inbox — after each, a good event must still arrive.

Then every acknowledged sample is looked for in the store. Figures: soak_lost_samples,
soak_dup_samples, soak_ingest_p99_ms, soak_rss_growth_mb_per_h (least-squares slope after
``--warmup-min``), fault_lost_samples, inbox_bad_files_crashes. Run with ``--minutes 60`` or
more for a memory slope worth quoting (the default 15 is the fault drill).
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import statistics
import tempfile
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import httpx
import numpy as np
import polars as pl
import psutil
import sqlalchemy as sa
from common import record

from core.auth import users
from core.store.engine import make_engine
from tests.live import CHROMIUM, CHROMIUM_ARGS, LiveServer, free_port, live_server
from tests.store_faults import unwritable

METRIC = "soak_samples"
SLOTS = 10  # series per client: labels client=<i>, slot=<seq % SLOTS>
PASSWORD = "soak viewer password"
VIEWER_PAGES = ("operations?refresh=5+s", "explore?refresh=5+s", "operations?refresh=5+s&range=24+h")


@dataclass
class Target:
    """Where the clients send: swapped when the server restarts."""

    url: str
    headers: dict[str, str]


@dataclass
class Client:
    """One ingest client's record: acknowledged batches, latencies per phase, refusals."""

    index: int
    acked: dict[str, list[int]] = field(default_factory=dict)  # phase → first sequence number of each acked batch
    latencies_ms: dict[str, list[float]] = field(default_factory=dict)
    statuses: dict[int, int] = field(default_factory=dict)
    errors: int = 0


class Run:
    """Shared state of one soak: the phase, the stop flag and the current server."""

    def __init__(self, target: Target, batch: int) -> None:
        self.target = target
        self.batch = batch
        self.phase = "steady"
        self.stop = threading.Event()
        self.started_ms = int(time.time() * 1000) - 1
        self.process: psutil.Process | None = None


def body(run: Run, client: int, first: int) -> list[dict[str, object]]:
    """One batch: sample ``seq`` has value ``seq`` and timestamp start + seq ms, so each is unique per series."""
    return [
        {
            "name": METRIC,
            "labels": {"client": str(client), "slot": str(seq % SLOTS)},
            "value": float(seq),
            "timestamp": (run.started_ms - 10_000_000 + seq) / 1000,
        }
        for seq in range(first, first + run.batch)
    ]


def send_forever(run: Run, client: Client) -> None:
    """Post one batch a second; retry the same batch with the same key until it is acknowledged."""
    first = 0
    next_at = time.monotonic()
    with httpx.Client(timeout=30) as http:
        while not run.stop.is_set():
            payload = body(run, client.index, first)
            key = f"soak-{client.index}-{first}"
            while not run.stop.is_set():
                target = run.target
                started = time.perf_counter()
                try:
                    response = http.post(
                        f"{target.url}/api/v1/metrics", json=payload, headers={**target.headers, "Idempotency-Key": key}
                    )
                except httpx.HTTPError:
                    client.errors += 1
                    time.sleep(0.2)
                    continue
                elapsed_ms = (time.perf_counter() - started) * 1000
                client.statuses[response.status_code] = client.statuses.get(response.status_code, 0) + 1
                if response.status_code in (200, 202):
                    client.latencies_ms.setdefault(run.phase, []).append(elapsed_ms)
                    client.acked.setdefault(run.phase, []).append(first)
                    break
                if response.status_code < 500 and response.status_code != 429:
                    raise RuntimeError(f"client {client.index}: {response.status_code} {response.text[:300]}")
                time.sleep(0.2)
            first += run.batch
            next_at += 1.0
            time.sleep(max(0.0, next_at - time.monotonic()))


def sample_rss(run: Run, rss: list[tuple[float, float, float]], every_s: float = 5.0) -> None:
    """(seconds since start, RSS MB, file-backed and shared part MB) of the server while the steady phase lasts.

    The file-backed part (SQLite pages read through the OS, mapped libraries) is kept apart
    because the kernel can drop it under pressure; the rest is the process' own heap.
    """
    started = time.monotonic()
    while not run.stop.is_set() and run.phase == "steady":
        process = run.process
        if process is not None:
            with contextlib.suppress(psutil.Error):
                memory = process.memory_info()
                rss.append((time.monotonic() - started, memory.rss / 2**20, memory.shared / 2**20))
        run.stop.wait(every_s)


def pools(run: Run) -> str:
    """The server's own account of its memory (``pulseboard_memory_bytes`` at /metrics), for the minute lines."""
    try:
        text = httpx.get(f"{run.target.url}/metrics", timeout=10).text
    except httpx.HTTPError as error:
        return f"(/metrics: {error})"
    shown = []
    for line in text.splitlines():
        if line.startswith("pulseboard_memory_bytes{"):
            shown.append(f"{line.split(chr(34))[1]} {float(line.rsplit(' ', 1)[1]) / 2**20:.1f}")
        elif line.startswith("pulseboard_threads "):
            shown.append(f"threads {float(line.rsplit(' ', 1)[1]):.0f}")
    return " ".join(shown)


def watch_in_browser(run: Run, viewers: int, errors: list[str], ready: threading.Event) -> None:
    """Keep ``VIEWER_PAGES`` open, logged in, until the run stops; note any error box seen."""
    from playwright.sync_api import sync_playwright

    with sync_playwright() as driver:
        browser = driver.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        pages = []
        for path in VIEWER_PAGES[:viewers]:
            page = browser.new_context(viewport={"width": 1600, "height": 1000}).new_page()
            page.set_default_timeout(180_000)  # a loaded server (or one tracing its memory) draws slowly
            page.goto(run.target.url + "/")
            page.get_by_role("textbox", name="Username").fill("soak")
            page.get_by_role("textbox", name="Password", exact=True).fill(PASSWORD)
            page.get_by_role("button", name="Log in").click()
            page.locator("[data-testid='stSidebarNav']").wait_for()
            page.goto(f"{run.target.url}/{path}")
            pages.append(page)
        ready.set()
        while not run.stop.wait(30):
            for page in pages:
                with contextlib.suppress(Exception):
                    shown = page.locator("[data-testid='stException']")
                    if shown.count():
                        errors.append(f"{run.phase}: {page.url}: {shown.first.inner_text()[:200]}")
        browser.close()


@contextlib.contextmanager
def server_on(tmp: Path, port: int, run: Run) -> Iterator[LiveServer]:
    """A server on ``port`` over the soak's store, with the collectors (and so the inbox) on."""
    env = {"PULSEBOARD_COLLECTORS": "true", "PULSEBOARD_FILES_INTERVAL_S": "2", "PULSEBOARD_SYSTEM_INTERVAL_S": "15"}
    if os.environ.get("SOAK_TRACE_DIR"):
        env["PULSEBOARD_MEMORY_SNAPSHOT_DIR"] = os.environ["SOAK_TRACE_DIR"]

    def add_viewer(engine: sa.Engine) -> None:
        if users.get_user(engine, "soak") is None:
            users.create_user(engine, "soak", PASSWORD, ["admin"], must_change_password=False)

    with live_server(tmp, env=env, timeout_s=180, prepare=add_viewer, port=port) as server:
        run.target = Target(server.url, server.headers)
        run.process = psutil.Process(server.process.pid)
        yield server


def wait_for_event(tmp: Path, event_id: str, timeout_s: float = 60.0) -> bool:
    """True once ``event_id`` is in the store (the files collector picked it up)."""
    engine = make_engine(f"sqlite:///{tmp / 'pulseboard.db'}")
    try:
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            with engine.connect() as connection:
                if connection.execute(sa.text("SELECT 1 FROM events WHERE id = :id"), {"id": event_id}).first():
                    return True
            time.sleep(0.5)
        return False
    finally:
        engine.dispose()


def event_line(event_id: str) -> str:
    return json.dumps(
        {
            "id": event_id,
            "type": "system.deployment",
            "timestamp": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
            "source": "soak",
            "data": {"component": "soak", "version": event_id, "environment": "test"},
        }
    )


def abuse_inbox(tmp: Path, server: LiveServer) -> dict[str, bool]:
    """Each hostile file, then a good line: True where the server and the collector carried on."""
    inbox = tmp / "inbox"
    inbox.mkdir(exist_ok=True)
    outside = tmp / "outside.events.jsonl"
    outside.write_text(event_line("soak-outside") + "\n")
    good = inbox / "good.events.jsonl"
    results: dict[str, bool] = {}

    def survived(name: str) -> None:
        probe = f"soak-after-{name}"
        with good.open("a") as handle:
            handle.write(event_line(probe) + "\n")
        alive = server.process.poll() is None and wait_for_event(tmp, probe)
        results[name] = alive
        print(f"  inbox {name}: {'carried on' if alive else 'STOPPED'}")

    log = inbox / "app.events.jsonl"
    log.write_text("".join(event_line(f"soak-rot-{n}") + "\n" for n in range(50)))
    survived("baseline")
    log.rename(inbox / "app.events.jsonl.1")
    log.write_text(event_line("soak-rot-new") + "\n")
    survived("rotated")
    log.write_text("")  # truncated below the saved offset
    survived("truncated")
    with log.open("a") as handle:
        handle.write(event_line("soak-partial")[:40])  # a line still being written
    survived("partial_last_line")
    with (inbox / "huge.events.jsonl").open("w") as handle:
        handle.write('{"id": "soak-huge", "pad": "' + "x" * 10_000_000 + '"}\n')
    survived("line_10mb")
    (inbox / "garbage.events.jsonl").write_bytes(os.urandom(1 << 20))
    survived("binary_garbage")
    (inbox / "escape.events.jsonl").symlink_to(outside)
    survived("symlink_out")
    results["symlink_not_followed"] = not wait_for_event(tmp, "soak-outside", timeout_s=5)
    return results


def wait_for_spool(server: LiveServer, timeout_s: float = 600.0) -> float:
    """Wait until the API spool has replayed every batch it accepted (202); the batches still waiting at the timeout."""
    deadline = time.monotonic() + timeout_s
    waiting = float("nan")
    while time.monotonic() < deadline:
        httpx.get(f"{server.url}/api/v1/ready", headers=server.headers, timeout=30)  # a request nudges the replay
        exposition = httpx.get(f"{server.url}/metrics", headers=server.headers, timeout=30).text
        line = next((x for x in exposition.splitlines() if x.startswith("pulseboard_api_spool_batches ")), None)
        waiting = float(line.split()[1]) if line else 0.0
        if waiting == 0:
            return 0.0
        time.sleep(2)
    return waiting


def verify(tmp: Path, clients: list[Client], batch: int) -> dict[str, int]:
    """Acknowledged samples missing from the store (per phase of acknowledgement), and samples stored twice."""
    engine = make_engine(f"sqlite:///{tmp / 'pulseboard.db'}")
    try:
        with engine.connect() as connection:
            frame = pl.read_database(
                "SELECT s.labels AS labels, p.value AS value FROM samples p JOIN series s ON s.id = p.series_id "
                f"WHERE s.name = '{METRIC}'",
                connection,
            )
    finally:
        engine.dispose()
    frame = frame.with_columns(
        pl.col("labels").str.json_path_match("$.client").cast(pl.Int64).alias("client"),
        pl.col("value").cast(pl.Int64),
    )
    found = {"duplicates": frame.height - frame.select("client", "value").n_unique(), "stored": frame.height}
    for client in clients:
        stored = np.sort(frame.filter(pl.col("client") == client.index)["value"].unique().to_numpy())
        for phase, acked in client.acked.items():
            firsts = np.asarray(acked, dtype=np.int64)
            present = np.searchsorted(stored, firsts + batch) - np.searchsorted(stored, firsts)
            found[f"lost_{phase}"] = found.get(f"lost_{phase}", 0) + int(batch * len(firsts) - present.sum())
    return found


def slope_mb_per_h(rss: list[tuple[float, float]], warmup_s: float) -> float:
    """Least-squares slope of RSS after the warm-up, in MB per hour."""
    points = [(t, mb) for t, mb in rss if t >= warmup_s]
    if len(points) < 3:
        return float("nan")
    hours = np.array([t for t, _ in points]) / 3600
    return float(np.polyfit(hours, np.array([mb for _, mb in points]), 1)[0])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--minutes", type=float, default=15.0, help="length of the steady phase")
    parser.add_argument("--warmup-min", type=float, default=10.0)
    parser.add_argument("--clients", type=int, default=8)
    parser.add_argument("--rate", type=int, default=500, help="samples/s per client")
    parser.add_argument("--viewers", type=int, default=3)
    parser.add_argument("--readonly-s", type=float, default=60.0)
    parser.add_argument("--no-record", action="store_true", help="print the figures, leave bench/results.json alone")
    args = parser.parse_args()

    with tempfile.TemporaryDirectory(prefix="soak-") as folder, contextlib.ExitStack() as last:
        tmp = Path(folder)
        port = free_port()
        run = Run(Target("", {}), args.rate)
        clients = [Client(n) for n in range(args.clients)]
        rss: list[tuple[float, float, float]] = []
        viewer_errors: list[str] = []
        last.callback(run.stop.set)  # runs before the server stops: clients and viewers end first
        first = contextlib.ExitStack()
        server = first.enter_context(server_on(tmp, port, run))
        if args.viewers:
            viewers_ready = threading.Event()
            viewers = threading.Thread(target=watch_in_browser, args=(run, args.viewers, viewer_errors, viewers_ready))
            viewers.start()
            last.callback(viewers.join, 120)
            viewers_ready.wait(180)
        senders = [threading.Thread(target=send_forever, args=(run, c), daemon=True) for c in clients]
        for thread in [*senders, threading.Thread(target=sample_rss, args=(run, rss), daemon=True)]:
            thread.start()
        print(f"steady: {args.clients} clients × {args.rate} samples/s, {args.viewers} viewers, {args.minutes} min")
        deadline = time.monotonic() + args.minutes * 60
        while time.monotonic() < deadline:
            time.sleep(min(60, max(0.0, deadline - time.monotonic())))
            acked = sum(len(b) for c in clients for b in c.acked.values()) * args.rate
            now_mb, shared_mb = rss[-1][1:] if rss else (float("nan"), float("nan"))
            print(f"  rss {now_mb:7.1f} MB (shared {shared_mb:5.1f}) {pools(run)}  acknowledged {acked:,}", flush=True)
        run.phase = "kill"
        killed = time.monotonic()
        server.process.kill()
        server.process.wait()
        first.close()
        server = last.enter_context(server_on(tmp, port, run))
        restart_s = time.monotonic() - killed
        print(f"kill -9: answering again after {restart_s:.1f} s", flush=True)
        time.sleep(30)
        run.phase = "readonly"
        with unwritable(tmp / "pulseboard.db"):
            time.sleep(args.readonly_s)
        run.phase = "recovered"
        time.sleep(30)
        run.phase = "inbox"
        inbox = abuse_inbox(tmp, server)
        run.phase = "drain"
        time.sleep(10)
        run.stop.set()
        for thread in senders:
            thread.join(timeout=60)
        waiting = wait_for_spool(server)  # what a busy or locked store sent to the spool is stored by its replay
        alive = server.process.poll() is None
        last.close()
        found = verify(tmp, clients, args.rate)

    steady = [ms for c in clients for ms in c.latencies_ms.get("steady", [])]
    fault = [ms for c in clients for phase in ("kill", "readonly", "recovered") for ms in c.latencies_ms.get(phase, [])]
    statuses: dict[int, int] = {}
    for client in clients:
        for status, count in client.statuses.items():
            statuses[status] = statuses.get(status, 0) + count
    acked = sum(len(b) for c in clients for b in c.acked.values()) * args.rate
    print(
        f"acknowledged {acked:,} samples, stored {found['stored']:,}; statuses {statuses}; "
        f"connection errors {sum(c.errors for c in clients)}; batches acked during faults {len(fault)}"
    )
    print(f"lost per phase: { {k: v for k, v in found.items() if k.startswith('lost_')} }")
    print(
        f"viewer errors: {viewer_errors or 'none'}; inbox: {inbox}; server alive at the end: {alive}; "
        f"API spool batches not replayed when verified: {waiting:g}"
    )
    rss_mb = [mb for _, mb, _ in rss]
    warmup_s = args.warmup_min * 60
    figures = {
        "soak_lost_samples": found.get("lost_steady", 0),
        "soak_dup_samples": found["duplicates"],
        "soak_ingest_p50_ms": statistics.median(steady),
        "soak_ingest_p99_ms": float(np.percentile(steady, 99)),
        "soak_rss_start_mb": rss_mb[0],
        "soak_rss_end_mb": rss_mb[-1],
        "soak_rss_growth_mb_per_h": slope_mb_per_h([(t, mb) for t, mb, _ in rss], warmup_s),
        "soak_rss_anon_growth_mb_per_h": slope_mb_per_h([(t, mb - shared) for t, mb, shared in rss], warmup_s),
        "soak_minutes": args.minutes,
        "soak_viewer_errors": len(viewer_errors),
        "fault_lost_samples": sum(v for k, v in found.items() if k.startswith("lost_") and k != "lost_steady"),
        "fault_restart_s": restart_s,
        "inbox_bad_files_crashes": sum(not ok for ok in inbox.values()) + (not alive),
    }
    if args.no_record:
        print(figures)
    else:
        record(figures)


if __name__ == "__main__":
    main()
