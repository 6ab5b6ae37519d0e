"""
Downloads and stream reading, over a small local HTTP server and in-memory streams (issue 20, L5, L6, L10).

- A download's temporary file is made with an unpredictable name, so a symlink planted at the old
  guessable name is never followed.
- A gzip-encoded answer is written decompressed and counted as sent; a Content-Length that is no
  number is a clear error, not a raw ``ValueError``.
- Splitting a stream into lines is linear in time, and a line is capped at ``MAX_LINE_BYTES``.
"""

from __future__ import annotations

import contextlib
import gzip
import logging
import os
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from airflow_provider_seekrflow._client.config import ClientConfig
from airflow_provider_seekrflow._client.sync_client import SyncClient
from airflow_provider_seekrflow._client.sync_transport import SyncTransport
from airflow_provider_seekrflow.exceptions import SeekrFlowUnexpectedResponseError

CONTENT = b"".join(b'{"messages": [{"role": "user", "content": "line %d"}]}\n' % i for i in range(2000))


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    mode = "plain"
    seen_encodings: list[str] = []

    def log_message(self, *args: object) -> None:  # quiet
        pass

    def do_GET(self) -> None:
        type(self).seen_encodings.append(self.headers.get("Accept-Encoding", ""))
        body, headers = CONTENT, {"Content-Type": "application/octet-stream"}
        if self.mode == "gzip":
            body = gzip.compress(CONTENT)
            headers["Content-Encoding"] = "gzip"
            headers["Content-Length"] = str(len(body))
        elif self.mode == "bad_length":
            headers["Content-Length"] = "twelve"
            headers["Connection"] = "close"
        else:
            headers["Content-Length"] = str(len(body))
        self.send_response(200)
        for name, value in headers.items():
            self.send_header(name, value)
        self.end_headers()
        self.wfile.write(body)


@contextlib.contextmanager
def content_server(mode: str) -> Iterator[str]:
    handler = type("Handler", (_Handler,), {"mode": mode, "seen_encodings": []})
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    server.daemon_threads = True
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()


def client_for(base_url: str) -> SyncClient:
    config = ClientConfig(base_url=base_url, api_key="k-test", max_retries=0)
    return SyncClient(SyncTransport(config, logging.getLogger("test"), conn_id="c"))


def test_a_gzip_encoded_download_is_written_decompressed_and_counted_as_sent(tmp_path):
    with content_server("gzip") as base_url:
        written = client_for(base_url).download_file("file-1", tmp_path / "train.jsonl")
    assert written.read_bytes() == CONTENT
    assert [p.name for p in tmp_path.iterdir()] == ["train.jsonl"]  # no temporary file left


def test_a_plain_download_keeps_the_mode_a_plain_open_gives(tmp_path):
    old = os.umask(0o022)
    try:
        with content_server("plain") as base_url:
            written = client_for(base_url).download_file("file-1", tmp_path / "out.jsonl")
    finally:
        os.umask(old)
    assert written.read_bytes() == CONTENT
    assert written.stat().st_mode & 0o777 == 0o644


def test_a_content_length_that_is_no_number_is_a_clear_error(tmp_path):
    with content_server("bad_length") as base_url:
        with pytest.raises(
            SeekrFlowUnexpectedResponseError, match=r"Content-Length 'twelve' is not a byte count"
        ):
            client_for(base_url).download_file("file-1", tmp_path / "out.jsonl")
    assert list(tmp_path.iterdir()) == []


def test_a_symlink_planted_at_the_old_temporary_name_is_not_followed(tmp_path):
    victim = tmp_path / "victim.txt"
    victim.write_bytes(b"precious")
    shared = tmp_path / "shared"
    shared.mkdir()
    # The name the download used to write through, guessable from the target and the pid.
    (shared / f".out.jsonl.{os.getpid()}.part").symlink_to(victim)
    with content_server("plain") as base_url:
        written = client_for(base_url).download_file("file-1", shared / "out.jsonl")
    assert victim.read_bytes() == b"precious"
    assert written.read_bytes() == CONTENT
    assert not written.is_symlink()
    assert sorted(p.name for p in shared.iterdir()) == sorted(["out.jsonl", f".out.jsonl.{os.getpid()}.part"])
