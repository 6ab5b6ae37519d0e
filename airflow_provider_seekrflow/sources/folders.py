"""A sync's sources: what ``resolve`` reads, plus whole folders and bucket prefixes."""

from __future__ import annotations

import os
from typing import Any

from airflow_provider_seekrflow.sources.resolver import resolve
from airflow_provider_seekrflow.sources.source import Source, as_list, is_object_storage


def resolve_documents(source: Any, *, source_conn_id: str | None = None) -> list[Source]:
    """
    List every document a sync's ``source`` names, reading none: a folder means every file under it.

    A local folder is read recursively (hidden files, as a glob skips them, are left out); an
    object-storage URI ending in ``/`` (or an ``ObjectStoragePath`` of a prefix) means every object
    directly under it. Anything else is read as the upload operator reads it (a path, glob or URI).

    :param source: A folder, path, glob, URI or ``ObjectStoragePath``, or a list of them.
    :param source_conn_id: The connection for object-storage URIs that name none of their own.
    """
    specs, _ = as_list(source, "source")
    return resolve([_expanded(spec) for spec in specs], source_conn_id=source_conn_id, field="source")[0]


def _expanded(spec: Any) -> Any:
    if is_object_storage(spec):
        if isinstance(spec, str):
            return spec + "*" if spec.endswith("/") else spec
        return spec / "*" if _is_prefix(spec) else spec
    if isinstance(spec, (str, os.PathLike)):
        text = os.fspath(spec)
        path = os.path.expanduser(text[len("file://") :] if text.startswith("file://") else text)
        if os.path.isdir(path):
            return os.path.join(path, "**", "*")
    return spec


def _is_prefix(path: Any) -> bool:
    # An ObjectStoragePath asks its store; a listing that fails is reported by resolve, naming the path.
    try:
        return bool(path.is_dir())
    except Exception:  # noqa: BLE001 - resolve names the path and the connection when it fails
        return False
