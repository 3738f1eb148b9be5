"""Ingest throughput: in-process batches into SQLite and Postgres, and JSON over loopback HTTP.

Batches of 5,000 samples over 50 series (100 samples per series, 10 s apart), the
shape a busy collector fleet sends. Figures: ingest_sqlite_samples_per_s,
ingest_postgres_samples_per_s, ingest_http_samples_per_s (BENCH.md targets 200k,
100k and 50k), and ingest_postgres_bytes_per_sample: what the Postgres ``samples``
table (heap, primary-key index and their maps, ``pg_total_relation_size``) holds per
sample once the run is stored, reported without a target.
"""

from __future__ import annotations

import os
import random
import tempfile
import time
import uuid
from pathlib import Path

import httpx
import sqlalchemy as sa
from common import record  # type: ignore[import-not-found]

from core.ingest import ingest
from core.model import Batch, Sample, canonical_labels, now_ms
from core.store.engine import make_engine
from core.store.migrate import upgrade

BATCH = 5_000
BATCHES = int(os.environ.get("BENCH_INGEST_BATCHES", "40"))
SERIES = 50
POSTGRES_ADMIN_URL = os.environ.get("PULSEBOARD_TEST_POSTGRES", "postgresql+psycopg://postgres@127.0.0.1:5432/test")


def batches(count: int) -> list[Batch]:
    labels = [canonical_labels({"host": f"host-{i:02d}", "job": "bench"}) for i in range(SERIES)]
    start = now_ms() - count * (BATCH // SERIES) * 10_000 - 60_000
    rng = random.Random(7)
    out = []
    for b in range(count):
        base = start + b * (BATCH // SERIES) * 10_000
        out.append(
            Batch(
                tuple(
                    Sample("bench_cpu_percent", labels[i % SERIES], rng.random() * 100, base + (i // SERIES) * 10_000)
                    for i in range(BATCH)
                )
            )
        )
    return out


def in_process(url: str) -> float:
    engine = make_engine(url)
    upgrade(engine)
    work = batches(BATCHES + 1)
    ingest(engine, work[0], origin="bench")  # creates the series: steady state is what we measure
    started = time.perf_counter()
    for batch in work[1:]:
        ingest(engine, batch, origin="bench")
    elapsed = time.perf_counter() - started
    engine.dispose()
    return BATCHES * BATCH / elapsed


def over_http(tmp: Path) -> float:
    from tests.live import live_server  # the same launcher the tests use

    bodies = [
        [{"name": s.name, "labels": dict(s.labels), "value": s.value, "timestamp": s.ts / 1000} for s in batch.samples]
        for batch in batches(BATCHES // 2 + 1)
    ]
    tmp.mkdir(parents=True, exist_ok=True)
    with (
        live_server(tmp, env={"PULSEBOARD_COLLECTORS": "false"}) as server,
        httpx.Client(timeout=60, headers=server.headers) as client,
    ):
        client.post(f"{server.url}/api/v1/metrics", json=bodies[0]).raise_for_status()
        started = time.perf_counter()
        for body in bodies[1:]:
            client.post(f"{server.url}/api/v1/metrics", json=body).raise_for_status()
        elapsed = time.perf_counter() - started
    return (len(bodies) - 1) * BATCH / elapsed


def bytes_per_sample(url: str) -> float:
    """Size of the Postgres samples table, indexes included, over its row count."""
    engine = sa.create_engine(url)
    try:
        with engine.connect() as connection:
            size, count = connection.exec_driver_sql(
                "SELECT pg_total_relation_size('samples'), (SELECT count(*) FROM samples)"
            ).one()
    finally:
        engine.dispose()
    return float(size) / count


def postgres() -> tuple[float, float]:
    """Samples per second into a fresh Postgres database, and the bytes each then takes there."""
    name = f"pulseboard_bench_{uuid.uuid4().hex[:8]}"
    admin = sa.create_engine(POSTGRES_ADMIN_URL, isolation_level="AUTOCOMMIT")
    with admin.connect() as connection:
        connection.exec_driver_sql(f'CREATE DATABASE "{name}"')
    try:
        url = sa.engine.make_url(POSTGRES_ADMIN_URL).set(database=name).render_as_string(hide_password=False)
        return in_process(url), bytes_per_sample(url)
    finally:
        with admin.connect() as connection:
            connection.exec_driver_sql(f'DROP DATABASE "{name}" WITH (FORCE)')
        admin.dispose()


def main() -> None:
    with tempfile.TemporaryDirectory() as tmp:
        figures = {"ingest_sqlite_samples_per_s": in_process(f"sqlite:///{Path(tmp) / 'bench.db'}")}
        figures["ingest_postgres_samples_per_s"], figures["ingest_postgres_bytes_per_sample"] = postgres()
        figures["ingest_http_samples_per_s"] = over_http(Path(tmp) / "http")
    print("ingest (batches of 5,000 samples)")
    record(figures)


if __name__ == "__main__":
    main()
