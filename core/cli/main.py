"""``python -m core.cli``: the command family, ``stats …`` (cli/stats.py) and ``report …`` (cli/reports.py)."""

from __future__ import annotations

import sys
from collections.abc import Sequence

from core.cli import reports, stats


def main(argv: Sequence[str] | None = None) -> int:
    """Run one command; returns the exit code (0 on success, else a one-line error on stderr)."""
    args = stats.parser(extra=reports.add_parser).parse_args(argv)
    try:
        return reports.run(args) if args.command == "report" else stats.run(args)
    except stats.Problem as problem:
        print(f"{args.command}: {problem}", file=sys.stderr)
        return problem.code
