"""The server's connections have Nagle's algorithm off (core/ui/nodelay.py)."""

from __future__ import annotations

import socket

from core.ui.nodelay import listen_without_nagle


def test_a_listening_socket_and_its_connections_get_tcp_nodelay() -> None:
    listening = socket.socket(family=socket.AF_INET)  # as Streamlit binds it: no protocol named
    listening.bind(("127.0.0.1", 0))
    listening.listen(8)
    idle = socket.socket(family=socket.AF_INET)  # a socket that is not listening is left alone
    try:
        assert listening.getsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY) == 0
        assert listen_without_nagle() >= 1
        assert listening.getsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY) == 1
        assert idle.getsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY) == 0
        client = socket.create_connection(listening.getsockname())
        accepted, _ = listening.accept()
        assert accepted.proto == 0  # why asyncio would not set it itself: the socket does not say it is TCP
        assert accepted.getsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY) == 1
        accepted.close()
        client.close()
    finally:
        idle.close()
        listening.close()


def test_no_proc_folder_is_no_change(tmp_path) -> None:
    assert listen_without_nagle(tmp_path / "missing") == 0
