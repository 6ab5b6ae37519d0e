"""SeekrFlow files: their endpoints, models and calls, and how to find a file whose upload answer was lost."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime
from pathlib import PurePosixPath

from pydantic import Field

from airflow_provider_seekrflow._client.endpoints import Call, Endpoint
from airflow_provider_seekrflow._client.service_model import (
    CLOCK_SKEW_ALLOWANCE,
    OptionalDatetime,
    OptionalInt,
    ServiceModel,
    as_utc,
)

UPLOAD_FILE = Endpoint("upload_file", "PUT", "/v1/flow/files", repeatable=False)
LIST_FILES = Endpoint("list_files", "GET", "/v1/flow/files", repeatable=True)
VALIDATE_FILE_METADATA = Endpoint(
    "validate_file_metadata", "POST", "/v1/flow/files/validate_metadata", repeatable=True
)
GET_FILE = Endpoint("get_file", "GET", "/v1/flow/files/{file_id}", repeatable=True)
DELETE_FILE = Endpoint("delete_file", "DELETE", "/v1/flow/files/{file_id}", repeatable=True)
GET_FILE_CONTENT = Endpoint("get_file_content", "GET", "/v1/flow/files/{file_id}/content", repeatable=True)
ENDPOINTS = (UPLOAD_FILE, LIST_FILES, VALIDATE_FILE_METADATA, GET_FILE, DELETE_FILE, GET_FILE_CONTENT)

# How many of the newest files of a purpose a lost upload is looked for among.
LOST_UPLOAD_SEARCH_DEPTH = 100


class SeekrFlowFile(ServiceModel):
    """A file stored on SeekrFlow."""

    id: str
    object: str = "file"
    created_at: OptionalDatetime = None
    type: str | None = None
    purpose: str | None = None
    filename: str | None = None
    bytes: OptionalInt = None
    created_by: str | None = None
    original_file_id: str | None = None
    deleted: bool | None = None


class SeekrFlowFileList(ServiceModel):
    """A page of files."""

    object: str = "list"
    data: list[SeekrFlowFile] = Field(default_factory=list)


class SeekrFlowFileDeleted(ServiceModel):
    """The answer to a file deletion."""

    id: str
    object: str = "file"
    deleted: bool


class FileMetadataValidation(ServiceModel):
    """The service's verdict on an alignment source file's type and size."""

    is_valid: bool
    errors: str | None = None


def list_files(
    *,
    purpose: str | None = None,
    limit: int | None = None,
    offset: int | None = None,
    sort_by: str | None = None,
    sort_order: str | None = None,
) -> Call[SeekrFlowFileList]:
    """Return the call listing stored files (see ``SeekrFlowHook.list_files``)."""
    params = {
        "purpose": purpose,
        "limit": limit,
        "offset": offset,
        "sort_by": sort_by,
        "sort_order": sort_order,
    }
    return Call(LIST_FILES, SeekrFlowFileList, params=params)


def get_file(file_id: str) -> Call[SeekrFlowFile]:
    """Return the call reading a stored file's metadata."""
    return Call(GET_FILE, SeekrFlowFile, ids={"file_id": file_id})


def delete_file(file_id: str) -> Call[SeekrFlowFileDeleted]:
    """Return the call deleting a stored file."""
    return Call(DELETE_FILE, SeekrFlowFileDeleted, ids={"file_id": file_id})


def validate_file_metadata(purpose: str, suffix: str, size: int) -> Call[FileMetadataValidation]:
    """Return the call asking whether the service accepts a file of this type and size for ``purpose``."""
    return Call(
        VALIDATE_FILE_METADATA,
        FileMetadataValidation,
        json={"purpose": purpose, "suffix": suffix, "size": size},
    )


def lost_upload_search(purpose: str) -> Call[SeekrFlowFileList]:
    """Return the call listing the newest files of ``purpose``, where a lost upload would be."""
    return list_files(
        purpose=purpose, sort_by="created_at", sort_order="desc", limit=LOST_UPLOAD_SEARCH_DEPTH
    )


def find_lost_upload(
    newest_first: Iterable[SeekrFlowFile], filename: str, size: int, *, since: datetime
) -> SeekrFlowFile | None:
    """
    Return the newest file of this name and size created since ``since``, if any.

    :param newest_first: Stored files of the upload's purpose, newest first.
    :param filename: The name the upload stored the file under.
    :param size: The file's size in bytes.
    :param since: When the upload started; a little clock skew is allowed for.
    """
    earliest = as_utc(since) - CLOCK_SKEW_ALLOWANCE
    for stored in newest_first:
        created = as_utc(stored.created_at) if stored.created_at is not None else None
        if created is not None and created < earliest:
            break
        if stored.filename == filename and stored.bytes == size and not stored.deleted:
            return stored
    return None


def local_name(name: str | None, fallback: str) -> str:
    """Return a service-given file name fit to join to a local folder: no directories, no dot names."""
    base = PurePosixPath((name or "").replace("\\", "/")).name
    return base if base not in ("", ".", "..") else fallback
