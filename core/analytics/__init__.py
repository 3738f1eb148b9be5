"""Statistics over series: anomaly detectors and forecasts (Prophet, with seasonal-naive and last-value baselines).

Pure functions over numbers and DataFrames; may import core.config, core.model and core.query, never the store
directly or streamlit.
"""
