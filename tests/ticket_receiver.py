"""A ticket tracker stand-in: a real HTTP server on an ephemeral port that records each POST.

The URL it gives carries a query token, so tests can check that no message shows it back.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

SECRET = "s3cret-token"


class Receiver:
    """Records (path, headers, body) of each POST and answers ``status`` with ``answer``."""

    def __init__(self) -> None:
        self.received: list[tuple[str, dict[str, str], bytes]] = []
        self.status = 201
        self.answer = b'{"html_url": "https://tracker.example/issues/42"}'
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers["Content-Length"]))
                receiver.received.append((self.path, dict(self.headers), body))
                self.send_response(receiver.status)
                self.send_header("Content-Type", "application/json")
                self.end_headers()
                self.wfile.write(receiver.answer)

            def log_message(self, *args: object) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/repos/acme/shop/issues?token={SECRET}"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def close(self) -> None:
        """Stop serving and free the port (it then refuses connections)."""
        self.server.shutdown()
        self.server.server_close()


@contextmanager
def ticket_receiver() -> Iterator[Receiver]:
    """A running :class:`Receiver`, closed afterwards."""
    found = Receiver()
    try:
        yield found
    finally:
        found.close()
