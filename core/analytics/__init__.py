"""Statistics over series: anomaly detectors and trend projections (forecasting and baselines to come).

Pure functions over numbers and DataFrames; may import core.model and core.query, never the store directly or streamlit.
"""
