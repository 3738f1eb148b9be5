"""Console scripts installed with the project (``pyproject.toml`` ``[project.scripts]``).

``pulseboard-stats …`` is ``python -m core.cli stats …`` under a name a shell finds on PATH once the
virtual environment's ``bin`` is on it (``make run`` / ``make test`` install the project editable, so the
script runs this working tree's code). Same arguments, output and exit codes: docs/migration.md.
"""

from __future__ import annotations

import sys
from collections.abc import Sequence

from core.cli.stats import main


def stats(argv: Sequence[str] | None = None) -> int:
    """``pulseboard-stats show|summary|report [options]``: the ``stats`` command; returns its exit code."""
    return main(["stats", *(sys.argv[1:] if argv is None else argv)], stats_prog="pulseboard-stats")


if __name__ == "__main__":
    sys.exit(stats())
