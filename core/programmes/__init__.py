"""Long-running programmes: the QSE constitutional framework (and migration health to come).

Pure domain functions over events; may import core.model, core.query and core.store, never streamlit.
"""
