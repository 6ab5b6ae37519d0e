"""File ids in a request (a data job's files, generate's files, a fine-tune's training files), checked before it is sent."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from airflow_provider_seekrflow.client.service_model import config_error
from airflow_provider_seekrflow.vocabulary import ALIGNMENT_DOCUMENT_TYPES, TRAINING_FILE_TYPES

_FILE_SUFFIXES = tuple(f".{kind}" for kind in (*ALIGNMENT_DOCUMENT_TYPES, *TRAINING_FILE_TYPES))


def looks_like_a_path(value: str) -> bool:
    """Return whether a would-be file id reads as a local path: a folder separator, ``~``, or a file extension."""
    text = value.strip()
    return "/" in text or "\\" in text or text.startswith("~") or text.lower().endswith(_FILE_SUFFIXES)


def checked_file_ids(field: str, value: Sequence[str] | str | Any, *, required: bool) -> list[str]:
    """
    Return the file ids of a request field as a list, refusing what cannot be a file id.

    A local path (the most common slip: the upload's input instead of its output) is refused with
    a pointer to the upload operator, before any request.

    :param field: The parameter's name, for the message.
    :param value: One id or a list of ids.
    :param required: Whether at least one id is needed.
    """
    if isinstance(value, str):
        ids: list[Any] = [value]
    else:
        try:
            ids = list(value or [])
        except TypeError:
            raise config_error(
                f"{field}: expected a file id or a list of file ids, got {type(value).__name__}"
            ) from None
    if required and not ids:
        raise config_error(f"{field}: at least one file id is required")
    for index, file_id in enumerate(ids):
        if not isinstance(file_id, str) or not file_id.strip():
            raise config_error(f"{field}[{index}]: must be a non-empty file id, got {file_id!r}")
        if looks_like_a_path(file_id):
            raise config_error(
                f"{field}[{index}]: {file_id!r} is a local path, not a SeekrFlow file id: upload it "
                f"first with SeekrFlowUploadFileOperator and pass that task's output (the ids), e.g. "
                f"{field}=upload.output"
            )
    return ids
