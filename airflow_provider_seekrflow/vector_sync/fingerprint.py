"""
How a sync tells that a document changed: its size, plus the store's ETag or a hash of its content.

An object store's listing gives an ETag with the size, so nothing of an object is read to tell it
unchanged. A local file has no such tag: its content is hashed (SHA-256), streamed in pieces, so a
file edited in place with the same size is still told apart while memory holds one piece at a time.
"""

from __future__ import annotations

import contextlib
import hashlib
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from airflow_provider_seekrflow.client.multipart import StreamOpener

# Read this much of a document at a time while hashing it.
HASH_CHUNK_BYTES = 1024 * 1024


def of_tag(size: int, etag: str) -> str:
    """
    Return the fingerprint of a document its store tags: ``size=<bytes>;etag=<tag>``.

    :param size: Its size in bytes.
    :param etag: The store's ETag (quotes, as S3 sends them, are dropped).
    """
    tag = etag.strip().strip('"')
    return f"size={int(size)};etag={tag}"


def of_content(size: int, open_stream: StreamOpener, chunk_bytes: int = HASH_CHUNK_BYTES) -> str:
    """
    Return the fingerprint of a document by its content: ``size=<bytes>;sha256=<hex>``, read in pieces.

    :param size: Its size in bytes, as listed.
    :param open_stream: Opens a fresh binary stream of it.
    :param chunk_bytes: How much to read at a time.
    """
    digest = hashlib.sha256()
    with contextlib.closing(open_stream()) as stream:
        while piece := stream.read(chunk_bytes):
            digest.update(piece)
    return f"size={int(size)};sha256={digest.hexdigest()}"
