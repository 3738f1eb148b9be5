"""PromQL over HTTP, Pulseboard's Prometheus-compatible endpoint beside a real Prometheus on the same data.

Dataset: 50 gauges ``bench_gauge{instance="i00".."i49"}`` scraped every 15 s for the last
24 h 10 min (50 × 5,840 = 292,000 samples), generated once; the same samples go to a real
Prometheus (Debian's package, blocks made by promtool from OpenMetrics) and, through the
ingest API, to a live Pulseboard (tests/live.py, SQLite store, raw samples).

Queries, as Grafana asks them (``query_range``, 24 h ending now, 60 s step = 1,441 points per
series), timed end to end over HTTP with keep-alive on both sides, interleaved (Pulseboard,
Prometheus, Pulseboard, …) in one run so both see the same machine:

* one series: ``bench_gauge{instance="i00"}``;
* a 50-series aggregate: ``avg(bench_gauge)``.

Both answers are checked equal before timing. Figures: ``promql_p95_ms_24h``,
``promql_p95_ms_24h_agg50`` (Pulseboard's p95) and ``peer_query_ratio_prometheus_24h``,
``peer_query_ratio_prometheus_24h_agg50`` (Pulseboard's p95 ÷ Prometheus' p95), plus both
sides' p50 for the record. ``--quick`` times 15 rounds after 2 warm-up rounds and prints the figures
without recording them (for iterating on the query path); ``--no-record`` times all rounds and records nothing.
"""

from __future__ import annotations

import argparse
import math
import random
import statistics
import sys
import tempfile
import time
from pathlib import Path

import httpx

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from common import record  # type: ignore[import-not-found]

from tests.live import live_server
from tests.prometheus_peer import Series, load_into_pulseboard, prometheus

SERIES = 50
STEP_MS = 15_000
SPAN_MS = 24 * 3_600_000 + 10 * 60_000
REPEATS = 60
WARMUP = 5
QUERIES = {"24h": 'bench_gauge{instance="i00"}', "24h_agg50": "avg(bench_gauge)"}


def dataset(end_ms: int) -> list[Series]:
    rnd = random.Random(26)
    times = range(end_ms - SPAN_MS, end_ms + 1, STEP_MS)
    out: list[Series] = []
    for i in range(SERIES):
        level, points = 50.0, []
        for t in times:
            level = min(100.0, max(0.0, level + rnd.gauss(0, 0.5)))
            points.append((t, round(level, 2)))
        out.append(("bench_gauge", {"job": "bench", "instance": f"i{i:02d}"}, points))
    return out


def p95(samples: list[float]) -> float:
    ordered = sorted(samples)
    return ordered[min(len(ordered) - 1, math.ceil(0.95 * len(ordered)) - 1)]


def main(repeats: int = REPEATS, warmup: int = WARMUP, save: bool = True) -> None:
    end = (int(time.time() * 1000) // 60_000) * 60_000
    series = dataset(end)
    with tempfile.TemporaryDirectory(prefix="pb-bench-promql-") as folder:
        tmp = Path(folder)
        (tmp / "pulseboard").mkdir()
        (tmp / "prometheus").mkdir()
        with (
            live_server(tmp / "pulseboard", env={"PULSEBOARD_COLLECTORS": "false"}) as server,
            prometheus(tmp / "prometheus", series) as peer,
            httpx.Client(timeout=60) as ours,
            httpx.Client(timeout=60) as theirs,
        ):
            started = time.perf_counter()
            stored = load_into_pulseboard(ours, server.url, server.headers, series)
            print(f"loaded {stored:,} samples into Pulseboard in {time.perf_counter() - started:.1f} s")
            params_of = {
                name: {"query": q, "start": str((end - 86_400_000) // 1000), "end": str(end // 1000), "step": "60"}
                for name, q in QUERIES.items()
            }
            for name, params in params_of.items():  # same answer first, or the timing compares nothing
                mine = ours.get(f"{server.url}/prometheus/api/v1/query_range", params=params, headers=server.headers)
                peers = theirs.get(f"{peer.url}/api/v1/query_range", params=params)
                a, b = mine.json()["data"]["result"], peers.json()["data"]["result"]
                assert len(a) == len(b) == 1 and len(a[0]["values"]) == len(b[0]["values"]), name
                assert all(
                    abs(float(x[1]) - float(y[1])) <= 1e-9 * max(1.0, abs(float(y[1])))
                    for x, y in zip(a[0]["values"], b[0]["values"], strict=True)
                ), name
            times: dict[tuple[str, str], list[float]] = {}
            for round_ in range(warmup + repeats):
                for name, params in params_of.items():
                    for side, client, url, headers in (
                        ("pulseboard", ours, f"{server.url}/prometheus", server.headers),
                        ("prometheus", theirs, peer.url, {}),
                    ):
                        t0 = time.perf_counter()
                        answer = client.get(f"{url}/api/v1/query_range", params=params, headers=headers)
                        elapsed = (time.perf_counter() - t0) * 1000
                        answer.raise_for_status()
                        if round_ >= warmup:
                            times.setdefault((side, name), []).append(elapsed)
    figures: dict[str, float] = {}
    for name in QUERIES:
        mine, peers = times[("pulseboard", name)], times[("prometheus", name)]
        figures[f"promql_p95_ms_{name}"] = p95(mine)
        figures[f"peer_query_ratio_prometheus_{name}"] = p95(mine) / p95(peers)
        figures[f"promql_p50_ms_{name}"] = statistics.median(mine)
        figures[f"prometheus_p95_ms_{name}"] = p95(peers)
        figures[f"prometheus_p50_ms_{name}"] = statistics.median(peers)
    if save:
        record(figures)
    else:
        for name, value in figures.items():
            print(f"  {name:<40}  {value:>10,.2f}")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="15 rounds after 2 warm-up rounds; print, record nothing")
    parser.add_argument("--no-record", action="store_true", help="all rounds; print, record nothing")
    options = parser.parse_args()
    if options.quick:
        main(15, 2, save=False)
    else:
        main(save=not options.no_record)
