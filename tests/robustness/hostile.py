"""Small throwaway HTTP servers in threads that answer every request the same hostile way.

Each server counts the requests it received, so a test can tell whether anything was sent.
"""

from __future__ import annotations

import contextlib
import socket
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

HUGE_BODY_BYTES = 17 * 1024 * 1024  # over the provider's 16 MiB cap on a JSON answer


class Behaviour:
    """How a hostile server answers: status, content type and body, or a stall / hang-up."""

    def __init__(
        self,
        status: int = 200,
        content_type: str | None = "application/json",
        body: bytes = b"{}",
        *,
        stall: float = 0.0,
        hang_up: bool = False,
        huge: bool = False,
    ) -> None:
        self.status = status
        self.content_type = content_type
        self.body = body
        self.stall = stall
        self.hang_up = hang_up
        self.huge = huge


BEHAVIOURS = {
    "html": Behaviour(
        200,
        "text/html; charset=utf-8",
        b"<!doctype html><html><body><h1>Welcome to nginx!</h1></body></html>",
    ),
    "html_503": Behaviour(
        503, "text/html", b"<html><body><h1>503 Service Temporarily Unavailable</h1></body></html>"
    ),
    "not_json": Behaviour(200, "application/json", b"this is not JSON {"),
    "huge": Behaviour(200, "application/json", b"", huge=True),
    "text_plain": Behaviour(200, "text/plain", b'{"is_valid": true, "errors": null}'),
    "wrong_shape": Behaviour(200, "application/json", b'{"hello": "world"}'),
    "stall": Behaviour(200, "application/json", b"{}", stall=1.5),
    "hang_up": Behaviour(hang_up=True),
    "sentinel": Behaviour(
        500, "application/json", b'{"detail": "the sentinel server must never be reached"}'
    ),
}


class _QuietServer(ThreadingHTTPServer):
    daemon_threads = True

    def handle_error(self, request: object, client_address: object) -> None:
        pass  # a client hanging up on a hostile answer is expected


class HostileServer:
    """A ``ThreadingHTTPServer`` on 127.0.0.1 answering every request per ``behaviour``."""

    def __init__(self, behaviour: Behaviour) -> None:
        self.behaviour = behaviour
        self.hits = 0
        self.auth_headers: list[str] = []
        self._lock = threading.Lock()
        server = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args: object) -> None:  # keep test output quiet
                pass

            def _answer(self) -> None:
                with server._lock:
                    server.hits += 1
                    server.auth_headers.append(self.headers.get("Authorization", ""))
                b = server.behaviour
                length = int(self.headers.get("Content-Length") or 0)
                remaining = length
                while remaining > 0:  # read (and drop) the request body
                    chunk = self.rfile.read(min(remaining, 1 << 16))
                    if not chunk:
                        break
                    remaining -= len(chunk)
                if b.stall:
                    time.sleep(b.stall)
                if b.hang_up:
                    self.close_connection = True
                    with contextlib.suppress(OSError):
                        self.connection.shutdown(socket.SHUT_RDWR)
                    return
                body = b.body
                size = HUGE_BODY_BYTES if b.huge else len(body)
                self.send_response(b.status)
                if b.content_type:
                    self.send_header("Content-Type", b.content_type)
                self.send_header("Content-Length", str(size))
                self.end_headers()
                with contextlib.suppress(OSError):
                    if b.huge:
                        self.wfile.write(b'{"is_valid": true, "pad": "')
                        block = b"x" * (1 << 20)
                        sent = 27
                        while sent + len(block) < size - 2:
                            self.wfile.write(block)
                            sent += len(block)
                        self.wfile.write(b"x" * (size - 2 - sent) + b'"}')
                    else:
                        self.wfile.write(body)

            do_GET = do_POST = do_PUT = do_DELETE = do_PATCH = _answer

        self._httpd = _QuietServer(("127.0.0.1", 0), Handler)
        self._httpd.daemon_threads = True
        self.port = self._httpd.server_address[1]
        self.base_url = f"http://127.0.0.1:{self.port}"
        self._thread = threading.Thread(
            target=self._httpd.serve_forever, name=f"hostile-{self.port}", daemon=True
        )

    def __enter__(self) -> HostileServer:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._httpd.shutdown()
        self._httpd.server_close()


def closed_port() -> int:
    """A local port with nothing listening on it (connection refused)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]
