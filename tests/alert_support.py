"""Helpers for alerting tests: crafted series, a synthetic clock, and real HTTP/SMTP receivers on port 0."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

from sqlalchemy.engine import Engine

from core.config import Settings
from core.ingest.writer import write_batch
from core.model import Sample, now_ms

T0 = (now_ms() - 6 * 3_600_000) // 60_000 * 60_000  # a whole minute six hours ago: in the past, so ingest accepts it


def alert_settings(settings: Settings, tmp_path: Path, **extra: object) -> Settings:
    """The test settings with the query cache off, no default rules, and immediate resolved notices."""
    values: dict[str, object] = {
        "query_cache_ttl_s": 0.0,
        "alert_rules_file": tmp_path / "none.yaml",
        "alert_resolve_wait_s": 0.0,
        "alert_delivery_backoff_s": 0.0,
    }
    return settings.model_copy(update=values | extra)


def feed(
    engine: Engine, name: str, labels: dict[str, str], values: list[float], start: int = T0, step_ms: int = 15_000
) -> None:
    """Store ``values`` one every ``step_ms`` from ``start``."""
    samples = [Sample.of(name, labels, v, start + i * step_ms) for i, v in enumerate(values)]
    write_batch(engine, samples, [])


@dataclass
class Receiver:
    """A real HTTP server that records JSON bodies and answers with the queued status codes (then 200)."""

    url: str
    bodies: list[dict[str, object]] = field(default_factory=list)
    statuses: list[int] = field(default_factory=list)


@contextmanager
def http_receiver() -> Iterator[Receiver]:
    receiver = Receiver("")

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
            status = receiver.statuses.pop(0) if receiver.statuses else 200
            if status == 200:
                receiver.bodies.append(json.loads(body))
            self.send_response(status)
            self.end_headers()
            self.wfile.write(b"ok")

        def log_message(self, *args: object) -> None:
            return None

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    receiver.url = f"http://127.0.0.1:{server.server_address[1]}/hook"
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield receiver
    finally:
        server.shutdown()
        server.server_close()
