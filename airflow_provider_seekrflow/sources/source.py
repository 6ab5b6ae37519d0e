"""
One file an upload task sends, as listed (:class:`Source`), and the helpers that read a ``file_path``.

A :class:`Source` holds what the listing found (name, size, where it came from) and opens a fresh
stream per read, so an upload streams an object straight from its bucket and a retried upload
re-opens it.
"""

from __future__ import annotations

import glob
import os
from collections.abc import Generator, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from airflow_provider_seekrflow import jsonl_lines
from airflow_provider_seekrflow.exceptions import SeekrFlowConfigError, SeekrFlowInvalidFileError
from airflow_provider_seekrflow.jsonl_lines import LineTooLongError

if TYPE_CHECKING:
    from airflow_provider_seekrflow.client.multipart import ReadableStream, StreamOpener

#: Local files are read in 1 MiB pieces: the page cache makes larger reads no faster.
LOCAL_CHUNK_BYTES = 1024 * 1024


@dataclass(frozen=True)
class Source:
    """
    One file to upload, as listed: nothing of it has been read yet.

    :param name: The name it is stored under (its last path part).
    :param shown: Where it is, as the task log and errors name it (a path or URI, no secret).
    :param where: The ``file_path`` item it came from, e.g. ``file_path[2]``.
    :param size: Its size in bytes, from the listing.
    :param open: Opens a fresh binary stream of it.
    :param chunk_bytes: How much to read from the stream at a time.
    :param local: The local file, for a local source; None in object storage.
    :param connection: The Airflow connection it is read with, for an object-storage source.
    :param etag: The object store's tag of its content, from the listing (None for a local file).
    """

    name: str
    shown: str
    where: str
    size: int
    open: StreamOpener
    chunk_bytes: int = LOCAL_CHUNK_BYTES
    local: Path | None = None
    connection: str | None = None
    etag: str | None = None

    def lines(self) -> Generator[bytes, None, None]:
        """Yield the file's lines (with their line ends), reading ``chunk_bytes`` at a time."""
        with self.open() as handle:
            yield from iter_lines(handle, self.chunk_bytes)


def iter_lines(handle: ReadableStream, chunk_bytes: int) -> Iterator[bytes]:
    """
    Yield the lines of a binary stream, reading it in large pieces.

    A stream read line by line would ask object storage once per line; this asks once per piece.
    Each byte is copied a bounded number of times however long a line is (the unended part of a
    line is kept as a list of pieces, joined once), and a line over
    :data:`~airflow_provider_seekrflow.jsonl_lines.MAX_LINE_BYTES` raises ``LineTooLongError``
    rather than being gathered whole.

    :param handle: The stream.
    :param chunk_bytes: How much to read at a time.
    """
    cap = jsonl_lines.MAX_LINE_BYTES  # read per call: a test lowers the cap on the module
    unended: list[bytes] = []  # the pieces of the line not ended yet
    unended_size = 0
    number = 0
    while chunk := handle.read(chunk_bytes):
        pieces = chunk.split(b"\n")
        tail = pieces.pop()
        if pieces and unended:
            unended.append(pieces[0])
            pieces[0] = b"".join(unended)
            unended, unended_size = [], 0
        for piece in pieces:
            number += 1
            if len(piece) >= cap:  # with its line end, over the cap
                raise LineTooLongError(number)
            yield piece + b"\n"
        if tail:
            unended.append(tail)
            unended_size += len(tail)
            if unended_size > cap:
                raise LineTooLongError(number + 1)
    if unended:
        yield b"".join(unended)


def is_object_storage(spec: Any) -> bool:
    """Return whether a ``file_path`` item names object storage (a scheme URI other than ``file://``)."""
    if isinstance(spec, str):
        return "://" in spec and not spec.startswith("file://")
    return type(spec).__name__ == "ObjectStoragePath"


def has_magic(text: str) -> bool:
    """Return whether a path or its last part is a glob pattern."""
    return glob.has_magic(text)


def as_list(file_path: Any, field: str = "file_path") -> tuple[list[Any], bool]:
    """
    Return the sources as a list, and whether the user named exactly one file (not a glob, not a list).

    :param file_path: What the task was given.
    :param field: The task's parameter it came from, as errors name it.
    """
    if file_path is None:
        raise SeekrFlowConfigError(f"{field}: is required")
    if isinstance(file_path, (str, os.PathLike)) or is_object_storage(file_path):
        text = str(file_path)
        return [file_path], not has_magic(text.rsplit("/", 1)[-1])
    if isinstance(file_path, (list, tuple)):
        items = list(file_path)
        if not items:
            raise SeekrFlowConfigError(f"{field}: the list of files is empty")
        return items, False
    raise SeekrFlowConfigError(
        f"{field}: expected a path, a glob, a URI or a list of them, got {type(file_path).__name__}"
    )


def no_match(where: str, pattern: str) -> SeekrFlowInvalidFileError:
    """Return the error of a glob that matches no file."""
    return SeekrFlowInvalidFileError(f"{where}: no file matches {pattern!r}")


def etag_of(info: Any) -> str | None:
    """
    Return the ETag an object store's listing gives for an object, or None.

    s3fs names it ``ETag``, gcsfs ``etag`` (or ``md5Hash``), others ``etag`` or ``ETag``; a
    multipart S3 upload's ETag is not a content hash, yet still changes whenever the object does.

    :param info: The listing's entry for the object (``fs.info(path)``).
    """
    if not isinstance(info, dict):
        return None
    for name in ("ETag", "etag", "md5Hash", "md5"):
        value = info.get(name)
        if isinstance(value, str) and value.strip().strip('"'):
            return value
    return None
