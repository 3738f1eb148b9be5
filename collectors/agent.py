"""Ship samples from another host to a central Pulseboard over its HTTP API.

The agent runs the same collectors as the app (without a store) and POSTs each batch
to ``URL/api/v1/metrics`` (and ``/api/v1/events`` for events) with
``Authorization: Bearer TOKEN``. While the server is unreachable, answers 5xx/429, or
refuses the token, batches go to ``data_dir/agent-spool`` and are replayed in order.
Resending is harmless: samples overwrite the same (series, time) and events are
idempotent on their id, so a batch whose samples landed but whose events did not is
simply sent again whole.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import httpx

from collectors.base import Collector
from collectors.runner import build_collectors, schedule
from collectors.spool import Spool, SpoolingSink
from core.config import Settings
from core.jobs import Scheduler
from core.model import Batch

METRICS_PATH = "/api/v1/metrics"
EVENTS_PATH = "/api/v1/events"


class PushUnavailable(Exception):
    """The central server cannot take the batch now; it is spooled and retried."""


class PushRejected(Exception):
    """The central server refused the batch as invalid; retrying would not help."""


def samples_body(batch: Batch) -> list[dict[str, Any]]:
    """Samples in the JSON form ``POST /api/v1/metrics`` accepts (timestamps in seconds)."""
    return [
        {"name": s.name, "labels": dict(s.labels), "value": s.value, "timestamp": s.ts / 1000} for s in batch.samples
    ]


def events_body(batch: Batch) -> list[dict[str, Any]]:
    """Events in the JSON form ``POST /api/v1/events`` accepts."""
    return [
        {
            "id": e.id,
            "type": e.type,
            "timestamp": e.ts / 1000,
            "source": e.source,
            "data": e.data,
            "metadata": e.metadata,
        }
        for e in batch.events
    ]


class Pusher:
    """Sends batches to one central Pulseboard."""

    def __init__(self, url: str, token: str, *, client: httpx.Client | None = None, timeout_s: float = 10.0) -> None:
        self.base = url.rstrip("/").removesuffix(METRICS_PATH)
        self._headers = {"Authorization": f"Bearer {token}"}
        self._client = client or httpx.Client()
        self._timeout = timeout_s

    def send(self, batch: Batch, origin: str) -> None:
        """POST the batch; raises PushUnavailable (spool it) or PushRejected (do not)."""
        if batch.samples:
            self._post(METRICS_PATH, samples_body(batch), origin)
        if batch.events:
            self._post(EVENTS_PATH, events_body(batch), origin)

    def _post(self, path: str, body: list[dict[str, Any]], origin: str) -> None:
        url = self.base + path
        response = self._client.post(
            url, json=body, headers={**self._headers, "X-Pulseboard-Origin": origin}, timeout=self._timeout
        )
        status = response.status_code
        if status < 300:
            return
        if status in (401, 403):
            raise PushUnavailable(
                f"{url} refused the token (HTTP {status}); fix --token, spooled batches will then be sent"
            )
        if status in (408, 425, 429) or status >= 500:
            raise PushUnavailable(f"{url} answered HTTP {status}")
        raise PushRejected(f"{url} refused the batch (HTTP {status}): {response.text[:500]}")


def push_unavailable(error: BaseException) -> bool:
    """True for errors after which the batch should be spooled and retried."""
    return isinstance(error, httpx.TransportError | PushUnavailable)


def agent_sink(settings: Settings, pusher: Pusher) -> SpoolingSink:
    """Delivery to the central server with the spool at ``data_dir/agent-spool``."""
    spool = Spool(settings.data_dir / "agent-spool", settings.spool_max_bytes)
    return SpoolingSink(pusher.send, spool, push_unavailable, retry_s=settings.spool_retry_s)


def build_agent_scheduler(
    settings: Settings,
    url: str,
    token: str,
    collectors: Iterable[Collector] | None = None,
    *,
    client: httpx.Client | None = None,
) -> Scheduler:
    """A scheduler (not yet started) running the collectors and pushing to ``url``."""
    chosen = build_collectors(settings, None) if collectors is None else list(collectors)
    sink = agent_sink(settings, Pusher(url, token, client=client))
    return schedule(Scheduler(None), chosen, sink, settings.spool_retry_s)
