"""bench/peers.py's meter: a process tree's CPU time (its own, a live child's, a reaped child's) and its memory.

The peers' figures are only as good as this accounting, so it is checked on children that
burn a known amount of CPU time; CPU seconds, not wall time, so a loaded machine does not
change the answer. Also: a peer that could not run leaves no ratio and is flagged.
"""

from __future__ import annotations

import importlib.util
import subprocess
import sys

import psutil
import pytest

from core.config import ROOT

BENCH = ROOT / "bench"
BURN = "import time\nend = time.process_time() + 0.3\nwhile time.process_time() < end:\n    pass\n"
# waits for "go", burns 0.3 s of CPU itself, in a child that ends (reaped) and in one that stays, then says so
TREE = f"""
import subprocess, sys
print("ready", flush=True)
sys.stdin.readline()
exec({BURN!r})
subprocess.run([sys.executable, "-c", {BURN!r}], check=True)
stays = subprocess.Popen(
    [sys.executable, "-c", {BURN + "import sys; print('burnt', flush=True); sys.stdin.readline()"!r}],
    stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True,
)
stays.stdout.readline()
print("done", flush=True)
sys.stdin.readline()
"""
IDLE = "import sys\nheld = b'x' * (64 << 20)\nprint('ready', flush=True)\nsys.stdin.readline()\n"


@pytest.fixture
def peers(monkeypatch: pytest.MonkeyPatch):
    monkeypatch.setattr(sys, "path", [str(BENCH), *sys.path])  # bench scripts import their sibling `common`
    spec = importlib.util.spec_from_file_location("bench_peers", BENCH / "peers.py")
    module = importlib.util.module_from_spec(spec)
    monkeypatch.setitem(sys.modules, spec.name, module)  # its dataclasses look their module up there
    spec.loader.exec_module(module)
    return module


def child(code: str) -> subprocess.Popen[str]:
    process = subprocess.Popen([sys.executable, "-c", code], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    assert process.stdout.readline().strip() == "ready"
    return process


def test_cpu_of_the_process_and_of_its_live_and_reaped_children_is_counted(peers):
    process = child(TREE)
    try:
        before = peers.reading(psutil.Process(process.pid))
        process.stdin.write("go\n")
        process.stdin.flush()
        assert process.stdout.readline().strip() == "done"
        after = peers.reading(psutil.Process(process.pid))
    finally:
        process.communicate("", timeout=60)
    # three bursts of 0.3 s, plus two interpreters starting (well under 0.3 s each)
    assert 0.9 <= after.cpu_s - before.cpu_s < 1.5


def test_an_idle_process_measures_near_zero_cpu_and_its_memory(peers):
    process = child(IDLE)
    try:
        usage = peers.measure({"idle": psutil.Process(process.pid)}, seconds=1.0, every=0.5)["idle"]
    finally:
        process.communicate("", timeout=60)
    assert usage.cpu_pct < 10
    assert 64 <= usage.rss_mb <= usage.rss_peak_mb


def test_a_peer_not_measured_is_flagged_and_leaves_no_ratio(peers):
    use = peers.Usage(cpu_pct=1.0, rss_mb=50.0, rss_peak_mb=55.0)
    rounds = [
        {"pulseboard_collector_1s": use, "pulseboard_collector_2s": use, "psutil_floor_1s": use, "glances_2s": g}
        for g in (peers.Usage(4.0, 30.0, 31.0), peers.Usage(2.0, 30.0, 40.0), peers.Usage(8.0, 30.0, 32.0))
    ]
    found = peers.figures(rounds, {"node_exporter": "could not install"})
    assert found["peer_measured_node_exporter"] == 0 and found["peer_measured_glances"] == 1
    assert not any(name.startswith("peer_cpu_ratio_node_exporter") for name in found)
    assert (found["peer_cpu_ratio_glances"], found["peer_cpu_ratio_glances_min"]) == (0.25, 0.125)
    assert found["peer_cpu_ratio_glances_max"] == 0.5
    assert found["peer_rss_peak_mb_glances_2s"] == 40.0
