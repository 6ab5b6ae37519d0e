"""Resolve a task's ``file_path`` into the :class:`~.source.Source` of every file it names, reading none."""

from __future__ import annotations

import os
from typing import Any

from airflow_provider_seekrflow.exceptions import SeekrFlowConfigError
from airflow_provider_seekrflow.sources.local import list_local
from airflow_provider_seekrflow.sources.remote import list_remote
from airflow_provider_seekrflow.sources.source import Source, as_list, is_object_storage


def resolve(
    file_path: Any, *, source_conn_id: str | None = None, field: str = "file_path"
) -> tuple[list[Source], bool]:
    """
    List every file ``file_path`` names, in order, reading none; and whether it named exactly one.

    :param file_path: A path, glob, URI or ``ObjectStoragePath``, or a list of them.
    :param source_conn_id: The connection for object-storage URIs that name none of their own.
    :param field: The task's parameter they came from, as errors name it.
    """
    specs, single = as_list(file_path, field)
    sources: list[Source] = []
    for index, spec in enumerate(specs):
        where = field if len(specs) == 1 else f"{field}[{index}]"
        if is_object_storage(spec):
            sources.extend(list_remote(spec, where, source_conn_id=source_conn_id))
        elif isinstance(spec, (str, os.PathLike)):
            sources.extend(list_local(os.fspath(spec), where))
        else:
            raise SeekrFlowConfigError(f"{where}: expected a path or URI, got {type(spec).__name__}")
    return sources, single and len(sources) == 1
