"""What a download needs beside the request: a safe temporary file, and the announced length read safely."""

from __future__ import annotations

import os
import tempfile
from pathlib import Path
from typing import IO, Any


def _umask() -> int:
    # Read, not set: os.umask() can only be read by changing it, which races with other threads.
    try:
        with open("/proc/self/status", encoding="ascii") as status:
            for line in status:
                if line.startswith("Umask:"):
                    return int(line.split()[1], 8)
    except (OSError, ValueError, IndexError):
        pass
    return 0o077  # unknown: keep mkstemp's owner-only mode


def open_partial(target: Path) -> tuple[IO[bytes], Path]:
    """
    Create and open the temporary file a download of ``target`` is written to, beside it.

    ``mkstemp`` creates it with ``O_EXCL`` under an unpredictable name, so a symlink planted at a
    guessable name in a shared folder (``/tmp``) is never followed. Its mode is then what a plain
    ``open`` would have given (0666 less the umask), so the finished file is as readable as before.

    :param target: The file the download ends up as.
    """
    fd, name = tempfile.mkstemp(dir=target.parent, prefix=f".{target.name}.", suffix=".part")
    try:
        os.fchmod(fd, 0o666 & ~_umask())
        return os.fdopen(fd, "wb"), Path(name)
    except BaseException:
        os.close(fd)
        os.unlink(name)
        raise


def announced_length(headers: Any) -> int | None:
    """
    Return the body length an answer announces, None when it announces none; raise ``ValueError`` if unreadable.

    :param headers: The answer's headers (case-insensitive).
    """
    value = headers.get("content-length")
    if value is None:
        return None
    # A repeated header arrives joined by commas; copies that agree are one length (as urllib3 reads it).
    values = {part.strip() for part in str(value).split(",")}
    if len(values) != 1 or not (text := values.pop()).isdigit() or len(text) > 20:
        raise ValueError(f"Content-Length {str(value)[:40]!r} is not a byte count")
    return int(text)


def raw_bytes_read(response: Any) -> int | None:
    """
    Return how many body bytes came over the wire, before any ``Content-Encoding`` was undone.

    ``Content-Length`` counts these, not the decoded bytes written to disk: a gzip-encoded answer
    is complete when they match. None when the response does not say.

    :param response: A requests response whose body was read.
    """
    tell = getattr(getattr(response, "raw", None), "tell", None)
    try:
        count = tell() if tell is not None else None
    except (OSError, ValueError):
        return None
    return count if isinstance(count, int) else None
