"""SLAs, error budgets and bottleneck analysis (issue 7; docs/sla.md).

definitions (model, defaults) → store (SQL) → compliance / budget / bottlenecks (pure
polars) → status (one SLA at one instant) → jobs (breach log, alerts) and report (a
period against the one before, every breach, trends) → view (the page's tables and paging).

May import alerts, query, store, auth, config and model; never ui or streamlit.
"""
