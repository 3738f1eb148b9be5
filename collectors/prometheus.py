"""Scrape Prometheus ``/metrics`` endpoints a team already runs (node_exporter, …).

One collector per configured target, so each is scheduled at its own interval. Every
scraped sample gets the target's ``job`` and ``instance`` labels (a label of the same
name already on the sample is kept as ``exported_job`` / ``exported_instance``, as
Prometheus does). Each scrape also yields ``up``, ``scrape_duration_seconds`` and
sample counts, so a target that is down is data, not an exception. Parsing is the
shared :func:`core.ingest.promtext.parse_prometheus`; samples that would make ingest
refuse the whole batch (too many labels, a future timestamp) are dropped and counted.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from urllib.parse import urlsplit

import httpx
from sqlalchemy.engine import Engine

from collectors.fields import MetricSpec
from core import selfmetrics
from core.config import PrometheusTarget, Settings
from core.ingest.promtext import parse_prometheus
from core.ingest.validate import Limits, point_problems, series_problems
from core.model import Batch, Sample, canonical_labels, now_ms

log = logging.getLogger(__name__)

ACCEPT = "text/plain;version=0.0.4;q=0.9,*/*;q=0.1"
MAX_BODY_BYTES = 64 * 1024 * 1024

_TARGET = ("job", "instance")
SPECS: tuple[MetricSpec, ...] = (
    MetricSpec("up", "1 if the last scrape of the target succeeded, else 0.", "1", labels=_TARGET),
    MetricSpec("scrape_duration_seconds", "Time the last scrape took, including a timeout.", "seconds", labels=_TARGET),
    MetricSpec("scrape_samples_scraped", "Samples the target exposed in the last scrape.", "1", labels=_TARGET),
    MetricSpec(
        "scrape_samples_dropped",
        "Samples of the last scrape not stored: unparsable lines or samples ingest would refuse.",
        "1",
        labels=_TARGET,
    ),
)


class ScrapeError(Exception):
    """The target answered, but not with something we can store."""


class PrometheusCollector:
    """One scrape target: fetch, parse, label, and report its health."""

    shared = True  # one replica scrapes it (collectors.base)

    def __init__(
        self,
        target: PrometheusTarget,
        *,
        client: httpx.Client | None = None,
        limits: Limits | None = None,
        clock: Callable[[], float] = time.time,
        timer: Callable[[], float] = time.perf_counter,
        max_bytes: int = MAX_BODY_BYTES,
    ) -> None:
        self.target = target
        self.instance = target.instance or urlsplit(target.url).netloc
        self.name = f"prometheus:{target.job}:{self.instance}"
        self.interval = target.interval_s
        self._labels = {**target.labels, "job": target.job, "instance": self.instance}
        self._client = client or httpx.Client(follow_redirects=True)
        self._limits, self._clock, self._timer, self._max_bytes = limits, clock, timer, max_bytes

    def collect(self) -> Batch:
        """Scrape once; never raises for a target that is down or malformed."""
        ts = int(self._clock() * 1000)
        started = self._timer()
        samples: list[Sample] = []
        dropped = 0
        try:
            result = parse_prometheus(self._fetch(started), ts)
            if result.errors:
                line, problem = result.errors[0]
                log.warning(
                    "%s: %d unparsable line(s), first at line %d: %s", self.name, len(result.errors), line, problem
                )
            samples = self._relabel(result.samples)
            dropped = len(result.errors) + len(result.samples) - len(samples)
            up = 1.0
        except (httpx.HTTPError, ScrapeError, UnicodeDecodeError) as error:
            log.warning("scrape of %s (%s) failed: %s", self.target.url, self.name, error or type(error).__name__)
            up, dropped = 0.0, 0
        duration = self._timer() - started
        selfmetrics.SCRAPES.labels(self.target.job, "ok" if up else "failed").inc()
        health = canonical_labels(self._labels)
        samples += [
            Sample("up", health, up, ts, "gauge"),
            Sample("scrape_duration_seconds", health, duration, ts, "gauge"),
            Sample("scrape_samples_scraped", health, float(len(samples) + dropped), ts, "gauge"),
            Sample("scrape_samples_dropped", health, float(dropped), ts, "gauge"),
        ]
        return Batch(tuple(samples))

    def _fetch(self, started: float) -> str:
        timeout = self.target.timeout_s
        headers = {"Accept": ACCEPT, "X-Prometheus-Scrape-Timeout-Seconds": str(timeout)}
        with self._client.stream("GET", self.target.url, headers=headers, timeout=timeout) as response:
            if response.status_code != 200:
                raise ScrapeError(f"HTTP {response.status_code} from {self.target.url}")
            chunks, size = [], 0
            for chunk in response.iter_bytes():
                size += len(chunk)
                if size > self._max_bytes:
                    raise ScrapeError(f"body larger than {self._max_bytes} bytes")
                if self._timer() - started > timeout:  # httpx times each read, not the whole body
                    raise ScrapeError(f"body not complete within {timeout} s")
                chunks.append(chunk)
            return b"".join(chunks).decode(response.encoding or "utf-8")

    def _relabel(self, scraped: list[Sample]) -> list[Sample]:
        kept = []
        latest = now_ms() + (self._limits.max_future_skew_ms if self._limits else 0)
        checked: dict[tuple[str, tuple[tuple[str, str], ...]], bool] = {}
        for sample in scraped:
            labels = dict(sample.labels)
            for name, value in self._labels.items():
                if name in labels:
                    labels[f"exported_{name}"] = labels[name]
                labels[name] = value
            fixed = Sample(sample.name, canonical_labels(labels), sample.value, sample.ts, sample.kind)
            if self._limits is not None:
                key = (fixed.name, fixed.labels)
                if key not in checked:
                    checked[key] = not series_problems(fixed.name, fixed.labels, self._limits)
                if not checked[key] or point_problems(fixed, self._limits, latest):
                    continue
            kept.append(fixed)
        return kept


def build(settings: Settings, engine: Engine | None) -> list[PrometheusCollector]:
    """One collector per configured target; a target listed twice is scraped once."""
    limits = Limits.from_settings(settings)
    collectors: dict[str, PrometheusCollector] = {}
    for target in settings.prometheus_targets:
        collector = PrometheusCollector(target, limits=limits)
        if collector.name in collectors:
            log.error("prometheus target %s (job %s) is listed twice; scraping it once", target.url, target.job)
            continue
        collectors[collector.name] = collector
    return list(collectors.values())
