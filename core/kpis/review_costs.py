"""Cost per review: what completed reviews cost, per repository and reviewer.

Read from ``workflow.workflow_completed`` events whose data carries ``cost_usd`` (and
optionally ``repository`` and ``reviewer``). The result goes through
:func:`core.auth.access.redact`: a viewer without ``view_costs`` gets the review counts
without any cost column, and one without ``view_people`` gets no reviewer column
(rows are then summed per repository, so no per-person figure survives either).
"""

from __future__ import annotations

import polars as pl
import sqlalchemy as sa
from sqlalchemy.engine import Engine

from core.auth.access import Viewer, can, redact
from core.store.schema import events

COMPLETED = "workflow.workflow_completed"


def review_costs(engine: Engine, viewer: Viewer, since_ms: int, until_ms: int) -> pl.DataFrame:
    """Reviews, total cost and cost per review, by repository (and reviewer when allowed)."""
    query = sa.select(events.c.data).where(events.c.type == COMPLETED, events.c.ts >= since_ms, events.c.ts < until_ms)
    with engine.connect() as connection:
        rows = [data for (data,) in connection.execute(query)]
    frame = pl.DataFrame(
        [
            {
                "repository": str(d.get("repository") or "unknown"),
                "reviewer": str(d.get("reviewer") or "unknown"),
                "cost_usd": float(d["cost_usd"]) if isinstance(d.get("cost_usd"), int | float) else None,
            }
            for d in rows
        ],
        schema={"repository": pl.String, "reviewer": pl.String, "cost_usd": pl.Float64},
    )
    keys = ["repository", "reviewer"] if can(viewer, "view_people") else ["repository"]
    summary = (
        frame.group_by(keys)
        .agg(
            pl.len().alias("reviews"),
            pl.col("cost_usd").sum().alias("cost_total_usd"),
            pl.col("cost_usd").mean().alias("cost_per_review_usd"),
        )
        .sort(keys)
    )
    return redact(summary, viewer)
