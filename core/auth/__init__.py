"""Who is who and who may do what: users, API tokens, roles and the page catalogue, the audit log.

Pure domain code over the store; may import core.model, core.config and core.store, never streamlit.
"""
