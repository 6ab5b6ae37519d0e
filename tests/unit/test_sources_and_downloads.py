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
import io
import logging
import os
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from airflow_provider_seekrflow import jsonl_lines, validation
from airflow_provider_seekrflow.client import transfers
from airflow_provider_seekrflow.client.config import ClientConfig
from airflow_provider_seekrflow.client.sync_transport import SyncTransport
from airflow_provider_seekrflow.exceptions import SeekrFlowInvalidFileError, SeekrFlowUnexpectedResponseError
from airflow_provider_seekrflow.sources.source import iter_lines
from airflow_provider_seekrflow.training_data import iter_rows
from airflow_provider_seekrflow.validation import FileCheckError, LineTooLongError
from tests.readable_stream import ReadableStream

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


def transport_for(base_url: str) -> SyncTransport:
    config = ClientConfig(base_url=base_url, api_key="k-test", max_retries=0)
    return SyncTransport(config, logging.getLogger("test"), conn_id="c")


def test_a_gzip_encoded_download_is_written_decompressed_and_counted_as_sent(tmp_path):
    with content_server("gzip") as base_url:
        written = transfers.download_file(transport_for(base_url), "file-1", tmp_path / "train.jsonl")
    assert written.read_bytes() == CONTENT
    assert [p.name for p in tmp_path.iterdir()] == ["train.jsonl"]  # no temporary file left


def test_a_plain_download_keeps_the_mode_a_plain_open_gives(tmp_path):
    old = os.umask(0o022)
    try:
        with content_server("plain") as base_url:
            written = transfers.download_file(transport_for(base_url), "file-1", tmp_path / "out.jsonl")
    finally:
        os.umask(old)
    assert written.read_bytes() == CONTENT
    assert written.stat().st_mode & 0o777 == 0o644


def test_a_content_length_that_is_no_number_is_a_clear_error(tmp_path):
    with content_server("bad_length") as base_url:
        with pytest.raises(
            SeekrFlowUnexpectedResponseError, match=r"Content-Length 'twelve' is not a byte count"
        ):
            transfers.download_file(transport_for(base_url), "file-1", tmp_path / "out.jsonl")
    assert list(tmp_path.iterdir()) == []


def test_a_symlink_planted_at_the_old_temporary_name_is_not_followed(tmp_path):
    victim = tmp_path / "victim.txt"
    victim.write_bytes(b"precious")
    shared = tmp_path / "shared"
    shared.mkdir()
    # The name the download used to write through, guessable from the target and the pid.
    (shared / f".out.jsonl.{os.getpid()}.part").symlink_to(victim)
    with content_server("plain") as base_url:
        written = transfers.download_file(transport_for(base_url), "file-1", shared / "out.jsonl")
    assert victim.read_bytes() == b"precious"
    assert written.read_bytes() == CONTENT
    assert not written.is_symlink()
    assert sorted(p.name for p in shared.iterdir()) == sorted(["out.jsonl", f".out.jsonl.{os.getpid()}.part"])


# ------------------------------------------------------------------------------- lines of a stream


class Pieces(ReadableStream):
    """A stream that gives ``piece`` bytes per read of ``total`` bytes of ``fill``, never a newline."""

    def __init__(self, total: int, piece: int, fill: bytes = b"[") -> None:
        self._left = total
        self._piece = piece
        self._fill = fill

    def read(self, size: int = -1, /) -> bytes:
        count = min(self._piece, self._left)
        self._left -= count
        return self._fill * count


@pytest.fixture
def small_line_cap(monkeypatch):
    monkeypatch.setattr(jsonl_lines, "MAX_LINE_BYTES", 1000)
    return 1000


def test_a_newline_free_object_is_split_in_linear_time():
    # Re-joining what came so far on every read (rest + chunk) copies 8 MiB in 1 KiB reads about
    # 4 GiB over: tens of seconds. Joined once, it takes milliseconds.
    started = time.monotonic()
    lines = list(iter_lines(Pieces(8 << 20, 1024), 1024))
    assert time.monotonic() - started < 3.0
    assert [len(line) for line in lines] == [8 << 20]


def test_a_line_over_the_cap_raises_instead_of_being_gathered_whole(small_line_cap):
    stream = Pieces(50_000, 100)
    with pytest.raises(LineTooLongError) as caught:
        list(iter_lines(stream, 100))
    assert caught.value.line == 1
    assert stream._left > 40_000  # stopped soon after the cap, not at the end of the object


def test_lines_up_to_the_cap_pass_and_the_next_too_long_one_is_numbered(small_line_cap):
    data = b"a" * 999 + b"\n" + b"b\n" + b"c" * 1000 + b"\n"
    lines = iter_lines(io.BytesIO(data), 64)
    assert next(lines) == b"a" * 999 + b"\n"
    assert next(lines) == b"b\n"
    with pytest.raises(LineTooLongError) as caught:
        next(lines)
    assert caught.value.line == 3


def test_a_streamed_check_names_the_file_and_line_that_is_too_long(small_line_cap):
    line = b'{"text": "ok"}\n'
    data = line * 3 + b'{"text": "' + b"x" * 2000 + b'"}\n'
    with pytest.raises(FileCheckError) as caught:
        validation.check_jsonl_stream(iter_lines(io.BytesIO(data), 256), "pre-train", "s3://b/big.jsonl")
    assert caught.value.line == 4
    assert str(caught.value).startswith("s3://b/big.jsonl line 4: line longer than")


def test_a_local_check_reads_no_line_past_the_cap(small_line_cap, tmp_path):
    path = tmp_path / "minified.jsonl"
    path.write_bytes(b'{"text": "fine"}\n' + b"[" * 5000)
    with pytest.raises(FileCheckError) as caught:
        validation.check_file(path, "pre-train")
    assert (caught.value.line, caught.value.reason.split(" (")[0]) == (2, "line longer than 1000 bytes")


# ------------------------------------------------------------------------- reading training rows


def test_a_deeply_nested_training_row_is_a_clear_line_numbered_error(tmp_path):
    path = tmp_path / "rows.jsonl"
    path.write_text('{"messages": []}\n' + "[" * 200_000 + "]" * 200_000 + "\n")
    rows = iter_rows(path, "jsonl")
    assert next(rows) == {"messages": []}
    with pytest.raises(
        SeekrFlowInvalidFileError, match=r"^rows\.jsonl line 2: not JSON \(nested too deeply\)$"
    ):
        next(rows)


def test_a_training_row_that_is_not_utf8_is_a_clear_error(tmp_path):
    path = tmp_path / "rows.jsonl"
    path.write_bytes(b'{"messages": []}\n{"text": "caf\xe9"}\n')
    with pytest.raises(SeekrFlowInvalidFileError, match=r"^rows\.jsonl line 2: not valid UTF-8$"):
        list(iter_rows(path, "jsonl"))


def test_a_training_row_over_the_cap_is_refused_before_it_is_read_whole(small_line_cap, tmp_path):
    path = tmp_path / "rows.jsonl"
    path.write_bytes(b'{"a": 1}\n' + b" " * 3000 + b"{}\n")
    with pytest.raises(SeekrFlowInvalidFileError, match=r"^rows\.jsonl line 2: longer than 1000 bytes;"):
        list(iter_rows(path, "jsonl"))
