"""The single path by which anything enters the store.

Every writer (HTTP API, collectors, file watchers, the demo) calls :func:`ingest`
with a :class:`~core.model.Batch`. The batch is checked whole against the configured
limits and then written in one transaction, so a client either gets everything
stored or a list of what is wrong and nothing stored.

Also owns what the demo wrote and its purge (demo_data). May import store, config, model and
selfmetrics; never query, ui or streamlit.
"""

from __future__ import annotations

import time

from sqlalchemy.engine import Engine

from core import selfmetrics
from core.config import Settings, get_settings
from core.ingest.feeds import feed_mark
from core.ingest.health import note_failure, note_success
from core.ingest.validate import Limits, Problem, check_batch
from core.ingest.writer import WriteResult, write_batch
from core.model import Batch


class BatchRejected(ValueError):
    """A batch failed validation; ``problems`` lists each bad item and why."""

    def __init__(self, problems: list[Problem]) -> None:
        self.problems = problems
        first = problems[0]
        super().__init__(
            f"{len(problems)} problem(s), first: {first.kind}[{first.index}].{first.field}: {first.message}"
        )

    @property
    def too_large(self) -> bool:
        """True when the batch is refused for its length alone (HTTP 413)."""
        return len(self.problems) == 1 and self.problems[0].kind == "batch"


def ingest(
    engine: Engine,
    batch: Batch,
    *,
    origin: str = "api",
    settings: Settings | None = None,
    feed: str | None = None,
    feed_interval_s: float | None = None,
) -> WriteResult:
    """Validate and store ``batch`` atomically; raises BatchRejected and stores nothing if invalid.

    ``origin`` labels the self-metrics (a handful of values); ``feed`` (default: the origin)
    names the source whose freshness this batch renews, and may be finer (``api:<token>``,
    ``files:<file>``). ``feed_interval_s`` is how often the writer delivers when it knows
    (a collector's schedule); see core/ingest/feeds.py.
    """
    started = time.perf_counter()
    problems = check_batch(batch, Limits.from_settings(settings or get_settings()))
    if problems:
        selfmetrics.INGEST_REJECTED.labels(origin).inc()
        raise BatchRejected(problems)
    mark = feed_mark(feed or origin, batch.samples, batch.events, feed_interval_s)
    try:
        result = write_batch(engine, batch.samples, batch.events, feed=mark)
    except Exception as error:
        note_failure(error)  # pulseboard_store_up and the outage start, when it means "try later"
        raise
    note_success()
    selfmetrics.INGEST_SECONDS.labels(origin).observe(time.perf_counter() - started)
    selfmetrics.INGEST_ITEMS.labels("sample", origin).inc(result.samples_written)
    selfmetrics.INGEST_ITEMS.labels("event", origin).inc(result.events_written)
    return result


__all__ = ["BatchRejected", "Problem", "WriteResult", "ingest"]
