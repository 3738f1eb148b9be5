"""Long-running programmes: the QSE constitutional framework and migration health (docs/migration.md).

Pure domain functions over events; may import core.model, core.query and core.store, never streamlit.
"""
