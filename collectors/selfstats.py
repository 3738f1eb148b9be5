"""Pulseboard's own health, stored as samples so it is charted like everything else.

Reads the prometheus_client registry of :mod:`core.selfmetrics` (the same values
served at ``/metrics``) and the size of the store. Names are derived from each
family by fixed rules, so a metric appended to core/selfmetrics.py is stored without
editing this module (and a test then asks for it to be documented):

- counter ``x``     → ``x_total`` (raw) and ``x_per_second`` (rate over the interval)
- gauge ``x``       → ``x``
- histogram ``x_seconds`` → ``x_mean_seconds`` and ``x_p95_seconds`` over the interval,
  and ``x_observations_total`` (how many runs, batches or queries were timed)

Three more series feed the default system SLAs (:data:`OWN_SPECS`, docs/metrics.md):
``up{job="pulseboard"}`` (1 each run; at start-up an outage since the last stored 1 is
filled with 0s), ``pulseboard_data_freshness_seconds{host}`` (now − newest sample of any
other source in the store) and ``pulseboard_page_load_seconds{page}`` (slowest page-script
run per page in the interval, from :func:`core.selfmetrics.record_page_run`).

Per feed (core/query/feeds.py) it also stores ``pulseboard_data_freshness_seconds{feed}``
(that feed's lag) and ``pulseboard_feed_lag_ratio{feed}`` (lag ÷ expected interval, which
the default ``feed_stale`` alert rule reads), because one store-wide age is masked by the
busiest source. Feed series carry no ``host``: they measure the shared store, so two
replicas write the same series instead of raising every alert twice. A feed that never
delivered or was retired gets none, so a fresh install has nothing to alert on.
"""

from __future__ import annotations

import logging
import math
import socket
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import polars as pl
import sqlalchemy as sa
from prometheus_client import CollectorRegistry
from sqlalchemy.engine import Engine

from collectors.fields import UNITS, CounterRates, MetricSpec
from core import selfmetrics
from core.config import Settings
from core.model import Batch, Sample, canonical_labels, series_fingerprint
from core.query.feeds import feed_status
from core.store import schema

log = logging.getLogger(__name__)

QUANTILE = 0.95
SELF_JOB = "pulseboard"
MAX_DOWN_SAMPLES = 10_000  # an outage found at start-up is filled with at most this many 0s
REPORTING = ("ok", "late", "stale")  # feeds with a lag worth storing: not "never" (no data) nor "retired"
OWN_SPECS: tuple[MetricSpec, ...] = (
    MetricSpec(
        "up",
        "Pulseboard itself: 1 each run; at start-up the outage since the last stored 1 is filled with 0s.",
        "1",
        labels=("job", "host"),
    ),
    MetricSpec(
        "pulseboard_data_freshness_seconds",
        "With host: age of the newest sample of any source other than Pulseboard's own series; with feed: that "
        "feed's lag (now − its newest sample or event).",
        "seconds",
        labels=("host", "feed"),
    ),
    MetricSpec(
        "pulseboard_feed_lag_ratio",
        "A feed's lag ÷ its expected interval (above 3: stale); only for feeds whose interval is known.",
        "1",
        labels=("feed",),
    ),
    MetricSpec(
        "pulseboard_page_load_seconds",
        "Slowest run of each page script in the interval.",
        "seconds",
        labels=("page", "host"),
    ),
)
_UNITS_BY_SUFFIX = {suffix: unit for unit, suffix in UNITS.items() if suffix in ("_bytes", "_seconds", "_percent")}


def _split_unit(name: str) -> tuple[str, str, str]:
    """(base, suffix, unit) of a metric name, e.g. ('x', '_seconds', 'seconds') for x_seconds."""
    for suffix, unit in _UNITS_BY_SUFFIX.items():
        if name.endswith(suffix):
            return name.removesuffix(suffix), suffix, unit
    return name, "", "1"


def derived_specs(registry: CollectorRegistry = selfmetrics.REGISTRY) -> list[MetricSpec]:
    """The stored metrics derived from every family in ``registry``."""
    specs = []
    for family in registry.collect():
        help_text = family.documentation.rstrip(".")
        base, suffix, unit = _split_unit(family.name)
        if family.type == "counter":
            specs.append(
                MetricSpec(
                    f"{family.name}_total", f"{help_text} (raw counter, resets on restart).", "total", labels=("host",)
                )
            )
            specs.append(MetricSpec(f"{family.name}_per_second", f"{help_text}, per second.", "1/s", True, ("host",)))
        elif family.type == "gauge":
            specs.append(MetricSpec(family.name, f"{help_text}.", unit, labels=("host",)))
        elif family.type == "histogram":
            specs.append(
                MetricSpec(f"{base}_mean{suffix}", f"{help_text}: mean over the interval.", unit, True, ("host",))
            )
            specs.append(
                MetricSpec(
                    f"{base}_p95{suffix}",
                    f"{help_text}: 95th percentile over the interval (from buckets).",
                    unit,
                    True,
                    ("host",),
                )
            )
            specs.append(
                MetricSpec(
                    f"{base}_observations_total",
                    f"{help_text}: number of observations (raw counter).",
                    "total",
                    labels=("host",),
                )
            )
    return specs


def stored_specs(registry: CollectorRegistry = selfmetrics.REGISTRY) -> list[MetricSpec]:
    """Every metric the collector stores: those derived from ``registry`` plus :data:`OWN_SPECS`."""
    return [*derived_specs(registry), *OWN_SPECS]


def bucket_quantile(q: float, buckets: list[tuple[float, float]]) -> float | None:
    """Quantile from cumulative (upper bound, count) pairs, interpolated as Prometheus does."""
    if not buckets or buckets[-1][1] <= 0:
        return None
    rank = q * buckets[-1][1]
    lower, below = 0.0, 0.0
    for bound, count in buckets:
        if count >= rank:
            if math.isinf(bound):
                return lower
            return lower + (bound - lower) * (rank - below) / (count - below) if count > below else bound
        lower, below = bound, count
    return lower


def database_size(engine: Engine) -> int | None:
    """Bytes the store occupies: the SQLite file plus its WAL, or pg_database_size."""
    if engine.dialect.name == "sqlite":
        path = engine.url.database
        if not path or path == ":memory:":
            return None
        return sum(p.stat().st_size for p in (Path(path), Path(path + "-wal")) if p.exists())
    with engine.connect() as connection:
        return int(connection.execute(sa.text("SELECT pg_database_size(current_database())")).scalar_one())


def newest_sample_ms(engine: Engine) -> int | None:
    """Timestamp of the newest sample in the store, Pulseboard's own series left out (they would always look fresh)."""
    stmt = sa.text(
        "SELECT max((SELECT max(ts) FROM samples WHERE samples.series_id = series.id)) FROM series "
        "WHERE name NOT LIKE :own ESCAPE '/' AND NOT (name = 'up' AND labels LIKE :self_up)"
    )
    with engine.connect() as connection:
        value = connection.execute(stmt, {"own": "pulseboard/_%", "self_up": f'%"job":"{SELF_JOB}"%'}).scalar()
    return None if value is None else int(value)


def last_up_ms(engine: Engine, host: str) -> int | None:
    """When this host's Pulseboard last stored ``up{job="pulseboard"}``: raw samples, else the newest rollup bucket."""
    fingerprint = series_fingerprint("up", canonical_labels({"host": host, "job": SELF_JOB}))
    with engine.connect() as connection:
        series_id = connection.execute(
            sa.select(schema.series.c.id).where(schema.series.c.fingerprint == fingerprint)
        ).scalar()
        if series_id is None:
            return None
        newest = connection.execute(
            sa.select(sa.func.max(schema.samples.c.ts)).where(schema.samples.c.series_id == series_id)
        ).scalar()
        for table in schema.ROLLUP_TABLES.values():
            if newest is not None:
                break
            newest = connection.execute(
                sa.select(sa.func.max(table.c.bucket)).where(table.c.series_id == series_id)
            ).scalar()
    return None if newest is None else int(newest)


class SelfStatsCollector:
    """Samples of Pulseboard's own counters, gauges and timings."""

    def __init__(
        self,
        interval: float = 15.0,
        *,
        registry: CollectorRegistry = selfmetrics.REGISTRY,
        database_size: Callable[[], int | None] | None = None,
        clock: Callable[[], float] = time.time,
        host: str | None = None,
        max_gap_intervals: float = 3.0,
        newest_sample_ms: Callable[[], int | None] | None = None,
        last_up_ms: Callable[[str], int | None] | None = None,
        page_runs: selfmetrics.PageRuns = selfmetrics.PAGE_RUNS,
        feeds: Callable[[int], pl.DataFrame] | None = None,
    ) -> None:
        self.name = "selfstats"
        self.interval = interval
        self._registry, self._database_size, self._clock = registry, database_size, clock
        self._host = host or socket.gethostname()
        self._max_gap = max_gap_intervals * interval
        self._rates = CounterRates(self._max_gap)
        self._histograms: dict[tuple[str, tuple[tuple[str, str], ...]], tuple[float, dict[str, float]]] = {}
        self._family_seen: dict[str, float] = {}
        self._newest, self._last_up, self._page_runs = newest_sample_ms, last_up_ms, page_runs
        self._feeds = feeds
        self._started = False

    def collect(self) -> Batch:
        """Current values; rates and interval statistics appear from the second run."""
        self._measure_database()
        now = self._clock()
        ts = int(now * 1000)
        samples = [
            Sample(name, tuple(sorted((*labels, ("host", self._host)))), value, ts, kind)
            for name, labels, value, kind in self._readings(now)
        ]
        return Batch(tuple(samples + self._own(ts)))

    def _own(self, ts: int) -> list[Sample]:
        host = ("host", self._host)
        up = canonical_labels({"host": self._host, "job": SELF_JOB})
        samples = [] if self._started else self._outage(up, ts)
        self._started = True
        samples.append(Sample("up", up, 1.0, ts, "gauge"))
        newest = self._ask(self._newest)
        if newest is not None:
            samples.append(
                Sample("pulseboard_data_freshness_seconds", (host,), max(0, ts - newest) / 1000, ts, "gauge")
            )
        samples.extend(self._feed_samples(ts))
        for page, (slowest, _runs) in sorted(self._page_runs.drain().items()):
            samples.append(
                Sample(
                    "pulseboard_page_load_seconds",
                    canonical_labels({"host": self._host, "page": page}),
                    slowest,
                    ts,
                    "gauge",
                )
            )
        return samples

    def _feed_samples(self, ts: int) -> list[Sample]:
        """Lag and lag ratio of every feed that is reporting (not never, not retired), judged at ``ts``."""
        if self._feeds is None:
            return []
        try:
            judged = self._feeds(ts)
        except (sa.exc.SQLAlchemyError, OSError) as error:  # the store being down must not stop self-monitoring
            log.debug("feed freshness unavailable: %s", error)
            return []
        live = judged.filter(pl.col("status").is_in(REPORTING)).select("feed", "lag_s", "ratio")
        samples = []
        for feed, lag_s, ratio in live.iter_rows():
            labels = (("feed", feed),)
            samples.append(Sample("pulseboard_data_freshness_seconds", labels, lag_s, ts, "gauge"))
            if ratio is not None:
                samples.append(Sample("pulseboard_feed_lag_ratio", labels, ratio, ts, "gauge"))
        return samples

    def _outage(self, up: tuple[tuple[str, str], ...], ts: int) -> list[Sample]:
        """0s from the last stored 1 up to now when the gap is longer than a few intervals (Pulseboard was down)."""
        last = self._ask(lambda: self._last_up(self._host) if self._last_up else None)
        if last is None or ts - last <= self._max_gap * 1000:
            return []
        step = max(int(self.interval * 1000), (ts - last) // MAX_DOWN_SAMPLES + 1)
        return [Sample("up", up, 0.0, t, "gauge") for t in range(last + step, ts, step)]

    @staticmethod
    def _ask(read: Callable[[], int | None] | None) -> int | None:
        if read is None:
            return None
        try:
            return read()
        except (sa.exc.SQLAlchemyError, OSError) as error:  # the store being down must not stop self-monitoring
            log.debug("store reading unavailable: %s", error)
            return None

    def _measure_database(self) -> None:
        if self._database_size is None:
            return
        try:
            size = self._database_size()
        except (sa.exc.SQLAlchemyError, OSError) as error:  # the store being down is exactly when we must not fail
            log.debug("database size unavailable: %s", error)
            return
        if size is not None:
            selfmetrics.DATABASE_BYTES.set(size)

    def _readings(self, now: float) -> Iterator[tuple[str, tuple[tuple[str, str], ...], float, str]]:
        for family in self._registry.collect():
            if family.type == "counter":
                for sample in family.samples:
                    if sample.name.endswith("_total"):
                        labels = tuple(sorted(sample.labels.items()))
                        yield sample.name, labels, sample.value, "counter"
                        rate = self._rates.rate((sample.name, labels), sample.value, now)
                        if rate is not None:
                            yield f"{family.name}_per_second", labels, rate, "gauge"
            elif family.type == "gauge":
                for sample in family.samples:
                    yield sample.name, tuple(sorted(sample.labels.items())), sample.value, "gauge"
            elif family.type == "histogram":
                yield from self._histogram(family, now)

    def _histogram(self, family: Any, now: float) -> Iterator[tuple[str, tuple[tuple[str, str], ...], float, str]]:
        base, suffix, _ = _split_unit(family.name)
        series: dict[tuple[tuple[str, str], ...], dict[str, float]] = {}
        for sample in family.samples:
            labels = tuple(sorted((k, v) for k, v in sample.labels.items() if k != "le"))
            key = sample.labels["le"] if sample.name.endswith("_bucket") else sample.name.rsplit("_", 1)[-1]
            series.setdefault(labels, {})[key] = sample.value
        # A label set first seen now, of a family read before, was observed only in this interval.
        family_seen = self._family_seen.get(family.name)
        self._family_seen[family.name] = now
        for labels, values in series.items():
            yield f"{base}_observations_total", labels, values["count"], "counter"
            previous = self._histograms.get((family.name, labels))
            self._histograms[(family.name, labels)] = (now, values)
            if previous is None and family_seen is not None:
                previous = (family_seen, {})
            if previous is None or not 0 < now - previous[0] <= self._max_gap:
                continue
            delta = {k: v - previous[1].get(k, 0.0) for k, v in values.items()}
            if min(delta.values()) < 0 or delta["count"] <= 0:  # reset, or nothing observed this interval
                continue
            yield f"{base}_mean{suffix}", labels, delta["sum"] / delta["count"], "gauge"
            buckets = sorted((float(k), v) for k, v in delta.items() if k not in ("sum", "count"))
            p95 = bucket_quantile(QUANTILE, buckets)
            if p95 is not None:
                yield f"{base}_p95{suffix}", labels, p95, "gauge"


def build(settings: Settings, engine: Engine | None) -> list[SelfStatsCollector]:
    """The self-metrics collector, measuring the store (size, freshness per feed, past outages) when there is one."""
    if engine is None:
        return [
            SelfStatsCollector(settings.selfstats_interval_s, max_gap_intervals=settings.collector_max_gap_intervals)
        ]
    return [
        SelfStatsCollector(
            settings.selfstats_interval_s,
            database_size=lambda: database_size(engine),
            max_gap_intervals=settings.collector_max_gap_intervals,
            newest_sample_ms=lambda: newest_sample_ms(engine),
            last_up_ms=lambda host: last_up_ms(engine, host),
            feeds=lambda now: feed_status(engine, settings, now),
        )
    ]
