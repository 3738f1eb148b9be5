"""Long-running programmes: the QSE constitutional framework and migration health (docs/migration.md).

Pure domain functions over events; may import core.model, core.query, core.store and core.kpis (its event
readers and suite bands), never streamlit.
"""
