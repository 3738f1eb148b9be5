"""Recording rules: series derived from events (workflow failure %, quality score, QSE compliance, …).

Alert rules, Explore, widgets and the API read these like any other series, whatever wrote the events.
May import kpis (to read event fields), programmes (the QSE definitions the QSE page uses too), ingest, store,
config and model; never query, ui or streamlit.
"""
