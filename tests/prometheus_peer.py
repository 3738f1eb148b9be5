"""A real Prometheus beside Pulseboard, holding the same samples: for PromQL conformance tests and bench/promql.py.

Samples are generated deterministically, written as OpenMetrics, turned into TSDB blocks by
``promtool tsdb create-blocks-from openmetrics`` and served by ``prometheus`` (Debian's
package, installed by scripts/ensure-prometheus.sh) on a free loopback port; the same
samples go to Pulseboard through its HTTP ingest API.
"""

from __future__ import annotations

import random
import shutil
import subprocess
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import httpx

from tests.live import free_port, running

PROMETHEUS = "/usr/bin/prometheus"
PROMTOOL = "/usr/bin/promtool"

Series = tuple[str, dict[str, str], list[tuple[int, float]]]  # name, labels, [(ts_ms, value)]


@dataclass
class Peer:
    """A running Prometheus: its base URL and log."""

    url: str
    log_path: Path
    process: subprocess.Popen[bytes]

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")


def require_prometheus() -> None:
    """Fail (never skip) when Debian's prometheus is missing: make pytest installs it."""
    missing = [tool for tool in (PROMETHEUS, PROMTOOL) if not Path(tool).exists()]
    if missing:
        raise RuntimeError(f"{', '.join(missing)} missing: run scripts/ensure-prometheus.sh (make pytest does)")


def _labels_text(labels: dict[str, str]) -> str:
    inner = ",".join(f'{k}="{v}"' for k, v in sorted(labels.items()))
    return f"{{{inner}}}" if inner else ""


def openmetrics(series: list[Series]) -> str:
    """The OpenMetrics text promtool reads: one family after another, each series in time order, ``# EOF``."""
    lines = []
    for name, labels, points in series:
        text = name + _labels_text(labels)
        lines.extend(f"{text} {value!r} {ts // 1000}.{ts % 1000:03d}" for ts, value in points)
    lines.append("# EOF")
    return "\n".join(lines) + "\n"


def load_into_pulseboard(client: httpx.Client, url: str, headers: dict[str, str], series: list[Series]) -> int:
    """POST every sample to /api/v1/metrics in batches; returns how many were stored."""
    items = [
        {"name": name, "labels": labels, "value": value, "timestamp": ts / 1000}
        for name, labels, points in series
        for ts, value in points
    ]
    stored = 0
    for start in range(0, len(items), 20_000):
        answer = client.post(f"{url}/api/v1/metrics", json={"samples": items[start : start + 20_000]}, headers=headers)
        answer.raise_for_status()
        stored += answer.json()["samples_written"]
    return stored


@contextmanager
def prometheus(
    tmp: Path, series: list[Series], config: Callable[[int], str] | None = None, timeout_s: float = 60.0
) -> Iterator[Peer]:
    """Prometheus serving ``series`` from blocks made by promtool; ``config(port)`` writes its prometheus.yml."""
    require_prometheus()
    data = tmp / "prometheus-data"
    data.mkdir(parents=True, exist_ok=True)
    if series:
        source = tmp / "samples.om"
        source.write_text(openmetrics(series))
        made = subprocess.run(
            [PROMTOOL, "tsdb", "create-blocks-from", "openmetrics", str(source), str(data)],
            capture_output=True,
            text=True,
            timeout=300,
        )
        if made.returncode != 0:
            raise RuntimeError(f"promtool failed:\n{made.stdout}\n{made.stderr}")
    port = free_port()
    config_path = tmp / "prometheus.yml"
    config_path.write_text(config(port) if config is not None else "global: {}\n")
    log_path = tmp / "prometheus.log"
    command = [
        PROMETHEUS,
        f"--config.file={config_path}",
        f"--storage.tsdb.path={data}",
        f"--web.listen-address=127.0.0.1:{port}",
        "--storage.tsdb.retention.time=3650d",  # the blocks are as old as the test data; keep them all
        "--web.enable-lifecycle",
    ]
    with log_path.open("wb") as log:
        process = subprocess.Popen(command, cwd=tmp, stdout=log, stderr=subprocess.STDOUT)
    peer = Peer(f"http://127.0.0.1:{port}", log_path, process)
    try:
        with running(process, f"{peer.url}/-/ready", timeout_s, peer.log, "prometheus"):
            yield peer
    finally:
        shutil.rmtree(data, ignore_errors=True)


def conformance_series(end_ms: int, hours: float = 3.0, seed: int = 18) -> list[Series]:
    """Counters with resets, gauges, a histogram and a series with a gap, scraped every ~15 s with jitter."""
    rnd = random.Random(seed)
    start = end_ms - int(hours * 3_600_000)
    times = list(range(start, end_ms + 1, 15_000))

    def jittered() -> list[int]:
        return [t + rnd.randint(-400, 400) for t in times]

    out: list[Series] = []
    for instance in ("a", "b", "c"):
        for code in ("200", "500"):
            value, points = float(rnd.randint(0, 50)), []
            for i, t in enumerate(jittered()):
                value += rnd.randint(0, 20 if code == "200" else 3)
                if instance == "b" and code == "200" and i == len(times) // 2:
                    value = float(rnd.randint(0, 5))  # a counter reset (process restart)
                points.append((t, value))
            out.append(("http_requests_total", {"job": "api", "instance": instance, "code": code}, points))
    for instance in ("a", "b", "c"):
        level = 18.0 + rnd.random() * 4
        points = []
        for t in jittered():
            level += rnd.uniform(-0.5, 0.5)
            points.append((t, round(level, 3)))
        out.append(("node_temp_celsius", {"job": "node", "instance": instance}, points))
    bounds = ("0.05", "0.1", "0.25", "0.5", "1", "+Inf")
    for instance in ("a", "b"):
        counts = [0.0] * len(bounds)
        stamps = jittered()
        rows: list[list[tuple[int, float]]] = [[] for _ in bounds]
        for t in stamps:
            for _ in range(rnd.randint(0, 12)):
                latency = rnd.expovariate(6.0)
                for j, bound in enumerate(bounds):
                    if bound == "+Inf" or latency <= float(bound):
                        counts[j] += 1
            for j in range(len(bounds)):
                rows[j].append((t, counts[j]))
        for j, bound in enumerate(bounds):
            labels = {"job": "api", "instance": instance, "le": bound}
            out.append(("http_request_duration_seconds_bucket", labels, rows[j]))
    half = len(times) // 2  # stops half-way: instant vectors must see it vanish after the 5-minute lookback
    flaky = [(t, float(rnd.randint(0, 100))) for t in jittered()[:half]]
    out.append(("flaky_gauge", {"job": "node", "instance": "a"}, flaky))
    sparse = [(t, float(i)) for i, t in enumerate(times[::8])]  # every 2 minutes: windows with 1-3 samples
    out.append(("sparse_gauge", {"job": "node", "instance": "b"}, sparse))
    return out
