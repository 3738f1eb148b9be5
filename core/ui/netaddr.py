"""Whether this server is reachable from other machines, for the "no login" rule.

Kept apart from core.ui.login so app.py (and the API) can ask without importing the login UI.
"""

from __future__ import annotations

from streamlit import config as st_config

LOCAL_ADDRESSES = frozenset({"localhost", "127.0.0.1", "::1"})


def bound_to_localhost(address: str | None = None) -> bool:
    """True when the server listens on loopback only; unset means every interface."""
    address = st_config.get_option("server.address") if address is None else address
    return bool(address) and (address in LOCAL_ADDRESSES or str(address).startswith("127."))
