"""bench/collectors.py records the system collector's RSS at both intervals, under names bench/report.py reports."""

from __future__ import annotations

import importlib.util
import json
import subprocess
import sys

import pytest

from core.config import ROOT

BENCH = ROOT / "bench"


def load(monkeypatch: pytest.MonkeyPatch, name: str):
    monkeypatch.setattr(sys, "path", [str(BENCH), *sys.path])  # bench scripts import their sibling `common`
    spec = importlib.util.spec_from_file_location(f"bench_{name}", BENCH / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_rss_is_recorded_for_the_1s_and_the_5s_collector(monkeypatch):
    bench = load(monkeypatch, "collectors")
    report = load(monkeypatch, "report")
    children = {  # the real child measurement, shortened: 1 s and 5 s intervals over 2 s
        name: subprocess.Popen(
            [sys.executable, str(BENCH / "collectors.py"), "--child", str(interval), "5", "2"],
            cwd=ROOT,
            stdout=subprocess.PIPE,
            text=True,
        )
        for name, interval in (("1s", 1.0), ("5s", 5.0))
    }
    measured = {}
    for name, process in children.items():
        out, _ = process.communicate(timeout=60)
        assert process.returncode == 0
        measured[name] = json.loads(out.strip().splitlines()[-1])
    measured["1s_full_scan"] = measured["1s"]
    figures = bench.figures(measured)
    assert figures["collector_rss_mb_1s"] == measured["1s"]["rss_mb"] > 0
    assert figures["collector_rss_mb_5s"] == measured["5s"]["rss_mb"] > 0
    assert "collector_rss_mb" not in figures
    assert (
        report.RENAMED["collector_rss_mb"] in figures
    )  # report.py hides the retired name only once its successor exists
    assert report.target_for("collector_cpu_pct_1s") is not None and report.target_for("collector_rss_mb_5s") is None
