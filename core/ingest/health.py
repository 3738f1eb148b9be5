"""Whether the store takes writes, as every writer last saw it: ``pulseboard_store_up`` and the outage start.

:func:`core.ingest.ingest` is the one write path, so it is the one place that knows:
collectors write every few seconds, so the gauge is at most one collector interval old.
Pages and the API report failures they meet on reads too (a store that cannot even be
read certainly cannot be written), but only a write that succeeds clears an outage,
because a read-only or full store still answers reads.
"""

from __future__ import annotations

from core import selfmetrics
from core.store.outage import HEALTH, Outage, describe_outage


def note_failure(error: BaseException) -> Outage | None:
    """Record ``error`` if it is an outage (gauge to 0, counted by condition); returns it with its start, else None."""
    outage = describe_outage(error)
    if outage is None:
        return None
    selfmetrics.STORE_UP.set(0)
    selfmetrics.STORE_UNAVAILABLE.labels(outage.condition).inc()
    return HEALTH.failed(outage)


def note_success() -> None:
    """A write went through: the store is up."""
    if HEALTH.current is not None:
        HEALTH.succeeded()
    selfmetrics.STORE_UP.set(1)
