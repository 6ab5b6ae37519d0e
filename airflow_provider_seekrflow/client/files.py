"""SeekrFlow files: their endpoints, models and calls, and how to find a file whose upload answer was lost."""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import PurePosixPath

from pydantic import Field

from airflow_provider_seekrflow.client.endpoints import Call, Endpoint
from airflow_provider_seekrflow.client.lost_answers import Snapshot, adopt
from airflow_provider_seekrflow.client.service_model import (
    OptionalDatetime,
    OptionalInt,
    ServiceModel,
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
    listed: Iterable[SeekrFlowFile],
    filename: str,
    size: int,
    snapshot: Snapshot,
    *,
    exclude: Iterable[str] = (),
) -> SeekrFlowFile | None:
    """
    Return the file an upload whose answer was lost stored: the one new file of this name and size.

    :param listed: Stored files of the upload's purpose, listed after the answer was lost.
    :param filename: The name the upload stored the file under.
    :param size: The file's size in bytes.
    :param snapshot: The files listed before the upload was sent.
    :param exclude: Ids the task already holds (files stored earlier in its batch).
    :raises SeekrFlowAmbiguousResultError: More than one new file may be it.
    """

    def matches(stored: SeekrFlowFile) -> bool | None:
        if stored.deleted:
            return False
        if stored.filename is None or stored.bytes is None:
            return None  # cannot be told apart from this upload
        return stored.filename == filename and stored.bytes == size

    return adopt(listed, snapshot, matches, what=f"upload of {filename}", exclude=exclude).found


def local_name(name: str | None, fallback: str) -> str:
    """Return a service-given file name fit to join to a local folder: no directories, no dot names."""
    base = PurePosixPath((name or "").replace("\\", "/")).name
    return base if base not in ("", ".", "..") else fallback
