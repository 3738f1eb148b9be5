"""Domain figures for the role pages: pure functions over polars frames, one module per page or theme.

May import query, store, sla, analytics, auth, config and model; never ui or streamlit.
"""
