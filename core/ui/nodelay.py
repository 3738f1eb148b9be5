"""Answers leave at once: the server's listening socket gets TCP_NODELAY, which accepted sockets inherit.

Streamlit binds its listening socket itself, created without naming the TCP protocol, so
asyncio does not recognise the accepted connections as TCP and never turns Nagle's algorithm
off on them (``asyncio.base_events._set_nodelay`` checks ``sock.proto``). A response whose
headers and body go out as two small writes then waits for the client's delayed ACK: about
40 ms on every API request, health check and PromQL query, whatever the handler cost.

uvicorn imports app.py after Streamlit has bound the port and before it accepts anything, so
app.py calls :func:`listen_without_nagle` at import: it finds this process's listening TCP
sockets through ``/proc/self/fd`` and sets the option on them (through a duplicate
descriptor; options belong to the socket, not the descriptor). On Linux accepted sockets
inherit it. Elsewhere (no ``/proc``) it does nothing.
"""

from __future__ import annotations

import os
import socket
from pathlib import Path


def listen_without_nagle(fd_folder: Path = Path("/proc/self/fd")) -> int:
    """Set TCP_NODELAY on every listening TCP socket of this process; how many were set."""
    try:
        descriptors = [int(name) for name in os.listdir(fd_folder)]
    except OSError:
        return 0
    done = 0
    for fd in descriptors:
        try:
            if not os.readlink(fd_folder / str(fd)).startswith("socket:"):
                continue
            with socket.socket(fileno=os.dup(fd)) as sock:
                listening = sock.getsockopt(socket.SOL_SOCKET, socket.SO_ACCEPTCONN)
                if listening and sock.family in (socket.AF_INET, socket.AF_INET6) and sock.type == socket.SOCK_STREAM:
                    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
                    done += 1
        except OSError:
            continue  # closed meanwhile, or not a socket we may touch
    return done
