"""Write bench/RESULTS.md from bench/results.json: each figure, its value, its target and its peer's value.

Targets are BENCH.md's; a figure without a target is reported as measured. Where a peer
(Prometheus, node_exporter, glances, a bare psutil loop) was measured beside a figure, its
value is shown next to ours. Run by `make bench` after every script has merged its figures.
"""

from __future__ import annotations

import json
import operator
from pathlib import Path

BENCH = Path(__file__).resolve().parent

# figure prefix -> (comparison, target, unit); "le" means lower is better.
TARGETS: dict[str, tuple[str, float, str]] = {
    "ingest_sqlite_samples_per_s": ("ge", 200_000, "samples/s"),
    "ingest_postgres_samples_per_s": ("ge", 100_000, "samples/s"),
    "ingest_http_samples_per_s": ("ge", 50_000, "samples/s"),
    "collector_cpu_pct_1s": ("le", 1.0, "% of a core"),
    "query_p95_ms_": ("le", 150, "ms"),
    "query20_p95_ms_": ("le", 150, "ms"),
    "bytes_per_raw_sample": ("le", 40, "bytes"),
    "page_script_ms_": ("le", 1_000, "ms"),
    "page_charts_ms_explore_400series": ("le", 1_500, "ms"),  # before the prefix below: the first match wins
    "page_charts_ms_": ("le", 2_000, "ms"),
    "explore_query_p95_ms_50series_24h": ("le", 50, "ms"),
    "ingest_to_visible_ms": ("le", 2_000, "ms"),
    "nab_score_standard_cv": ("ge", 55, "points"),
    "nab_score_cv_gap": ("le", 5, "points"),
    "anomaly_auto_ms_per_1k_points": ("le", 5, "ms"),
    "forecast_fit_s": ("le", 1.5, "s"),
    "forecast_page_ms": ("le", 1_000, "ms"),
    "report_html_s_executive_30d": ("le", 5, "s"),
    "report_pdf_s_executive_30d": ("le", 10, "s"),
    # BENCH.md's "update latency ≤ 2 s with 25 viewers", held against both quantiles of bench/viewers.py
    "viewers_25_update_p50_ms": ("le", 2_000, "ms"),
    "viewers_25_update_p95_ms": ("le", 2_000, "ms"),
    "promql_p95_ms_": ("le", 150, "ms"),
    "peer_query_ratio_prometheus_": ("le", 1.0, "× Prometheus"),
    "peer_cpu_ratio_node_exporter": ("le", 0.5, "× node_exporter"),  # BENCH.md: collector CPU ÷ peer CPU
    "peer_cpu_ratio_glances": ("le", 0.5, "× glances"),
    "soak_lost_samples": ("le", 0, "samples"),
    "soak_dup_samples": ("le", 0, "samples"),
    "soak_ingest_p99_ms": ("le", 500, "ms"),
    "soak_rss_growth_mb_per_h": ("le", 20, "MB/h"),
    "fault_lost_samples": ("le", 0, "samples"),
    "inbox_bad_files_crashes": ("le", 0, "crashes"),
}

# figure (or prefix ending "_") -> (peer figure or prefix, label): the rest of the name (_min, _24h ...) is appended
PEERS: dict[str, tuple[tuple[str, str], ...]] = {
    "promql_": (("prometheus_", "Prometheus"),),
    "peer_cpu_pct_pulseboard_collector_1s": (
        ("peer_cpu_pct_node_exporter_1s", "node_exporter"),
        ("peer_cpu_pct_psutil_floor_1s", "psutil loop"),
    ),
    "peer_cpu_pct_pulseboard_collector_2s": (("peer_cpu_pct_glances_2s", "glances"),),
    "peer_rss_mb_pulseboard_collector_1s": (
        ("peer_rss_mb_node_exporter_1s", "node_exporter"),
        ("peer_rss_mb_psutil_floor_1s", "psutil loop"),
    ),
    "peer_rss_mb_pulseboard_collector_2s": (("peer_rss_mb_glances_2s", "glances"),),
    "peer_rss_peak_mb_pulseboard_collector_1s": (
        ("peer_rss_peak_mb_node_exporter_1s", "node_exporter"),
        ("peer_rss_peak_mb_psutil_floor_1s", "psutil loop"),
    ),
    "peer_rss_peak_mb_pulseboard_collector_2s": (("peer_rss_peak_mb_glances_2s", "glances"),),
}

# retired figure -> the figure that replaced it; the old value, still merged in results.json, is not reported
RENAMED: dict[str, str] = {
    "collector_rss_mb": "collector_rss_mb_1s",  # now one figure per interval: collector_rss_mb_1s / _5s
}


def target_for(name: str) -> tuple[str, float, str] | None:
    """The target whose name or prefix matches ``name``."""
    for key, target in TARGETS.items():
        if name == key or (key.endswith("_") and name.startswith(key)):
            return target
    return None


def peers_of(name: str, results: dict[str, float]) -> str:
    """The measured peers' values for figure ``name``, e.g. "node_exporter 0.52; psutil loop 0.31"."""
    for key, peers in PEERS.items():
        rest = name[len(key) :]
        if name.startswith(key) and (key.endswith("_") or rest == "" or rest.startswith("_")):
            return "; ".join(f"{label} {results[peer + rest]:,.2f}" for peer, label in peers if peer + rest in results)
    return ""


def measured_at(name: str, results: dict) -> str:
    """ "2026-12-07 13:51, load 4.2" for a figure recorded with its time; empty for older figures."""
    when, load = results.get("_measured", {}).get(name, (None, None))
    return f"{when[:16].replace('T', ' ')}, load {load:g}" if when else ""


def main() -> None:
    results = json.loads((BENCH / "results.json").read_text())
    machine = results.get("_machine", {})
    lines = [
        "# Benchmark results",
        "",
        f"Measured {results.get('_when', '?')} on {machine.get('cores', '?')} cores, "
        f"{machine.get('memory_gib', '?')} GiB, Python {machine.get('python', '?')}. "
        "Generated by `bench/report.py` from `bench/results.json`; run `make bench` to refresh.",
        "",
        "| figure | value | target | met | peer (same run) | measured (UTC), load average |",
        "|---|---:|---|:-:|---|---|",
    ]
    retired = {old for old, new in RENAMED.items() if new in results}
    for name in sorted(k for k in results if not k.startswith("_") and k not in retired):
        value = results[name]
        target = target_for(name)
        peer = peers_of(name, results)
        when = measured_at(name, results)
        if target is None:
            lines.append(f"| `{name}` | {value:,.2f} | report | | {peer} | {when} |")
            continue
        op, bound, unit = target
        met = (operator.ge if op == "ge" else operator.le)(value, bound)
        lines.append(
            f"| `{name}` | {value:,.2f} | {'≥' if op == 'ge' else '≤'} {bound:,g} {unit} | {'yes' if met else 'no'} "
            f"| {peer} | {when} |"
        )
    notes = BENCH / "NOTES.md"  # what the numbers mean, written by hand: kept across regenerations
    if notes.exists():
        lines += ["", notes.read_text().rstrip()]
    (BENCH / "RESULTS.md").write_text("\n".join(lines) + "\n")
    print("\n".join(lines))


if __name__ == "__main__":
    main()
