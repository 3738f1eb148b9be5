"""Alerting: rules, the Prometheus-style state machine, silences, correlation and notifications.

Start at :func:`core.alerts.engine.evaluate_all` (the scheduler job) and docs/alerting.md.

May import store, query, analytics, auth, config and model; never ui or streamlit.
"""
