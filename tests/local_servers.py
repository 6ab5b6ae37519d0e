"""Throwaway loopback servers and processes shared by the test folders.

- ``ThreadedHTTPServer``: an HTTP server in a thread whose subclass answers every request in ``answer``.
- ``SocketServer``: a bare TCP server in a thread that hands each connection to a function.
- ``free_port``, ``stop_process`` and ``first_module_with``.
"""

from __future__ import annotations

import importlib
import socket
import subprocess
import threading
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any


def first_module_with(names: tuple[str, ...], attribute: str) -> Any:
    """The first module of ``names`` that imports and has ``attribute`` (Airflow 3's path, then 2's), or None."""
    for name in names:
        try:
            module = importlib.import_module(name)
        except ImportError:
            continue
        if hasattr(module, attribute):
            return module
    return None


def free_port() -> int:
    """A local port with nothing listening on it (a connection to it is refused)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def stop_process(process: subprocess.Popen | None) -> None:
    """Terminate ``process`` if it still runs; kill it when it has not ended 10 s later."""
    if process is None or process.poll() is not None:
        return
    process.terminate()
    try:
        process.wait(timeout=10)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()


class _QuietServer(ThreadingHTTPServer):
    daemon_threads = True

    def handle_error(self, request: object, client_address: object) -> None:
        pass  # a client hanging up on a hostile answer is expected


class ThreadedHTTPServer:
    """A ``ThreadingHTTPServer`` on 127.0.0.1, run in a thread while used as a context manager.

    Every request method goes to ``answer(handler)``, which subclasses write.
    """

    def __init__(self, name: str = "test-server") -> None:
        self._lock = threading.Lock()
        server = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args: object) -> None:  # keep test output quiet
                pass

            def _answer(self) -> None:
                server.answer(self)

            do_GET = do_POST = do_PUT = do_DELETE = do_PATCH = _answer

        self._httpd = _QuietServer(("127.0.0.1", 0), Handler)
        self.port = self._httpd.server_address[1]
        self.base_url = f"http://127.0.0.1:{self.port}"
        self._thread = threading.Thread(
            target=self._httpd.serve_forever, name=f"{name}-{self.port}", daemon=True
        )

    def answer(self, handler: BaseHTTPRequestHandler) -> None:
        raise NotImplementedError

    def __enter__(self) -> Any:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        """Stop serving and close the listening socket."""
        self._httpd.shutdown()
        self._httpd.server_close()


class SocketServer:
    """A TCP server on 127.0.0.1 that calls ``handle(connection)`` for each connection, in a thread."""

    def __init__(self, handle: Callable[[socket.socket], None], backlog: int = 16) -> None:
        self._handle = handle
        self._sock = socket.create_server(("127.0.0.1", 0), backlog=backlog)
        self.port = int(self._sock.getsockname()[1])
        self.url = f"http://127.0.0.1:{self.port}"
        threading.Thread(target=self._serve, daemon=True).start()

    def _serve(self) -> None:
        while True:
            try:
                conn, _ = self._sock.accept()
            except OSError:
                return  # closed
            with conn:
                self._handle(conn)

    def close(self) -> None:
        self._sock.close()
