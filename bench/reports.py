"""Report generation time: the Executive report over 30 days of demo data, as HTML and as PDF.

Dataset — ``bench/pages.py``'s ``build_dataset`` with 30 days (the demo simulator's history, its derived
series, rolled up), in a SQLite file. Each figure is the median of :data:`RUNS` generations from a cold query
cache, end to end as the Reports page and ``python -m core.cli report`` do it: read the period through the
domain functions (core.reports.build) and render (HTML: layout and charts via vl-convert; PDF: the same
HTML laid out by WeasyPrint, which includes building the HTML).

Figures: ``report_html_s_executive_30d`` (target ≤ 5 s), ``report_pdf_s_executive_30d`` (≤ 10 s).
``--examples DIR`` also writes one example of each report (HTML and PDF) from the same data, as
committed under docs/examples/.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.common import record
from bench.pages import build_dataset, needs_building

RUNS = 3
DAY = 86_400_000


def timed(engine, settings, kind: str, fmt: str, start_ms: int, end_ms: int) -> tuple[float, bytes]:  # type: ignore[no-untyped-def]
    """Seconds to build and render one report from a cold cache, and the file."""
    from core.query import clear_cache
    from core.reports.build import build, render

    clear_cache()
    started = time.perf_counter()
    content = render(build(engine, kind, start_ms, end_ms, settings=settings, now_ms=end_ms), fmt)
    return time.perf_counter() - started, content


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--db", type=Path, default=Path(tempfile.gettempdir()) / "pulseboard-bench-reports" / "pulseboard.db"
    )
    parser.add_argument("--rebuild", action="store_true")
    parser.add_argument("--examples", type=Path, default=None, help="also write one example of each report here")
    args = parser.parse_args()
    if args.rebuild or needs_building(args.db):
        build_dataset(args.db, 30)
    from core.config import load_settings
    from core.reports.model import KINDS
    from core.store.engine import make_engine
    from core.store.migrate import upgrade

    url = f"sqlite:///{args.db}"
    settings = load_settings(database_url=url, data_dir=args.db.parent, demo=False, collectors=False)
    engine = make_engine(url)
    upgrade(engine)
    end = int(time.time() * 1000) // 60_000 * 60_000
    start = end - 30 * DAY
    html = [timed(engine, settings, "executive", "html", start, end)[0] for _ in range(RUNS)]
    pdf = [timed(engine, settings, "executive", "pdf", start, end)[0] for _ in range(RUNS)]
    print(f"  executive 30 d: HTML {[round(s, 2) for s in html]} s, PDF {[round(s, 2) for s in pdf]} s")
    if args.examples:
        from core.forecasting.job import run_forecasts

        run_forecasts(engine, settings, end, force=True)  # the capacity projection, as the running app's job fits it
        args.examples.mkdir(parents=True, exist_ok=True)
        for kind in KINDS:
            for fmt in ("html", "pdf"):
                _, content = timed(engine, settings, kind, fmt, start, end)
                (args.examples / f"{kind}-report.{fmt}").write_bytes(content)
                print(f"  wrote {args.examples / f'{kind}-report.{fmt}'} ({len(content):,} bytes)")
    engine.dispose()
    record(
        {
            "report_html_s_executive_30d": statistics.median(html),
            "report_pdf_s_executive_30d": statistics.median(pdf),
        }
    )


if __name__ == "__main__":
    main()
