"""What host collection costs next to its peers: Pulseboard's system collector, node_exporter, glances, bare psutil.

Issue #23 item 2 asks whether Pulseboard's collector is cheap enough beside the tools a team
would otherwise run. Every peer runs as its own process, all of them side by side over the same
window, so a busy machine weighs on each alike; the round is repeated and the spread reported.

- ``pulseboard_collector_1s`` / ``_2s``: the system collector scheduled as ``python -m collectors
  run`` schedules it (collectors/runner.py: scheduler, spool sink, ingest), storing every batch
  into its own SQLite store, at 1 s and at glances' 2 s.
- ``pulseboard_nostore_1s``: bench/collectors.py's own child (collect only, no store), for the
  cost of storing.
- ``node_exporter_1s``: Debian's prometheus-node-exporter with its default collectors, scraped
  every second by a small scraper (``node_exporter_scraper_1s``, gzip as Prometheus asks; its cost
  is reported on its own and not counted as the exporter's).
- ``glances_2s``: glances as a REST server (``-w --disable-webui -t 2``), whose stats are only
  refreshed when asked, so a poller (``glances_poller_2s``) reads ``/api/3/all`` every 2 s.
- ``psutil_floor_1s``: a bare loop reading the same figures as the system collector through
  psutil (CPU times, load, memory, swap, filesystems, disk and network counters, the process
  list every ``system_top_interval_s``), storing nothing: the floor for any psutil collector.

CPU is the process tree's user+system time (children included) over the window, as % of one
core; RSS is the tree's resident set at the end (``peer_rss_mb_*``) and its peak over
once-a-second readings (``peer_rss_peak_mb_*``). Each figure is the median of the rounds,
with ``_min`` / ``_max``; ``peer_cpu_ratio_node_exporter`` and ``_glances`` are Pulseboard's
CPU over the peer's at the same interval, per round (BENCH.md: ≤ 0.5).

Missing Debian packages are installed with apt-get (as scripts/ensure-prometheus.sh does);
a peer that cannot be installed or does not start is reported as not measured
(``peer_measured_<peer>`` = 0, with the reason printed) and the bench still exits 0.

``--quick``: 10 s windows, one round, nothing recorded. ``--without PEER`` leaves a peer out.
"""

from __future__ import annotations

import argparse
import gzip
import http.client
import json
import os
import select
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
import zlib
from collections.abc import Callable, Mapping
from contextlib import ExitStack
from dataclasses import dataclass
from pathlib import Path

import psutil
from common import BENCH, ROOT, record  # type: ignore[import-not-found]

# bench/collectors.py is named like the collectors package; keep bench/ off the path so imports find the package.
sys.path[:] = [str(ROOT)] + [p for p in sys.path if os.path.realpath(p or ".") not in (str(BENCH), str(ROOT))]

NODE_EXPORTER = "/usr/bin/prometheus-node-exporter"
GLANCES = "/usr/bin/glances"
# peer -> Debian packages; glances -w needs bottle, only a Recommends of the glances package
PACKAGES = {"node_exporter": ("prometheus-node-exporter",), "glances": ("glances", "python3-bottle")}
APT = ("apt-get", "-o", "DPkg::Lock::Timeout=600")


@dataclass(frozen=True)
class Reading:
    """A process tree's CPU seconds so far and its resident memory now."""

    cpu_s: float
    rss_mb: float


@dataclass(frozen=True)
class Usage:
    """One peer over one window."""

    cpu_pct: float
    rss_mb: float
    rss_peak_mb: float


def parents() -> dict[int, int]:
    """Every process's parent pid, read once for all the trees measured at one moment."""
    found = {}
    for process in psutil.process_iter(["ppid"]):
        if process.info["ppid"] is not None:
            found[process.pid] = process.info["ppid"]
    return found


def reading(process: psutil.Process, ppids: Mapping[int, int] | None = None) -> Reading:
    """CPU and RSS of ``process`` and its descendants, reaped children included, so a forking peer pays its share.

    Each live process adds its own time and its reaped children's, so every process that ran
    is counted once, however deep it was. ``ppids`` (from :func:`parents`) saves a scan of
    every process per tree when several are read together.
    """
    ppids = parents() if ppids is None else ppids
    tree, pids = [process.pid], [process.pid]
    while pids:
        pids = [pid for pid, parent in ppids.items() if parent in pids]
        tree += pids
    cpu, rss = 0.0, 0
    for pid in tree:
        try:
            member = process if pid == process.pid else psutil.Process(pid)
            times, memory = member.cpu_times(), member.memory_info()
        except psutil.NoSuchProcess:  # a descendant that ended between the listing and the read
            if pid == process.pid:
                raise
            continue
        cpu += times.user + times.system + times.children_user + times.children_system
        rss += memory.rss
    return Reading(cpu, rss / 2**20)


def measure(processes: Mapping[str, psutil.Process], seconds: float, every: float = 1.0) -> dict[str, Usage]:
    """Each process tree's CPU share and RSS over the same ``seconds``; raises NoSuchProcess if one ends."""
    ppids = parents()
    start = {name: reading(process, ppids) for name, process in processes.items()}
    peak = {name: r.rss_mb for name, r in start.items()}
    began = time.monotonic()
    end = began + seconds
    while (now := time.monotonic()) < end:
        time.sleep(min(every, end - now))
        ppids = parents()
        for name, process in processes.items():
            peak[name] = max(peak[name], reading(process, ppids).rss_mb)
    wall = time.monotonic() - began
    ppids = parents()
    last = {name: reading(process, ppids) for name, process in processes.items()}
    return {
        name: Usage(100.0 * (last[name].cpu_s - start[name].cpu_s) / wall, last[name].rss_mb, max(peak[name], r.rss_mb))
        for name, r in last.items()
    }


# --- installing the peers ----------------------------------------------------------------------------------------


def installed(package: str) -> bool:
    """Whether dpkg has ``package`` installed."""
    result = subprocess.run(["dpkg-query", "-W", "-f=${Status}", package], capture_output=True, text=True)
    return result.returncode == 0 and result.stdout.endswith(" installed")


def ensure(packages: tuple[str, ...]) -> str | None:
    """Install the missing Debian ``packages``; None when all are there, else why they are not."""
    if shutil.which("dpkg-query") is None or shutil.which("apt-get") is None:
        return "not a Debian system (no dpkg-query / apt-get)"
    missing = [package for package in packages if not installed(package)]
    if not missing:
        return None
    if os.geteuid() != 0:
        return f"not installed and not root: run 'sudo apt-get install --no-install-recommends {' '.join(missing)}'"
    print(f"  installing {' '.join(missing)} with apt-get ...", flush=True)
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    install = [*APT, "install", "-y", "-qq", "--no-install-recommends", *missing]
    result = subprocess.run(install, env=env, capture_output=True, text=True)
    if result.returncode:  # perhaps stale package lists: update once and try again
        subprocess.run([*APT, "update", "-qq"], env=env, capture_output=True)
        result = subprocess.run(install, env=env, capture_output=True, text=True)
    if result.returncode:
        lines = (result.stderr or result.stdout).strip().splitlines()
        return f"apt-get install {' '.join(missing)} failed (exit {result.returncode}): {lines[-1] if lines else ''}"
    return None


# --- the children ----------------------------------------------------------------------------------------------


def on_schedule(interval: float, work: Callable[[], object]) -> int:
    """Call ``work`` every ``interval`` s until stdin closes (the parent's stop); the number of calls."""
    runs, next_run = 0, time.monotonic()
    while True:
        work()
        runs += 1
        next_run += interval
        readable, _, _ = select.select([sys.stdin], [], [], max(0.0, next_run - time.monotonic()))
        if readable and not sys.stdin.readline():
            return runs


def pulseboard_child() -> None:
    """The system collector as `python -m collectors run` schedules it, into the store the environment names."""
    from collectors.runner import build_scheduler
    from collectors.system import build
    from core.config import get_settings
    from core.store import get_engine

    settings = get_settings()
    engine = get_engine(settings)
    scheduler = build_scheduler(settings, engine, build(settings, engine))
    scheduler.start()
    print("ready", flush=True)
    sys.stdin.read()
    scheduler.stop()
    status = scheduler.status()["collector:system"]
    with engine.connect() as connection:
        stored = connection.exec_driver_sql("SELECT count(*) FROM samples").scalar()
    print(json.dumps({"runs": status.runs, "errors": status.errors, "stored_samples": stored}))


def floor_child(interval: float, top_interval: float) -> None:
    """Read what the system collector reads, through psutil alone, and keep nothing."""
    attrs = ["name", "cpu_times", "memory_info", "create_time"]  # collectors.system.PROCESS_ATTRS
    next_top = 0.0

    def read() -> None:
        nonlocal next_top
        psutil.cpu_times(), psutil.cpu_times(percpu=True), os.getloadavg(), psutil.cpu_stats()
        psutil.virtual_memory(), psutil.swap_memory()
        for part in psutil.disk_partitions(all=False):
            try:
                psutil.disk_usage(part.mountpoint), os.statvfs(part.mountpoint)
            except OSError:
                continue
        psutil.disk_io_counters(perdisk=True), psutil.net_io_counters(pernic=True)
        if time.monotonic() >= next_top:
            next_top = time.monotonic() + top_interval
            for process in psutil.process_iter(attrs):
                process.info.get("cpu_times")

    print("ready", flush=True)
    print(json.dumps({"runs": on_schedule(interval, read)}))


def poll_child(url: str, interval: float) -> None:
    """GET ``url`` every ``interval`` s on one keep-alive connection and parse the answer.

    It accepts gzip as Prometheus does (node_exporter then compresses) and deflate as a browser
    does (glances' REST API then compresses), so each server pays for what its usual client asks.
    """
    host, _, path = url.removeprefix("http://").partition("/")
    connection = http.client.HTTPConnection(host, timeout=10)
    counts = {"ok": 0, "errors": 0, "items": 0}

    def poll() -> None:
        try:
            connection.request("GET", "/" + path, headers={"Accept-Encoding": "gzip, deflate"})
            response = connection.getresponse()
            body = response.read()
        except (OSError, http.client.HTTPException):
            counts["errors"] += 1
            connection.close()
            return
        if response.status != 200:
            counts["errors"] += 1
            return
        encoding = response.getheader("Content-Encoding")
        if encoding == "gzip":
            body = gzip.decompress(body)
        elif encoding == "deflate":
            body = zlib.decompress(body)
        if path.endswith("metrics"):  # text exposition: count the samples, as a scraper splits them
            counts["items"] = sum(1 for line in body.splitlines() if line and not line.startswith(b"#"))
        else:
            counts["items"] = len(json.loads(body))
        counts["ok"] += 1

    print("ready", flush=True)
    on_schedule(interval, poll)
    print(json.dumps(counts))


# --- one round ---------------------------------------------------------------------------------------------------


class PeerFailed(RuntimeError):
    """A peer that would not start, died, or did not answer its poller: it is left out and the rounds start over."""

    def __init__(self, peer: str, reason: str) -> None:
        super().__init__(reason)
        self.peer = peer


@dataclass
class Started:
    """A child the round runs, and the summary it printed when stopped."""

    process: subprocess.Popen[str]
    summary: dict[str, float] | None = None


def child_command(*args: str) -> list[str]:
    return [sys.executable, __file__, "--child", *args]


def start_child(stack: ExitStack, args: list[str], env: dict[str, str] | None = None) -> Started:
    """Start a Python child, wait for its "ready" line, and on leaving close its stdin and keep its summary."""
    process = subprocess.Popen(args, cwd=ROOT, stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True, env=env)
    started = Started(process)
    line = "-"
    while line and line.strip() != "ready":  # anything printed before "ready" (a library's notice) is skipped
        line = process.stdout.readline() if process.stdout else ""
    if not line:
        process.kill()
        raise RuntimeError(f"{' '.join(args[2:])} did not start (exit {process.wait()})")

    def stop() -> None:
        try:
            out, _ = process.communicate("", timeout=30)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
            return
        lines = out.strip().splitlines()
        started.summary = json.loads(lines[-1]) if process.returncode == 0 and lines else None

    stack.callback(stop)
    return started


def pulseboard_env(store_dir: Path, interval: int) -> dict[str, str]:
    """Settings for a collector child: its own SQLite store and data directory, no demo, no config file."""
    store_dir.mkdir(parents=True)
    return {
        **os.environ,
        "PYTHONPATH": str(ROOT),
        "PULSEBOARD_DATABASE_URL": f"sqlite:///{store_dir / 'pulseboard.db'}",
        "PULSEBOARD_DATA_DIR": str(store_dir),
        "PULSEBOARD_DEMO": "0",
        "PULSEBOARD_AUTH": "off",
        "PULSEBOARD_CONFIG": "/nonexistent/pulseboard.toml",
        "PULSEBOARD_SYSTEM_INTERVAL_S": str(interval),
    }


def start_server(
    stack: ExitStack, peer: str, args: list[str], urls: tuple[str, str], interval: int, scratch: Path
) -> tuple[int, Started]:
    """A peer server's pid once the first of ``urls`` answers, and a poller of the second; stopped on leaving."""
    from tests.live import running

    log = scratch / f"{peer}.log"
    with log.open("wb") as sink:
        process = subprocess.Popen(args, stdout=sink, stderr=subprocess.STDOUT, cwd=scratch)
    try:
        stack.enter_context(running(process, urls[0], 60, lambda: log.read_text(errors="replace")[-1500:], peer))
        return process.pid, start_child(stack, child_command("poll", urls[1], str(interval)))
    except RuntimeError as error:
        raise PeerFailed(peer, str(error)) from error


def peer_of(name: str) -> str | None:
    """The installable peer a measured process belongs to (None for Pulseboard's and the floor)."""
    return next((peer for peer in PACKAGES if name.startswith(peer)), None)


def round_of(skip: Mapping[str, str], window: float, warmup: float, scratch: Path) -> dict[str, Usage]:
    """Start every peer not in ``skip``, let them warm up, measure them over the same window, stop them."""
    from core.config import Settings
    from tests.live import free_port

    top = str(Settings.model_fields["system_top_interval_s"].default)
    children: dict[str, Started] = {}
    servers: dict[str, int] = {}
    with ExitStack() as stack:
        for interval in (1, 2):
            env = pulseboard_env(scratch / f"pulseboard_{interval}s", interval)
            children[f"pulseboard_collector_{interval}s"] = start_child(stack, child_command("pulseboard"), env)
        nostore = subprocess.Popen(  # bench/collectors.py's own child: collect only; it would stop after the round
            [sys.executable, str(BENCH / "collectors.py"), "--child", "1", top, str(warmup + window + 60)],
            cwd=ROOT,
            stdout=subprocess.DEVNULL,
            env={**os.environ, "PYTHONPATH": str(ROOT)},
        )
        stack.callback(nostore.wait)
        stack.callback(nostore.kill)
        servers["pulseboard_nostore_1s"] = nostore.pid
        children["psutil_floor_1s"] = start_child(stack, child_command("floor", "1", top))
        if "node_exporter" not in skip:
            port = free_port()
            args = [NODE_EXPORTER, f"--web.listen-address=127.0.0.1:{port}"]
            url = f"http://127.0.0.1:{port}/metrics"
            servers["node_exporter_1s"], children["node_exporter_scraper_1s"] = start_server(
                stack, "node_exporter", args, (url, url), 1, scratch
            )
        if "glances" not in skip:
            port = free_port()
            args = [GLANCES, "-w", "--disable-webui", "-B", "127.0.0.1", "-p", str(port), "-t", "2"]
            # /api/3/status answers 500 in glances 3.3.1 to a client that accepts deflate: ask for the plugin list
            urls = (f"http://127.0.0.1:{port}/api/3/pluginslist", f"http://127.0.0.1:{port}/api/3/all")
            servers["glances_2s"], children["glances_poller_2s"] = start_server(
                stack, "glances", args, urls, 2, scratch
            )
        pids = servers | {name: child.process.pid for name, child in children.items()}
        time.sleep(warmup)  # past start-up: imports, migrations, the first process scan
        try:
            usage = measure({name: psutil.Process(pid) for name, pid in pids.items()}, window)
        except psutil.NoSuchProcess as error:
            name = next((n for n, pid in pids.items() if pid == error.pid), "?")
            if (peer := peer_of(name)) is None:
                raise
            raise PeerFailed(peer, f"{name} ended during the window") from error
    for name, child in children.items():
        print(f"    {name:<26} {child.summary}")
        if child.summary is None:
            raise RuntimeError(f"{name} gave no summary")
        if name.endswith(("scraper_1s", "poller_2s")) and child.summary["errors"] >= child.summary["ok"]:
            raise PeerFailed(str(peer_of(name)), f"{name} failed {child.summary['errors']} of its polls")
    return usage


# --- figures -----------------------------------------------------------------------------------------------------

RATIOS = {  # figure -> (Pulseboard, peer): the same interval in the same round
    "peer_cpu_ratio_node_exporter": ("pulseboard_collector_1s", "node_exporter_1s"),
    "peer_cpu_ratio_glances": ("pulseboard_collector_2s", "glances_2s"),
    "peer_cpu_ratio_psutil_floor": ("pulseboard_collector_1s", "psutil_floor_1s"),
}


def spread(name: str, values: list[float]) -> dict[str, float]:
    """``name`` as the median of ``values``, with ``name_min`` and ``name_max``."""
    return {name: statistics.median(values), f"{name}_min": min(values), f"{name}_max": max(values)}


def figures(rounds: list[dict[str, Usage]], skip: Mapping[str, str]) -> dict[str, float]:
    """The recorded figures: per peer CPU and RSS (median, min, max of the rounds), peak RSS, ratios, what ran."""
    found: dict[str, float] = {f"peer_measured_{peer}": float(peer not in skip) for peer in PACKAGES}
    for peer in rounds[0]:
        found |= spread(f"peer_cpu_pct_{peer}", [r[peer].cpu_pct for r in rounds])
        found |= spread(f"peer_rss_mb_{peer}", [r[peer].rss_mb for r in rounds])
        found[f"peer_rss_peak_mb_{peer}"] = max(r[peer].rss_peak_mb for r in rounds)
    for name, (ours, theirs) in RATIOS.items():
        if theirs in rounds[0] and all(r[theirs].cpu_pct > 0 for r in rounds):
            found |= spread(name, [r[ours].cpu_pct / r[theirs].cpu_pct for r in rounds])
    return found


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="10 s windows, one round, record nothing")
    parser.add_argument("--without", action="append", default=[], choices=sorted(PACKAGES), help="leave a peer out")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--window", type=float, default=60.0, help="seconds measured per round")
    args = parser.parse_args()
    window, rounds, warmup = (10.0, 1, 3.0) if args.quick else (args.window, args.rounds, 8.0)

    skip: dict[str, str] = {peer: "left out with --without" for peer in args.without}
    for peer, packages in PACKAGES.items():
        if peer not in skip and (reason := ensure(packages)):
            skip[peer] = reason
    print(f"peers side by side: {rounds} round(s) of {window:.0f} s, {os.cpu_count()} cores, load {os.getloadavg()}")
    results: list[dict[str, Usage]] = []
    while len(results) < rounds:
        with tempfile.TemporaryDirectory(prefix="pulseboard-peers-") as scratch:
            try:
                usage = round_of(skip, window, warmup, Path(scratch))
            except PeerFailed as failed:  # the rounds so far ran it beside the others: start over without it
                skip[failed.peer] = f"did not run: {failed}"
                print(f"  {failed.peer} not measured, starting over without it: {failed}")
                results = []
                continue
        results.append(usage)
        print(f"  round {len(results)} (load {os.getloadavg()[0]:.1f}):")
        for peer, use in usage.items():
            print(
                f"    {peer:<26} cpu {use.cpu_pct:6.2f} % of a core, "
                f"rss {use.rss_mb:6.1f} MiB (peak {use.rss_peak_mb:.1f})"
            )
    for peer, reason in skip.items():
        print(f"  NOT MEASURED {peer}: {reason}")
    found = figures(results, skip)
    if args.quick:
        for name, value in found.items():
            print(f"  {name:<48} {value:10.3f}")
        print("  (--quick: nothing recorded)")
    else:
        record(found)


if __name__ == "__main__":
    if len(sys.argv) >= 3 and sys.argv[1] == "--child":
        kind, rest = sys.argv[2], sys.argv[3:]
        if kind == "pulseboard":
            pulseboard_child()
        elif kind == "floor":
            floor_child(float(rest[0]), float(rest[1]))
        else:
            poll_child(rest[0], float(rest[1]))
    else:
        main()
