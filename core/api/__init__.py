"""The HTTP APIs served beside the pages: ``/api`` (FastAPI) and the Prometheus-compatible ``/prometheus``.

Calls the same core functions the pages call; may import any domain package, never streamlit or core.ui.
"""
