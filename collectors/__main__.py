"""Run the collectors without the web app.

    python -m collectors run                          # collect into the configured store
    python -m collectors agent --push URL --token T   # collect here, ship to a central Pulseboard
    python -m collectors docs                         # print the metric tables of docs/collectors.md

``--once`` runs every collector a single time and exits (non-zero if one failed).
The agent token may also come from ``PULSEBOARD_AGENT_TOKEN``, which keeps it out of
the process list.
"""

from __future__ import annotations

import argparse
import logging
import os
import signal
import sys
import threading

from collectors.fields import markdown_table
from core.config import ConfigError, get_settings
from core.jobs import Scheduler


def _serve(scheduler: Scheduler, once: bool) -> int:
    if once:
        results = [scheduler.run_once(name) for name in scheduler.status()]
        return 0 if all(results) else 1
    stop = threading.Event()
    for signum in (signal.SIGINT, signal.SIGTERM):
        signal.signal(signum, lambda *_: stop.set())
    scheduler.start()
    logging.getLogger("collectors").info("running %s; Ctrl-C stops", ", ".join(scheduler.status()))
    stop.wait()
    scheduler.stop()
    return 0


def metrics_markdown() -> str:
    """Markdown tables of every metric the built-in collectors store."""
    from collectors import database, prometheus, selfstats, system

    sections = [
        ("System collector (`system`)", system.SPECS),
        ("Prometheus scrape health (per target)", prometheus.SPECS),
        ("Database collector (`database:<driver>:<database>`)", database.SPECS),
        ("Self metrics (`selfstats`)", tuple(selfstats.stored_specs())),
    ]
    return "\n\n".join(f"### {title}\n\n{markdown_table(specs)}" for title, specs in sections) + "\n"


def main(argv: list[str] | None = None) -> int:
    """Command-line entry point."""
    parser = argparse.ArgumentParser(prog="python -m collectors", description="Pulseboard collectors")
    commands = parser.add_subparsers(dest="command", required=True)
    run = commands.add_parser("run", help="collect into the configured store")
    run.add_argument("--once", action="store_true", help="run each collector once and exit")
    agent = commands.add_parser("agent", help="collect here and push to a central Pulseboard")
    agent.add_argument(
        "--push", required=True, metavar="URL", help="base URL of the central Pulseboard, e.g. http://central:8501"
    )
    agent.add_argument(
        "--token", default=os.environ.get("PULSEBOARD_AGENT_TOKEN"), help="API token (or PULSEBOARD_AGENT_TOKEN)"
    )
    agent.add_argument("--once", action="store_true", help="run each collector once and exit")
    commands.add_parser("docs", help="print the metric tables for docs/collectors.md")
    args = parser.parse_args(argv)
    os.umask(0o077)  # the spool and any SQLite store this process creates are for its user only (as app.py)

    if args.command == "docs":
        sys.stdout.write(metrics_markdown())
        return 0
    try:
        settings = get_settings()
    except ConfigError as error:
        print(error, file=sys.stderr)
        return 2
    logging.basicConfig(level=settings.log_level, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    if args.command == "agent":
        if not args.token:
            parser.error("agent needs --token or PULSEBOARD_AGENT_TOKEN")
        from collectors.agent import build_agent_scheduler

        return _serve(build_agent_scheduler(settings, args.push, args.token), args.once)

    from collectors.runner import build_scheduler
    from core.store import get_engine

    return _serve(build_scheduler(settings, get_engine(settings)), args.once)


if __name__ == "__main__":
    sys.exit(main())
