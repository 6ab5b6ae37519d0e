"""Local files, paths and globs (``~`` expanded, ``file://`` accepted) listed as upload sources."""

from __future__ import annotations

import glob
import os
from collections.abc import Iterator
from pathlib import Path

from airflow_provider_seekrflow.exceptions import SeekrFlowConfigError, SeekrFlowInvalidFileError
from airflow_provider_seekrflow.sources.source import Source, has_magic, no_match
from airflow_provider_seekrflow.validation import FileCheckError, local_size


def list_local(text: str, where: str) -> Iterator[Source]:
    """
    Yield the local file ``text`` names, or every file its glob matches (sorted), each with its size.

    :param text: A path or glob, possibly ``file://``.
    :param where: The ``file_path`` item it came from, for errors.
    """
    if text.startswith("file://"):
        text = text[len("file://") :]
    if not text.strip():
        raise SeekrFlowConfigError(f"{where}: is empty")
    expanded = os.path.expanduser(text)
    if has_magic(expanded):
        matches = [match for match in sorted(glob.glob(expanded, recursive=True)) if not os.path.isdir(match)]
        if not matches:
            raise no_match(where, text)
        for match in matches:
            yield _local_source(match, match, where)
        return
    yield _local_source(expanded, text, where)


def _local_source(path: str, shown: str, where: str) -> Source:
    try:
        size = local_size(path)
    except FileCheckError as err:
        # The path as the user wrote it, whole: a base name alone does not say which folder was wrong.
        raise SeekrFlowInvalidFileError(f"{where}: {shown}: {err.reason}") from None
    local = Path(path)
    return Source(
        name=os.path.basename(path.rstrip("/")),
        shown=shown,
        where=where,
        size=size,
        open=lambda: open(local, "rb", buffering=0),  # noqa: SIM115 - the reader closes it
        local=local,
    )
