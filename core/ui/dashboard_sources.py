"""Named data sources a saved dashboard may use (``"source": "alerts"``), registered in core.ui.widgets.SOURCES.

A named source answers a domain question a selector cannot: the live alerts as the Alerts
page lists them. Importing this module registers them; core.ui.dashboard_view imports it, so
every dashboard has them. Each source reads through the domain package, never SQL here.
"""

from __future__ import annotations

import polars as pl

from core.alerts import store as alert_store
from core.alerts.views import active_table
from core.model import now_ms
from core.ui import widgets as w


@w.register_source("alerts")
def alerts(ctx: w.SourceContext, _config: w.WidgetConfig) -> pl.DataFrame:
    """Pending, firing and recently resolved alerts (severity, state, rule, summary, age in minutes), worst first."""
    table = active_table(alert_store.alerts_frame(ctx.engine), now_ms())
    if table.is_empty():
        return table
    return table.select("severity", "state", "rule", "summary", "age_min")
