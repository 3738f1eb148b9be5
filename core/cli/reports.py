"""``python -m core.cli report --type executive --from 2026-11-01 --to 2026-11-30 --format pdf --out file.pdf``.

The same reports as the Reports page (core.reports), written to a file: one self-contained HTML file or a PDF.
Same family as ``stats``: the store the settings name (or ``--database-url``), one-line errors and exit codes
1 (nothing to report is not an error: an empty period writes a valid "no data" report and exits 0), 2 a bad
argument or range, 3 no store. The generation is recorded in the report history like the page's, by
``cli:<user>``.
"""

from __future__ import annotations

import argparse
import getpass
from pathlib import Path

import sqlalchemy as sa

from core.cli.stats import NO_STORE, USAGE, Problem, open_store, time_range
from core.config import ConfigError, get_settings
from core.reports.build import FORMATS, build, render
from core.reports.history import finish, start
from core.reports.model import KINDS


def add_parser(commands: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    """Register ``report`` on the top-level parser."""
    report = commands.add_parser("report", help="write a report as HTML or PDF (docs/reports.md)")
    report.add_argument("--type", required=True, choices=list(KINDS), help="which report")
    report.add_argument("--range", default=None, help="time range ending now, e.g. 7d, 30d (default 30d)")
    report.add_argument("--from", dest="since", default=None, help="first UTC day (YYYY-MM-DD), with --to")
    report.add_argument("--to", dest="until", default=None, help="last UTC day (YYYY-MM-DD), with --from")
    report.add_argument("--format", default=None, choices=list(FORMATS), help="html or pdf (default: from --out)")
    report.add_argument("--scope", action="append", default=[], help="filter as key=value, e.g. team=alpha")
    report.add_argument("--out", required=True, type=Path, help="the file to write")
    report.add_argument("--database-url", default=None, help="store URL (default: PULSEBOARD_DATABASE_URL)")


def run(args: argparse.Namespace) -> int:
    """Build, render and write the report; returns 0 or raises Problem."""
    try:
        settings = get_settings()
    except ConfigError as error:
        raise Problem(f"configuration: {str(error).splitlines()[0]}", USAGE) from None
    fmt = args.format or args.out.suffix.lstrip(".").lower()
    if fmt not in FORMATS:
        raise Problem(f"cannot tell the format from {args.out}: give --format html or pdf", USAGE)
    scope = {}
    for item in args.scope:
        key, sep, value = item.partition("=")
        if not sep or not key.strip() or not value.strip():
            raise Problem(f"bad --scope {item!r}: use key=value, e.g. team=alpha", USAGE)
        scope[key.strip()] = value.strip()
    start_ms, end_ms = time_range(args.range or (None if args.since else "30d"), args.since, args.until)
    if not args.out.parent.is_dir():
        raise Problem(f"cannot write {args.out}: no folder {args.out.parent}", USAGE)
    engine = open_store(args.database_url or settings.resolved_database_url)
    try:
        report = build(engine, args.type, start_ms, end_ms, scope, settings=settings)
        content = render(report, fmt)
        try:
            report_id = start(engine, args.type, fmt, start_ms, end_ms, scope, f"cli:{getpass.getuser()}")
            finish(engine, report_id, content)
        except sa.exc.SQLAlchemyError:
            pass  # a store without the reports table (older schema): the file is still written
    except sa.exc.SQLAlchemyError as error:
        raise Problem(
            f"cannot read the store: {str(getattr(error, 'orig', error)).splitlines()[0]}", NO_STORE
        ) from None
    finally:
        engine.dispose()
    partial = args.out.with_name(args.out.name + ".partial")
    try:
        partial.write_bytes(content)
        partial.replace(args.out)
    except OSError as error:
        raise Problem(f"cannot write {args.out}: {error.strerror or error}", USAGE) from None
    note = "" if report.has_data else " (no data in this period)"
    print(f"wrote {args.out}{note}")
    return 0
