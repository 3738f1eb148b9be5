"""System collector cost: CPU % of one core and resident memory, at 1 s and 5 s intervals.

Each configuration runs in its own child process that only imports the collector and
calls ``collect()`` on schedule (no store), so the figure is the collector's own cost.
CPU is the child's user+system time over the measured wall time, after one warm-up
reading; RSS is the child's resident set at the end. The children run side by side.

Figures: collector_cpu_pct_1s, collector_cpu_pct_5s (BENCH.md: at most 1 % of one core
at 1 s), collector_rss_mb_1s, collector_rss_mb_5s (BENCH.md's collector_rss_mb, per
interval), and collector_cpu_pct_1s_full_scan: the 1 s collector listing every process
on every run instead of every ``system_top_interval_s`` (5 s).

Duration: ``PULSEBOARD_BENCH_COLLECTOR_S`` seconds (default 60).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time

from common import BENCH, ROOT, record  # type: ignore[import-not-found]

# This file is named like the collectors package; take bench/ off the path so imports find the package.
sys.path[:] = [str(ROOT)] + [p for p in sys.path if os.path.realpath(p or ".") not in (str(BENCH), str(ROOT))]

DURATION_S = float(os.environ.get("PULSEBOARD_BENCH_COLLECTOR_S", "60"))
RUNS = {  # figure -> (interval, top_interval)
    "1s": (1.0, 5.0),
    "5s": (5.0, 5.0),
    "1s_full_scan": (1.0, 1.0),
}


def child(interval: float, top_interval: float, duration: float) -> None:
    """Run the collector on schedule and print its CPU share and RSS as JSON."""
    import psutil

    from collectors.system import SystemCollector

    collector = SystemCollector(interval, top_interval=top_interval)
    collector.collect()
    samples = 0
    cpu_start, wall_start = time.process_time(), time.monotonic()
    next_run = wall_start
    while True:
        next_run += interval
        delay = next_run - time.monotonic()
        if next_run - wall_start > duration:
            time.sleep(max(0.0, wall_start + duration - time.monotonic()))
            break
        time.sleep(max(0.0, delay))
        samples += len(collector.collect().samples)
    cpu, wall = time.process_time() - cpu_start, time.monotonic() - wall_start
    rss = psutil.Process().memory_info().rss / 2**20
    print(
        json.dumps(
            {"cpu_pct": 100.0 * cpu / wall, "rss_mb": rss, "samples_per_run": samples / max(1, round(wall / interval))}
        )
    )


def main() -> None:
    print(
        f"system collector, {DURATION_S:.0f} s per configuration, "
        f"{os.cpu_count()} cores, {len(psutil_pids())} processes"
    )
    children = {
        name: subprocess.Popen(
            [sys.executable, __file__, "--child", str(interval), str(top), str(DURATION_S)],
            cwd=ROOT,
            stdout=subprocess.PIPE,
            text=True,
            env={**os.environ, "PYTHONPATH": str(ROOT)},
        )
        for name, (interval, top) in RUNS.items()
    }
    measured = {}
    for name, process in children.items():
        out, _ = process.communicate()
        if process.returncode:
            raise SystemExit(f"child for {name} failed with exit code {process.returncode}")
        measured[name] = json.loads(out.strip().splitlines()[-1])
        print(
            f"  {name:<13} cpu {measured[name]['cpu_pct']:.3f} % of one core, rss {measured[name]['rss_mb']:.1f} MiB, "
            f"{measured[name]['samples_per_run']:.0f} samples per run"
        )
    record(figures(measured))


def figures(measured: dict[str, dict[str, float]]) -> dict[str, float]:
    """The recorded figures from each configuration's child report."""
    return {
        "collector_cpu_pct_1s": measured["1s"]["cpu_pct"],
        "collector_cpu_pct_5s": measured["5s"]["cpu_pct"],
        "collector_rss_mb_1s": measured["1s"]["rss_mb"],
        "collector_rss_mb_5s": measured["5s"]["rss_mb"],
        "collector_cpu_pct_1s_full_scan": measured["1s_full_scan"]["cpu_pct"],
    }


def psutil_pids() -> list[int]:
    import psutil

    return psutil.pids()


if __name__ == "__main__":
    if len(sys.argv) == 5 and sys.argv[1] == "--child":
        child(float(sys.argv[2]), float(sys.argv[3]), float(sys.argv[4]))
    else:
        main()
