"""Prometheus scrape collector against a real HTTP exporter on an ephemeral port.

The exporter serves the real expositions in tests/data/prom (node_exporter's and a
Prometheus server's own), plus small hand-written ones for escapes, timestamps and
label clashes; the store is the real SQLite file and Postgres database.
"""

from __future__ import annotations

import contextlib
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import httpx
import pytest
import sqlalchemy as sa

from collectors.prometheus import SPECS, PrometheusCollector, build
from collectors.runner import build_scheduler
from core.config import ConfigError, PrometheusTarget, load_settings
from core.ingest import ingest
from core.ingest.promtext import parse_prometheus
from core.ingest.validate import Limits

PROM = Path(__file__).resolve().parent / "data" / "prom"
DOCS = Path(__file__).resolve().parent.parent / "docs" / "collectors.md"

ESCAPED = """# HELP app_info Build information.
# TYPE app_info gauge
app_info{path="C:\\\\temp",quote="say \\"hi\\"",multi="a\\nb"} 1
# TYPE app_requests_total counter
app_requests_total{job="inner",code="200"} 1027 1700000000123
app_requests_total{code="500"} 3 1700000000123
# TYPE app_latency_seconds histogram
app_latency_seconds_bucket{le="0.1"} 5
app_latency_seconds_bucket{le="+Inf"} 7
app_latency_seconds_sum 1.5
app_latency_seconds_count 7
"""


class Exporter:
    """A real HTTP server on port 0 whose routes the test sets: path -> (status, body, delay)."""

    def __init__(self) -> None:
        self.routes: dict[str, tuple[int, bytes, float]] = {"/-/ready": (200, b"ok", 0.0)}
        routes = self.routes

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                status, body, delay = routes.get(self.path, (404, b"not found", 0.0))
                time.sleep(delay)
                self.send_response(status)
                self.send_header("Content-Type", "text/plain; version=0.0.4; charset=utf-8")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                with contextlib.suppress(BrokenPipeError, ConnectionResetError):  # the scraper gave up first
                    self.wfile.write(body)

            def log_message(self, *args: object) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()
        self.base = f"http://127.0.0.1:{self.server.server_address[1]}"
        deadline = time.monotonic() + 10
        while True:  # ready when it answers, not after a guessed sleep
            try:
                if httpx.get(self.base + "/-/ready", timeout=1).status_code == 200:
                    break
            except httpx.TransportError:
                if time.monotonic() > deadline:
                    raise
            time.sleep(0.01)

    def serve(self, path: str, body: str | bytes, status: int = 200, delay: float = 0.0) -> str:
        self.routes[path] = (status, body.encode() if isinstance(body, str) else body, delay)
        return self.base + path

    def close(self) -> None:
        if self.thread.is_alive():
            self.server.shutdown()
            self.server.server_close()
            self.thread.join()


@pytest.fixture
def exporter() -> Iterator[Exporter]:
    server = Exporter()
    yield server
    server.close()


def target(url: str, **fields) -> PrometheusTarget:
    return PrometheusTarget(url=url, job=fields.pop("job", "node"), **fields)


def by_name(batch, name: str) -> list:
    return [s for s in batch.samples if s.name == name]


@pytest.mark.parametrize("fixture", ["node_exporter_e2e_output.txt", "other_sample.txt"])
def test_real_expositions_are_scraped_labelled_and_stored(exporter, engine, settings, fixture):
    text = (PROM / fixture).read_text()
    url = exporter.serve("/metrics", text)
    scraper = PrometheusCollector(target(url), limits=Limits.from_settings(settings))
    batch = scraper.collect()
    expected = parse_prometheus(text, 0)
    scraped = [s for s in batch.samples if s.name not in {spec.name for spec in SPECS}]
    assert len(scraped) == len(expected.samples)
    instance = url.split("/")[2]
    assert all(dict(s.labels)["job"] == "node" and dict(s.labels)["instance"] == instance for s in batch.samples)
    (up,) = by_name(batch, "up")
    assert up.value == 1.0
    assert by_name(batch, "scrape_samples_scraped")[0].value == len(expected.samples)
    assert by_name(batch, "scrape_samples_dropped")[0].value == 0
    assert by_name(batch, "scrape_duration_seconds")[0].value > 0
    kinds = {s.kind for s in scraped}
    assert {"counter", "gauge"} <= kinds
    if fixture == "other_sample.txt":
        assert {"histogram", "summary"} <= kinds
        assert any(s.name.endswith("_bucket") and dict(s.labels)["le"] == "+Inf" for s in scraped)
        assert any("quantile" in dict(s.labels) for s in scraped)
    written = ingest(engine, batch, origin="collector:prometheus", settings=settings)
    assert written.samples_written == len(batch.samples)
    with engine.connect() as connection:
        assert connection.execute(sa.text("SELECT count(*) FROM samples")).scalar() == len(
            {(s.name, s.labels) for s in batch.samples}
        )


def test_escapes_timestamps_and_label_clashes(exporter):
    url = exporter.serve("/metrics", ESCAPED)
    batch = PrometheusCollector(target(url, labels={"env": "test"})).collect()
    (info,) = by_name(batch, "app_info")
    labels = dict(info.labels)
    assert (labels["path"], labels["quote"], labels["multi"]) == ("C:\\temp", 'say "hi"', "a\nb")
    assert labels["env"] == "test"
    requests = {dict(s.labels)["code"]: s for s in by_name(batch, "app_requests_total")}
    assert requests["200"].ts == 1700000000123, "an explicit exposition timestamp is kept"
    assert dict(requests["200"].labels)["exported_job"] == "inner" and dict(requests["200"].labels)["job"] == "node"
    assert "exported_job" not in dict(requests["500"].labels)
    assert requests["500"].kind == "counter"
    assert {s.kind for s in by_name(batch, "app_latency_seconds_bucket")} == {"histogram"}


def test_samples_ingest_would_refuse_are_dropped_not_the_whole_scrape(exporter, settings):
    huge = "x" * (settings.max_label_value_length + 1)
    url = exporter.serve("/metrics", f'ok_metric 1\nbad_metric{{v="{huge}"}} 2\nnot a sample line\n')
    batch = PrometheusCollector(target(url), limits=Limits.from_settings(settings)).collect()
    assert [s.name for s in batch.samples if s.name.endswith("_metric")] == ["ok_metric"]
    assert by_name(batch, "scrape_samples_dropped")[0].value == 2
    assert by_name(batch, "up")[0].value == 1


@pytest.mark.parametrize("problem", ["dead_port", "http_500", "slow"])
def test_unhealthy_target_is_up_zero_never_an_exception(exporter, problem):
    if problem == "dead_port":
        exporter.close()
        url = exporter.base + "/metrics"
    elif problem == "http_500":
        url = exporter.serve("/metrics", "boom", status=500)
    else:
        url = exporter.serve("/metrics", "late_metric 1\n", delay=2.0)
    batch = PrometheusCollector(target(url, timeout_s=0.3, interval_s=1)).collect()
    assert [s.name for s in batch.samples] == [
        "up",
        "scrape_duration_seconds",
        "scrape_samples_scraped",
        "scrape_samples_dropped",
    ]
    assert by_name(batch, "up")[0].value == 0.0


def test_each_target_is_scheduled_at_its_own_interval_and_stored(exporter, engine, settings):
    fast = exporter.serve("/fast", "fast_metric 1\n")
    slow = exporter.serve("/slow", "slow_metric 2\n")
    configured = settings.model_copy(
        update={
            "prometheus_targets": [
                target(fast, job="fast", interval_s=2, timeout_s=1),
                target(slow, job="slow", interval_s=30),
                target(slow, job="slow", interval_s=30),  # listed twice: scraped once
            ]
        }
    )
    collectors = build(configured, engine)
    assert sorted(c.interval for c in collectors) == [2, 30]
    scheduler = build_scheduler(configured, engine, collectors)
    status = scheduler.status()
    names = {c.name: c.interval for c in collectors}
    assert {n: status[f"collector:{n}"].interval_s for n in names} == names
    for name in names:
        assert scheduler.run_once(f"collector:{name}")
    with engine.connect() as connection:
        rows = connection.execute(
            sa.text("SELECT name, labels FROM series WHERE name IN ('fast_metric', 'slow_metric', 'up')")
        ).all()
    assert len(rows) == 4 and all('"job"' in labels for _, labels in rows)


def test_target_settings_are_validated_with_clear_errors(monkeypatch):
    monkeypatch.setenv(
        "PULSEBOARD_PROMETHEUS_TARGETS", '[{"url": "http://h:9100/metrics", "job": "node", "interval_s": 30}]'
    )
    (parsed,) = load_settings().prometheus_targets
    assert (parsed.url, parsed.job, parsed.interval_s, parsed.timeout_s) == ("http://h:9100/metrics", "node", 30, 10)
    monkeypatch.setenv("PULSEBOARD_PROMETHEUS_TARGETS", '[{"url": "h:9100", "job": "node"}]')
    with pytest.raises(ConfigError, match="http"):
        load_settings()
    monkeypatch.setenv(
        "PULSEBOARD_PROMETHEUS_TARGETS", '[{"url": "http://h/metrics", "job": "n", "interval_s": 5, "timeout_s": 9}]'
    )
    with pytest.raises(ConfigError, match="timeout_s"):
        load_settings()


def test_scrape_health_metrics_are_documented():
    text = DOCS.read_text()
    assert [spec.name for spec in SPECS if f"`{spec.name}`" not in text] == []
