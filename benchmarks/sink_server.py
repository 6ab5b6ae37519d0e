"""A discard sink: a tiny HTTP/1.1 server that reads and drops request bodies, answering a file object.

Run as ``python benchmarks/sink_server.py [--port 0]``: prints its base URL on one line, then serves
until killed. Every request (any method and path: ``PUT /v1/flow/files``, the official client's
``PUT /v1/flow/files?purpose=...``, ``POST /v1/flow/files/validate_metadata``) has its body read in
1 MiB ``recv_into`` calls and thrown away, so the sink costs as little CPU per byte as possible and
the client is what the benchmark measures. One thread per connection; keep-alive; honours
``Expect: 100-continue`` (curl sends it for large bodies) and chunked bodies.
"""

from __future__ import annotations

import argparse
import json
import socket
import sys
import threading
import time
import uuid

BUF = bytearray(1 << 20)


def _read_head(conn: socket.socket, pending: bytearray) -> bytes | None:
    while b"\r\n\r\n" not in pending:
        data = conn.recv(65536)
        if not data:
            return None
        pending += data
    head, _, rest = bytes(pending).partition(b"\r\n\r\n")
    pending[:] = rest
    return head


def _discard(conn: socket.socket, pending: bytearray, count: int) -> int:
    """Drop ``count`` body bytes (some may already be in ``pending``); return how many were dropped."""
    take = min(len(pending), count)
    del pending[:take]
    left = count - take
    view = memoryview(BUF)
    while left > 0:
        n = conn.recv_into(view, min(left, len(BUF)))
        if n == 0:
            raise ConnectionError("client closed mid-body")
        left -= n
    return count


def _read_line(conn: socket.socket, pending: bytearray) -> bytes:
    while b"\r\n" not in pending:
        data = conn.recv(65536)
        if not data:
            raise ConnectionError("client closed mid-chunk")
        pending += data
    line, _, rest = bytes(pending).partition(b"\r\n")
    pending[:] = rest
    return line


def _answer(method: str, target: str, received: int) -> bytes:
    path, _, query = target.partition("?")
    if path.endswith("/validate_metadata"):
        body: dict = {"is_valid": True, "errors": None}
    else:
        purpose = "fine-tune"
        for pair in query.split("&"):
            if pair.startswith("purpose="):
                purpose = pair.split("=", 1)[1]
        body = {
            "id": f"file-{uuid.uuid4()}",
            "object": "file",
            "created_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
            "type": "jsonl",
            "purpose": purpose,
            "filename": "upload.jsonl",
            "bytes": received,
            "created_by": "sink",
            "original_file_id": None,
            "deleted": False,
        }
    payload = json.dumps(body).encode()
    return (
        b"HTTP/1.1 200 OK\r\ncontent-type: application/json\r\n"
        + f"content-length: {len(payload)}\r\n\r\n".encode()
        + payload
    )


def handle(conn: socket.socket) -> None:
    pending = bytearray()
    try:
        while True:
            head = _read_head(conn, pending)
            if head is None:
                return
            lines = head.decode("latin-1").split("\r\n")
            method, target, _ = lines[0].split(" ", 2)
            headers = {}
            for line in lines[1:]:
                name, _, value = line.partition(":")
                headers[name.strip().lower()] = value.strip()
            if headers.get("expect", "").lower() == "100-continue":
                conn.sendall(b"HTTP/1.1 100 Continue\r\n\r\n")
            received = 0
            if "chunked" in headers.get("transfer-encoding", "").lower():
                while True:
                    size = int(_read_line(conn, pending).split(b";")[0], 16)
                    if size == 0:
                        while _read_line(conn, pending):  # trailers, then the blank line
                            pass
                        break
                    received += _discard(conn, pending, size)
                    _read_line(conn, pending)
            elif headers.get("content-length"):
                received = _discard(conn, pending, int(headers["content-length"]))
            conn.sendall(_answer(method, target, received))
            if headers.get("connection", "").lower() == "close":
                return
    except (ConnectionError, OSError, ValueError):
        return
    finally:
        conn.close()


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--port", type=int, default=0)
    args = parser.parse_args()
    server = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    server.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    server.bind(("127.0.0.1", args.port))
    server.listen(128)
    print(f"http://127.0.0.1:{server.getsockname()[1]}", flush=True)
    while True:
        conn, _ = server.accept()
        threading.Thread(target=handle, args=(conn,), daemon=True).start()


if __name__ == "__main__":
    sys.exit(main())
