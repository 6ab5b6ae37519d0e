"""Small throwaway HTTP servers in threads that answer every request the same hostile way.

Each server counts the requests it received, so a test can tell whether anything was sent.
"""

from __future__ import annotations

import contextlib
import socket
import time
from http.server import BaseHTTPRequestHandler

from tests.local_servers import ThreadedHTTPServer
from tests.local_servers import free_port as closed_port

__all__ = ["BEHAVIOURS", "Behaviour", "HostileServer", "closed_port"]

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


class HostileServer(ThreadedHTTPServer):
    """A ``ThreadingHTTPServer`` on 127.0.0.1 answering every request per ``behaviour``."""

    def __init__(self, behaviour: Behaviour) -> None:
        super().__init__("hostile")
        self.behaviour = behaviour
        self.hits = 0
        self.auth_headers: list[str] = []

    def answer(self, handler: BaseHTTPRequestHandler) -> None:
        with self._lock:
            self.hits += 1
            self.auth_headers.append(handler.headers.get("Authorization", ""))
        b = self.behaviour
        length = int(handler.headers.get("Content-Length") or 0)
        remaining = length
        while remaining > 0:  # read (and drop) the request body
            chunk = handler.rfile.read(min(remaining, 1 << 16))
            if not chunk:
                break
            remaining -= len(chunk)
        if b.stall:
            time.sleep(b.stall)
        if b.hang_up:
            handler.close_connection = True
            with contextlib.suppress(OSError):
                handler.connection.shutdown(socket.SHUT_RDWR)
            return
        body = b.body
        size = HUGE_BODY_BYTES if b.huge else len(body)
        handler.send_response(b.status)
        if b.content_type:
            handler.send_header("Content-Type", b.content_type)
        handler.send_header("Content-Length", str(size))
        handler.end_headers()
        with contextlib.suppress(OSError):
            if b.huge:
                handler.wfile.write(b'{"is_valid": true, "pad": "')
                block = b"x" * (1 << 20)
                sent = 27
                while sent + len(block) < size - 2:
                    handler.wfile.write(block)
                    sent += len(block)
                handler.wfile.write(b"x" * (size - 2 - sent) + b'"}')
            else:
                handler.wfile.write(body)
