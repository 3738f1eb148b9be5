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


def pages_read(database_url: str, data_dir: Path) -> None:
    """Point page scripts run in this process (AppTest) at one store: no demo, no login, no config file."""
    os.environ.update(
        {
            "PULSEBOARD_DATABASE_URL": database_url,
            "PULSEBOARD_DATA_DIR": str(data_dir),
            "PULSEBOARD_DEMO": "0",
            "PULSEBOARD_AUTH": "off",
            "PULSEBOARD_CONFIG": "/nonexistent/pulseboard.toml",
        }
    )
    from streamlit import config as st_config

    from core.config import get_settings

    st_config.set_option("server.address", "127.0.0.1")
    get_settings.cache_clear()


def record(figures: dict[str, float]) -> None:
    """Merge ``figures`` into bench/results.json (with the time and the 1-minute load average) and print them."""
    results = json.loads(RESULTS.read_text()) if RESULTS.exists() else {}
    results.update({name: round(value, 3) for name, value in figures.items()})
    results["_machine"] = machine()
    results["_when"] = datetime.now(UTC).isoformat(timespec="seconds")
    # when each figure was taken and how busy the machine was then: figures of one run share a time
    load = round(os.getloadavg()[0], 1)
    results.setdefault("_measured", {}).update({name: [results["_when"], load] for name in figures})
    RESULTS.write_text(json.dumps(results, indent=2, sort_keys=True) + "\n")
    width = max(len(name) for name in figures)
    for name, value in figures.items():
        print(f"  {name:<{width}}  {value:>14,.2f}")
