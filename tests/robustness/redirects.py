"""A local server that answers every request with a redirect, and counts what it got.

Used with ``hostile.HostileServer(BEHAVIOURS["sentinel"])`` as the redirect's target: a client that
followed the redirect would show up in the sentinel's ``hits``.
"""

from __future__ import annotations

import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

# What a redirect may carry that must never be shown or followed: a signed query, credentials.
LOCATION_SECRET = "sig=LOCATION-SECRET-5b1d"


class RedirectServer:
    """
    A ``ThreadingHTTPServer`` on 127.0.0.1 answering every request with ``status`` and ``Location: location``.

    :param status: The 3xx status to answer.
    :param location: The ``Location`` header's value.
    """

    def __init__(self, status: int, location: str) -> None:
        self.status = status
        self.location = location
        self.requests: list[tuple[str, str]] = []
        self._lock = threading.Lock()
        server = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args: object) -> None:  # keep test output quiet
                pass

            def _answer(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                if length:
                    self.rfile.read(length)
                with server._lock:
                    server.requests.append((self.command, self.path))
                body = b'{"detail": "moved"}'
                self.send_response(server.status)
                self.send_header("Location", server.location)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            do_GET = do_POST = do_PUT = do_DELETE = do_PATCH = _answer

        self._httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._httpd.daemon_threads = True
        self.base_url = f"http://127.0.0.1:{self._httpd.server_address[1]}"
        self._thread = threading.Thread(target=self._httpd.serve_forever, name="redirect", daemon=True)

    def __enter__(self) -> RedirectServer:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._httpd.shutdown()
        self._httpd.server_close()
