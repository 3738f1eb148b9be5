"""Schedules every collector, delivers their batches to the store, spools during outages.

The app lifespan calls :func:`build_scheduler` and then ``start()`` / ``stop()`` on
the result; ``python -m collectors run`` does the same without the web server.
Collectors are found through :data:`COLLECTORS`, a tuple of ``"module:factory"``
entries; adding a collector is one line there. A factory takes
``(settings, engine_or_None)`` and returns the collectors to run (an empty list when
its source is not configured); ``engine`` is None in the push agent.

Each collector runs as a scheduler job named ``collector:<name>``: a collector that
raises is logged, counted (``pulseboard_job_errors_total``) and retried with backoff
by :class:`core.jobs.Scheduler`, and never affects the others.
"""

from __future__ import annotations

import importlib
import logging
from collections.abc import Callable, Iterable, Mapping
from typing import cast

import sqlalchemy as sa
from sqlalchemy.engine import Engine

from collectors.base import Collector
from collectors.spool import Spool, SpoolingSink
from core.config import Settings
from core.ingest import ingest
from core.jobs import Scheduler
from core.model import Batch

log = logging.getLogger(__name__)

Factory = Callable[[Settings, Engine | None], Iterable[Collector]]

COLLECTORS: tuple[str, ...] = (
    "collectors.system:build",
    "collectors.selfstats:build",
    "collectors.prometheus:build",
    "collectors.database:build",
    "collectors.files:build",
    "collectors.junit_files:build",
    "collectors.deployments:build",
    "collectors.demo:build",
)

REPLAY_JOB = "spool:replay"


def load_factory(entry: str) -> Factory:
    """The factory named by a ``"module:function"`` registry entry."""
    module_name, _, attribute = entry.partition(":")
    return cast(Factory, getattr(importlib.import_module(module_name), attribute or "build"))


def build_collectors(
    settings: Settings, engine: Engine | None, registry: Iterable[str] = COLLECTORS
) -> list[Collector]:
    """Every collector the registry's factories produce for these settings.

    A factory that fails (a bad optional dependency, a broken module) is logged and
    skipped, so one broken source never stops the others from starting.
    """
    found: list[Collector] = []
    for entry in registry:
        try:
            found.extend(load_factory(entry)(settings, engine))
        except Exception:  # logged with traceback; the other collectors must still start
            log.exception("collector factory %s failed; continuing without it", entry)
    return found


def store_unavailable(error: BaseException) -> bool:
    """True for errors that mean "the store is locked or down, try again later"."""
    if isinstance(
        error, sa.exc.OperationalError | sa.exc.InterfaceError | sa.exc.TimeoutError | sa.exc.DisconnectionError
    ):
        return True
    if isinstance(error, sa.exc.DBAPIError) and error.connection_invalidated:
        return True
    return isinstance(error, ConnectionError | TimeoutError)


def store_sink(settings: Settings, engine: Engine, intervals: Mapping[str, float] | None = None) -> SpoolingSink:
    """Delivery to ``core.ingest`` with the spool at ``data_dir/spool``.

    ``intervals`` (origin → seconds) declares each collector's schedule with its batches, so
    its feed is judged against the interval it was configured with rather than one guessed
    from history (core/ingest/feeds.py); a replayed spool batch declares it too.
    """
    known = dict(intervals or {})

    def send(batch: Batch, origin: str) -> None:
        ingest(engine, batch, origin=origin, settings=settings, feed_interval_s=known.get(origin))

    spool = Spool(settings.data_dir / "spool", settings.spool_max_bytes)
    return SpoolingSink(send, spool, store_unavailable, retry_s=settings.spool_retry_s)


def origin_of(collector: Collector) -> str:
    """The ingest origin (and feed) of what ``collector`` returns: ``collector:<name>``."""
    return f"collector:{collector.name}"


def collector_job(collector: Collector, sink: SpoolingSink) -> Callable[[], None]:
    """One scheduler run of ``collector``: collect, then deliver (or spool)."""
    origin = origin_of(collector)

    def run() -> None:
        sink.deliver(collector.collect(), origin)

    return run


def schedule(scheduler: Scheduler, collectors: Iterable[Collector], sink: SpoolingSink, retry_s: float) -> Scheduler:
    """Add one job per collector and the spool replay job to ``scheduler``."""
    for collector in collectors:
        shared = bool(getattr(collector, "shared", False)) and scheduler.leases  # see collectors.base
        scheduler.add(
            f"collector:{collector.name}", collector.interval, collector_job(collector, sink), singleton=shared
        )
    scheduler.add(REPLAY_JOB, retry_s, sink.flush)
    return scheduler


def build_scheduler(
    settings: Settings,
    engine: Engine,
    collectors: Iterable[Collector] | None = None,
    *,
    sink: SpoolingSink | None = None,
) -> Scheduler:
    """A scheduler (not yet started) running every collector into ``engine``.

    ``collectors`` defaults to what :data:`COLLECTORS` builds from ``settings``;
    ``sink`` defaults to :func:`store_sink`. Call ``start()`` and ``stop()`` on it.
    """
    chosen = build_collectors(settings, engine) if collectors is None else list(collectors)
    intervals = {origin_of(c): c.interval for c in chosen}
    scheduler = Scheduler(engine, lease_s=settings.job_lease_s)
    return schedule(scheduler, chosen, sink or store_sink(settings, engine, intervals), settings.spool_retry_s)
