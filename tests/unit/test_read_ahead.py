"""ReadAhead: a stream read one piece ahead in a background thread gives the same bytes, errors and end."""

from __future__ import annotations

import io
import threading
import time

import pytest

from airflow_provider_seekrflow.sources.read_ahead import ReadAhead


class CountingStream(io.BytesIO):
    """A BytesIO that records each read's size and whether it was closed."""

    def __init__(self, data: bytes, fail_after: int | None = None) -> None:
        super().__init__(data)
        self.reads: list[int] = []
        self.fail_after = fail_after

    def read(self, size: int | None = -1) -> bytes:
        if self.fail_after is not None and len(self.reads) >= self.fail_after:
            raise ConnectionResetError("the bucket hung up")
        self.reads.append(size if size is not None else -1)
        return super().read(size)


@pytest.mark.parametrize("reader_bytes", [1, 3, 7, 10, 64])
def test_gives_the_same_bytes_whatever_the_reader_asks_for(reader_bytes):
    data = bytes(range(256)) * 5
    with ReadAhead(CountingStream(data), chunk_bytes=10) as stream:
        got = b"".join(iter(lambda: stream.read(reader_bytes), b""))
    assert got == data


def test_reads_the_source_in_pieces_of_chunk_bytes():
    source = CountingStream(b"x" * 95)
    with ReadAhead(source, chunk_bytes=10) as stream:
        assert stream.read(-1) == b"x" * 95
    assert set(source.reads) == {10}
    assert stream.read(5) == b""


def test_a_failed_background_read_is_raised_to_the_reader():
    with ReadAhead(CountingStream(b"y" * 100, fail_after=2), chunk_bytes=10) as stream:
        assert stream.read(10) == b"y" * 10
        assert stream.read(10) == b"y" * 10
        with pytest.raises(ConnectionResetError, match="hung up"):
            stream.read(10)


def test_reads_at_most_depth_pieces_ahead():
    source = CountingStream(b"z" * 1000)
    stream = ReadAhead(source, chunk_bytes=10, depth=2)
    time.sleep(0.3)
    # Two waiting and one read, blocked on the hand-over: nothing more until the reader takes some.
    assert len(source.reads) <= 3
    stream.close()


def test_close_stops_the_background_read_and_closes_the_source():
    source = CountingStream(b"w" * 10_000)
    stream = ReadAhead(source, chunk_bytes=10)
    assert stream.read(10) == b"w" * 10
    stream.close()
    assert source.closed
    assert not any(t.name == "seekrflow-read-ahead" and t.is_alive() for t in threading.enumerate())
