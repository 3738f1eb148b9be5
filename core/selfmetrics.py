"""Pulseboard's own health, in Prometheus terms, served at ``/metrics``.

A private registry keeps the exposition to what Pulseboard itself measures, so a
Prometheus server scraping us sees stable, documented names (docs/metrics.md).
"""

from __future__ import annotations

from prometheus_client import (
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    disable_created_metrics,
    generate_latest,
)

disable_created_metrics()  # the _created series only double the exposition
REGISTRY = CollectorRegistry(auto_describe=True)

INGEST_ITEMS = Counter(
    "pulseboard_ingest_items_total", "Samples and events stored, by kind and origin.", ["kind", "origin"], registry=REGISTRY
)
INGEST_REJECTED = Counter(
    "pulseboard_ingest_rejected_batches_total", "Batches refused as invalid, by origin.", ["origin"], registry=REGISTRY
)
INGEST_SECONDS = Histogram(
    "pulseboard_ingest_seconds", "Time to validate and write one batch.", ["origin"], registry=REGISTRY,
    buckets=(0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5),
)
JOB_SECONDS = Histogram(
    "pulseboard_job_run_seconds", "Duration of one background job or collector run.", ["job"], registry=REGISTRY,
    buckets=(0.001, 0.01, 0.05, 0.1, 0.5, 1, 5, 30),
)
JOB_ERRORS = Counter("pulseboard_job_errors_total", "Background job or collector runs that raised.", ["job"], registry=REGISTRY)
DATABASE_BYTES = Gauge("pulseboard_database_bytes", "Size of the store on disk.", registry=REGISTRY)
QUERY_SECONDS = Histogram(
    "pulseboard_query_seconds", "Time of one dashboard query.", ["query"], registry=REGISTRY,
    buckets=(0.001, 0.005, 0.01, 0.05, 0.1, 0.25, 0.5, 1, 5),
)


def exposition() -> bytes:
    """The current values in Prometheus text format 0.0.4."""
    return generate_latest(REGISTRY)
