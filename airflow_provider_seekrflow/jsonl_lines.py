"""
JSONL lines read in bounded batches: the line cap, and the batches the checks validate.

A JSONL line is held whole to be checked, so a line is capped (:data:`MAX_LINE_BYTES`): a
newline-free file of gigabytes (a minified array named ``.jsonl``) is an error, not a read of
gigabytes. Whatever splits a stream into lines raises :class:`LineTooLongError` past the cap.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator

_BLOCK = 32 << 10  # bytes of lines per batch: small batches stay in CPU cache (measured fastest)

# The longest JSONL line (its line end included) read: a line is held whole to be checked, so
# without a bound a newline-free file of gigabytes (a minified array named .jsonl) would be too.
MAX_LINE_BYTES = 64 << 20


def line_cap_text() -> str:
    """Return ``MAX_LINE_BYTES`` as a message shows it: ``64 MiB``."""
    whole_mib = MAX_LINE_BYTES % (1 << 20) == 0
    return f"{MAX_LINE_BYTES >> 20} MiB" if whole_mib else f"{MAX_LINE_BYTES} bytes"


class LineTooLongError(ValueError):
    """
    A line of a stream is longer than ``MAX_LINE_BYTES``; raised by whatever splits the stream into lines.

    :param line: The line's number, from 1.
    """

    def __init__(self, line: int) -> None:
        self.line = line
        self.reason = (
            f"line longer than {line_cap_text()} (each JSONL line holds one JSON object, "
            "and a line is read whole, so lines are capped at that)"
        )
        super().__init__(f"line {line}: {self.reason}")

    def __reduce__(self):  # keep picklable (custom __init__ signature)
        return (type(self), (self.line,))


def batches(lines: Iterable[bytes]) -> Iterator[list[bytes]]:
    """Lines in lists of about ``_BLOCK`` bytes, or one longer line; a line over ``MAX_LINE_BYTES`` raises."""
    readline = getattr(lines, "readline", None)
    if readline is None:
        # Lines split by someone else (``sources.source.iter_lines`` caps them itself).
        batch, size = [], 0
        for raw in lines:
            batch.append(raw)
            size += len(raw)
            if size >= _BLOCK:
                yield batch
                batch, size = [], 0
        if batch:
            yield batch
        return
    # readline(limit) rather than readlines(hint), which reads a line of any length whole.
    number = 0
    while True:
        batch, size = [], 0
        while size < _BLOCK:
            raw = readline(MAX_LINE_BYTES + 1)
            if not raw:
                break
            number += 1
            if len(raw) > MAX_LINE_BYTES:
                raise LineTooLongError(number)
            batch.append(raw)
            size += len(raw)
        if not batch:
            return
        yield batch
