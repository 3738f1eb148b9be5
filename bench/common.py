"""Shared plumbing for benchmark scripts: merge figures into bench/results.json and print a table.

Every script calls :func:`record` with its own figures; the file is read, updated and
rewritten, so scripts can run alone or through `make bench` in any order.
"""

from __future__ import annotations

import json
import os
import platform
import sys
from datetime import UTC, datetime
from importlib import metadata
from pathlib import Path

BENCH = Path(__file__).resolve().parent
RESULTS = BENCH / "results.json"
ROOT = BENCH.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))


def machine() -> dict[str, object]:
    """Where the numbers were measured."""
    versions = {}
    for package in ("streamlit", "sqlalchemy", "polars", "psycopg", "psutil", "prophet"):
        try:
            versions[package] = metadata.version(package)
        except metadata.PackageNotFoundError:
            versions[package] = None
    memory = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2**30
    return {"cores": os.cpu_count(), "memory_gib": round(memory, 1), "python": platform.python_version(), **versions}


def record(figures: dict[str, float]) -> None:
    """Merge ``figures`` into bench/results.json and print them."""
    results = json.loads(RESULTS.read_text()) if RESULTS.exists() else {}
    results.update({name: round(value, 3) for name, value in figures.items()})
    results["_machine"] = machine()
    results["_when"] = datetime.now(UTC).isoformat(timespec="seconds")
    RESULTS.write_text(json.dumps(results, indent=2, sort_keys=True) + "\n")
    width = max(len(name) for name in figures)
    for name, value in figures.items():
        print(f"  {name:<{width}}  {value:>14,.2f}")
