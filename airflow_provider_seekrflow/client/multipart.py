"""A multipart/form-data body that streams one file (from disk or any readable stream) with a known length."""

from __future__ import annotations

import os
import time
import uuid
from collections.abc import Callable, Iterator
from types import TracebackType
from typing import Any, Protocol, Union


class ReadableStream(Protocol):
    """What a body reads its file part from: a binary file, or anything that reads and closes like one."""

    def read(self, size: int = -1, /) -> bytes: ...  # noqa: D102

    def close(self) -> None: ...  # noqa: D102

    def __enter__(self) -> Any: ...

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None, /
    ) -> Any: ...


#: Opens the file part afresh for each send, so a retried request reads it from the start.
StreamOpener = Callable[[], ReadableStream]
#: What a body reads its file part from: a local path, or an opener of a stream.
FileSource = Union[str, "os.PathLike[str]", StreamOpener]

CHUNK_BYTES = 1024 * 1024


def _quote(value: str) -> str:
    # RFC 7578: names and file names are quoted strings; escape quote, CR and LF.
    return value.replace("\\", "\\\\").replace('"', "%22").replace("\r", "%0D").replace("\n", "%0A")


# Sizes read from the service: anything that is not a finite count up to this reads "unknown size".
_MAX_BELIEVED_BYTES = 1 << 80


def human_bytes(count: float) -> str:
    """
    Return a byte count as ``412 MiB`` or ``1.0 GiB``; ``unknown size`` for what is no count of bytes.

    Total: a size the service sent as a 400-digit number, NaN, a negative or a string never raises.

    :param count: The size in bytes.
    """
    try:
        count = float(count)
    except (TypeError, ValueError, OverflowError):
        return "unknown size"
    if not 0 <= count <= _MAX_BELIEVED_BYTES:  # also false for NaN
        return "unknown size"
    for unit in ("B", "KiB", "MiB", "GiB"):
        if count < 1024 or unit == "GiB":
            if unit in ("B", "KiB", "MiB"):
                return f"{count:.0f} {unit}"
            return f"{count:.1f} {unit}"
        count /= 1024
    raise AssertionError("unreachable")


class UploadProgress:
    """
    Log how much of an upload has been sent, at most every 10 % of the file or every 30 s.

    :param total: The file's size in bytes.
    :param log: Called with a message each time progress is reported.
    :param step_fraction: Share of the file between two reports.
    :param interval: Seconds after which a report is due even without a full step.
    """

    def __init__(
        self,
        total: int,
        log: Callable[[str], None],
        *,
        step_fraction: float = 0.10,
        interval: float = 30.0,
    ) -> None:
        self.total = total
        self._log = log
        self._step = max(1, int(total * step_fraction))
        self._interval = interval
        self._sent = 0
        self._next_report_at = self._step
        self._last_time = time.monotonic()

    def advance(self, count: int) -> None:
        """Record ``count`` more bytes sent and report if a step or the interval has passed."""
        self._sent += count
        now = time.monotonic()
        if self._sent >= self._next_report_at or now - self._last_time >= self._interval:
            self._report(now)

    def finish(self) -> None:
        """Report the final figure unless it was just reported."""
        if self._next_report_at <= self.total:
            self._report(time.monotonic())

    def _report(self, now: float) -> None:
        percent = 100 * self._sent // self.total if self.total else 100
        self._log(f"uploaded {human_bytes(self._sent)} of {human_bytes(self.total)} ({percent} %)")
        self._last_time = now
        self._next_report_at = (self._sent // self._step + 1) * self._step


class MultipartFileBody:
    """
    Stream form fields and one file as multipart/form-data, reading the file in chunks.

    ``len()`` gives the exact body size, so clients send ``Content-Length`` rather than chunked
    encoding; iterating again re-opens the file, so a retried request sends the whole body anew.
    A stream (an object in a bucket) must give exactly ``size`` bytes, as a local file must keep its size;
    one that gives more or fewer, or fails to read, raises ``SeekrFlowInvalidFileError`` naming the file.

    :param fields: Plain form fields sent before the file.
    :param file_field: The form field name of the file part.
    :param source: The local file to send, or a callable that opens a fresh binary stream of it.
    :param filename: The file name announced to the server.
    :param size: The file's size in bytes; read from disk for a path, required for a stream.
    :param progress: Receives the count of file bytes sent after each chunk.
    :param chunk_bytes: How much is read (and held) at a time.
    """

    def __init__(
        self,
        fields: dict[str, str],
        *,
        file_field: str,
        source: FileSource,
        filename: str,
        size: int | None = None,
        progress: Callable[[], UploadProgress] | None = None,
        chunk_bytes: int = CHUNK_BYTES,
    ) -> None:
        self.boundary = f"seekrflow-{uuid.uuid4().hex}"
        if callable(source):
            if size is None:
                raise ValueError("size: is required when the file part is read from a stream")
            self._open: StreamOpener = source
            self._shown = filename
            self._file_size = size
        else:
            path = os.fspath(source)
            self._open = lambda: open(path, "rb", buffering=0)  # noqa: SIM115 - closed by __iter__
            self._shown = path
            self._file_size = os.stat(path).st_size if size is None else size
        self._chunk_bytes = chunk_bytes
        self._progress_factory = progress
        head = bytearray()
        for name, value in fields.items():
            head += (
                f'--{self.boundary}\r\nContent-Disposition: form-data; name="{_quote(name)}"\r\n\r\n'
                f"{value}\r\n"
            ).encode()
        head += (
            f'--{self.boundary}\r\nContent-Disposition: form-data; name="{_quote(file_field)}"; '
            f'filename="{_quote(filename)}"\r\nContent-Type: application/octet-stream\r\n\r\n'
        ).encode()
        self._head = bytes(head)
        self._tail = f"\r\n--{self.boundary}--\r\n".encode()

    @property
    def content_type(self) -> str:
        """Return the ``Content-Type`` header value carrying the boundary."""
        return f"multipart/form-data; boundary={self.boundary}"

    @property
    def file_size(self) -> int:
        """Return the size of the file part in bytes."""
        return self._file_size

    def __len__(self) -> int:
        return len(self._head) + self._file_size + len(self._tail)

    def __iter__(self) -> Iterator[bytes]:
        # A file that cannot be read, or that changes size, while it is sent is the file's fault, not
        # the network's. The error raised here is no OSError: urllib3 and requests let it through
        # unwrapped (an OSError would become a "connection aborted"), so the upload is neither looked
        # for as a lost answer nor sent again while the file is still changing.
        progress = self._progress_factory() if self._progress_factory else None
        yield self._head
        sent = 0
        try:
            handle = self._open()
        except OSError as err:
            raise self._unreadable(err) from None
        with handle:
            while True:
                try:
                    chunk = handle.read(self._chunk_bytes)
                except OSError as err:
                    raise self._unreadable(err) from None
                if not chunk:
                    break
                sent += len(chunk)
                if sent > self._file_size:
                    raise self._changed(f"grew past the {self._file_size} bytes announced")
                if progress:
                    progress.advance(len(chunk))
                yield chunk
        if sent != self._file_size:
            raise self._changed(f"shrank to {sent} of the {self._file_size} bytes announced")
        if progress:
            progress.finish()
        yield self._tail

    def _changed(self, how: str) -> Exception:
        from airflow_provider_seekrflow.exceptions import SeekrFlowInvalidFileError

        return SeekrFlowInvalidFileError(
            f"{self._shown}: changed while it was being uploaded ({how}); the upload was stopped and "
            "not resent: upload it again once it no longer changes"
        )

    def _unreadable(self, error: OSError) -> Exception:
        from airflow_provider_seekrflow.exceptions import SeekrFlowInvalidFileError

        reason = error.strerror or str(error) or type(error).__name__
        return SeekrFlowInvalidFileError(
            f"{self._shown}: could not be read while it was being uploaded ({reason}); the upload "
            "was stopped and not resent"
        )
