"""Read a remote stream one piece ahead of its reader, so downloading and uploading overlap."""

from __future__ import annotations

import queue
import threading
from types import TracebackType
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from airflow_provider_seekrflow.client.multipart import ReadableStream

# How long a blocked hand-over waits before it checks whether the reader went away.
_HANDOVER_POLL_SECONDS = 0.1
# How long close() waits for a read in progress to return before leaving it to finish alone.
_CLOSE_WAIT_SECONDS = 30.0


class ReadAhead:
    """
    A binary stream that a background thread reads ``chunk_bytes`` at a time, ``depth`` pieces ahead.

    Read in turn from a bucket and sent to SeekrFlow, an object takes the sum of both transfers;
    read ahead, the slower of the two. Memory stays bounded: at most ``depth`` pieces wait, one is
    being read and one is being sent. A failure of the background read is raised by ``read``.

    :param stream: The stream to read; closed with this one.
    :param chunk_bytes: How much each background read asks for.
    :param depth: How many pieces may wait for the reader.
    """

    def __init__(self, stream: ReadableStream, chunk_bytes: int, depth: int = 1) -> None:
        self._stream = stream
        self._chunk_bytes = chunk_bytes
        self._pieces: queue.Queue[bytes | BaseException] = queue.Queue(maxsize=depth)
        self._closing = threading.Event()
        self._pending = b""
        self._ended = False
        self._thread = threading.Thread(target=self._fill, name="seekrflow-read-ahead", daemon=True)
        self._thread.start()

    def _fill(self) -> None:
        try:
            while not self._closing.is_set():
                piece = self._stream.read(self._chunk_bytes)
                if not self._hand_over(piece) or not piece:
                    return
        except BaseException as err:  # handed to the reader, which raises it
            self._hand_over(err)

    def _hand_over(self, item: bytes | BaseException) -> bool:
        while not self._closing.is_set():
            try:
                self._pieces.put(item, timeout=_HANDOVER_POLL_SECONDS)
                return True
            except queue.Full:
                continue
        return False

    def _next_piece(self) -> bytes:
        if self._ended:
            return b""
        item = self._pieces.get()
        if isinstance(item, BaseException):
            self._ended = True
            raise item
        if not item:
            self._ended = True
        return item

    def read(self, size: int = -1) -> bytes:
        """Return up to ``size`` bytes (all that is left when ``size`` < 0); ``b""`` at the end."""
        if size is None or size < 0:
            parts = [self._pending]
            self._pending = b""
            while piece := self._next_piece():
                parts.append(piece)
            return b"".join(parts)
        if not self._pending:
            self._pending = self._next_piece()
        taken, self._pending = self._pending[:size], self._pending[size:]
        return taken

    def close(self) -> None:
        """Stop reading ahead and close the stream."""
        self._closing.set()
        # Drain, so a background read blocked on a full hand-over sees the close and ends.
        while not self._pieces.empty():
            self._pieces.get_nowait()
        self._thread.join(_CLOSE_WAIT_SECONDS)
        if not self._thread.is_alive():
            self._stream.close()

    def __enter__(self) -> ReadAhead:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
        /,
    ) -> None:
        self.close()
