"""A base for the tests' hand-made streams (a file that grows, a disk that fails, a source in pieces)."""

from __future__ import annotations

import io


class ReadableStream(io.RawIOBase):
    """A raw stream that says it is readable; a subclass gives the bytes of each call in ``read``."""

    def readable(self) -> bool:
        return True
