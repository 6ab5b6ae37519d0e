"""A local server that answers every request with a redirect, and counts what it got.

Used with ``hostile.HostileServer(BEHAVIOURS["sentinel"])`` as the redirect's target: a client that
followed the redirect would show up in the sentinel's ``hits``.
"""

from __future__ import annotations

from http.server import BaseHTTPRequestHandler

from tests.local_servers import ThreadedHTTPServer

# What a redirect may carry that must never be shown or followed: a signed query, credentials.
LOCATION_SECRET = "sig=LOCATION-SECRET-5b1d"


class RedirectServer(ThreadedHTTPServer):
    """
    A ``ThreadingHTTPServer`` on 127.0.0.1 answering every request with ``status`` and ``Location: location``.

    :param status: The 3xx status to answer.
    :param location: The ``Location`` header's value.
    """

    def __init__(self, status: int, location: str) -> None:
        super().__init__("redirect")
        self.status = status
        self.location = location
        self.requests: list[tuple[str, str]] = []

    def answer(self, handler: BaseHTTPRequestHandler) -> None:
        length = int(handler.headers.get("Content-Length") or 0)
        if length:
            handler.rfile.read(length)
        with self._lock:
            self.requests.append((handler.command, handler.path))
        body = b'{"detail": "moved"}'
        handler.send_response(self.status)
        handler.send_header("Location", self.location)
        handler.send_header("Content-Type", "application/json")
        handler.send_header("Content-Length", str(len(body)))
        handler.end_headers()
        handler.wfile.write(body)
