"""The HTTP API served beside the pages under ``/api`` (FastAPI).

Calls the same core functions the pages call; may import any domain package, never streamlit or core.ui.
"""
