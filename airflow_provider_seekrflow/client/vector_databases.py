"""
SeekrFlow vector databases and their ingestion jobs: endpoints, models, calls, request checks, lost-answer search.

A vector database holds the chunks of uploaded documents (``PUT /v1/flow/files``, purpose
``alignment``); an *ingestion job* chunks and embeds a list of those files into it. The contract
(``openapi.yaml``, API.md section I) does not say which id ``GET .../files`` lists a file under; this
provider assumes it is the uploaded file's id, so ``DELETE .../files/{file_id}`` takes the id the
upload returned (and an ingestion job's ``file_ids``).

An ingestion job is only addressed through its database (``/v1/flow/vectordb/{id}/ingestion/{job}``),
so where the provider needs one string for it (a job kind's id: the task state store, XCom, the
trigger), it uses the *reference* ``<vector_database_id>/<ingestion job id>`` (:func:`ingestion_ref`).
The ``/`` is never in an id, so a reference can never be sent as one.
"""

from __future__ import annotations

import ast
import math
from collections.abc import Iterable, Mapping
from typing import Any

from pydantic import Field

from airflow_provider_seekrflow.client.endpoints import Call, Endpoint, check_id
from airflow_provider_seekrflow.client.lost_answers import Snapshot, adopt
from airflow_provider_seekrflow.client.service_model import (
    OptionalDatetime,
    OptionalInt,
    OptionalText,
    ServiceModel,
    as_utc,
    config_error,
)
from airflow_provider_seekrflow.vocabulary import INGESTION_REF_SEPARATOR, VectorIngestionStatus

_DB = "/v1/flow/vectordb/{database_id}"
LIST_VECTOR_DATABASES = Endpoint("list_vector_databases", "GET", "/v1/flow/vectordb", repeatable=True)
CREATE_VECTOR_DATABASE = Endpoint("create_vector_database", "POST", "/v1/flow/vectordb", repeatable=False)
GET_VECTOR_DATABASE = Endpoint("get_vector_database", "GET", _DB, repeatable=True)
# Deleting twice answers 404 the second time: harmless, so a lost answer may be repeated.
DELETE_VECTOR_DATABASE = Endpoint("delete_vector_database", "DELETE", _DB, repeatable=True)
LIST_INGESTIONS = Endpoint("list_vector_database_ingestions", "GET", f"{_DB}/ingestion", repeatable=True)
CREATE_INGESTION = Endpoint("create_vector_database_ingestion", "POST", f"{_DB}/ingestion", repeatable=False)
GET_INGESTION = Endpoint(
    "get_vector_database_ingestion", "GET", f"{_DB}/ingestion/{{job_id}}", repeatable=True
)
LIST_FILES = Endpoint("list_vector_database_files", "GET", f"{_DB}/files", repeatable=True)
DELETE_FILE = Endpoint("delete_vector_database_file", "DELETE", f"{_DB}/files/{{file_id}}", repeatable=True)
ENDPOINTS = (
    LIST_VECTOR_DATABASES,
    CREATE_VECTOR_DATABASE,
    GET_VECTOR_DATABASE,
    DELETE_VECTOR_DATABASE,
    LIST_INGESTIONS,
    CREATE_INGESTION,
    GET_INGESTION,
    LIST_FILES,
    DELETE_FILE,
)

# The contract's defaults for an ingestion request (VectorDatabaseIngestionRequest).
DEFAULT_METHOD = "accuracy-optimized"
DEFAULT_CHUNKING_METHOD = "markdown"
DEFAULT_TOKEN_COUNT = 800
DEFAULT_OVERLAP_TOKENS = 100


class VectorDatabase(ServiceModel):
    """A vector database: its embedding ``model`` and ``dimension``, and how many files it holds."""

    id: str | None = None
    name: OptionalText = None
    model: OptionalText = None
    dimension: OptionalInt = None
    description: OptionalText = None
    created_at: OptionalDatetime = None
    updated_at: OptionalDatetime = None
    file_count: OptionalInt = None
    size_in_bytes: OptionalInt = None


class VectorDatabaseList(ServiceModel):
    """Every vector database of the caller (the contract has no paging for it)."""

    data: list[VectorDatabase] | None = Field(default_factory=list)


class VectorDatabaseIngestion(ServiceModel):
    """An ingestion job: ``file_ids`` chunked and embedded into ``vector_database_id``; ``status`` is a free string."""

    id: str | None = None
    vector_database_id: str | None = None
    status: str = "unknown"
    created_at: OptionalDatetime = None
    updated_at: OptionalDatetime = None
    error_message: OptionalText = None
    file_ids: list[str] | None = None
    metaflow_run_id: OptionalText = None

    @property
    def ref(self) -> str:
        """Return the job's reference ``<vector_database_id>/<id>`` (what the ingestion kind calls its id)."""
        return ingestion_ref(str(self.vector_database_id), str(self.id))

    @property
    def is_terminal(self) -> bool:
        """Whether it ended: ``completed`` or ``failed``; any other status, unknown ones too, is still going."""
        return self.status in VectorIngestionStatus.terminal_states()

    @property
    def succeeded(self) -> bool:
        """Whether it completed."""
        return self.status == VectorIngestionStatus.COMPLETED.value


class VectorDatabaseIngestionList(ServiceModel):
    """The ingestion jobs of one vector database."""

    data: list[VectorDatabaseIngestion] | None = Field(default_factory=list)


class VectorDatabaseFile(ServiceModel):
    """A file in a vector database (``id`` is the uploaded file's id), with its ingestion ``status`` and ``error_message``."""

    id: str | None = None
    vector_database_id: str | None = None
    filename: OptionalText = None
    created_at: OptionalDatetime = None
    status: str = "unknown"
    error_message: OptionalText = None
    metadata: dict[str, Any] | None = None


class VectorDatabaseFileList(ServiceModel):
    """The files of one vector database."""

    data: list[VectorDatabaseFile] | None = Field(default_factory=list)


# -- references -----------------------------------------------------------------------------------


def ingestion_ref(vector_database_id: str, job_id: str) -> str:
    """
    Return the reference ``<vector_database_id>/<job_id>`` of an ingestion job, both ids checked.

    :param vector_database_id: The database.
    :param job_id: The ingestion job's id in it.
    """
    check_id("vector_database_id", vector_database_id)
    check_id("job_id", job_id)
    return f"{vector_database_id}{INGESTION_REF_SEPARATOR}{job_id}"


def split_ingestion_ref(ref: Any) -> tuple[str, str]:
    """
    Return ``(vector_database_id, job_id)`` of an ingestion reference; anything else raises ``SeekrFlowConfigError``.

    :param ref: A reference made by :func:`ingestion_ref`.
    """
    parts = ref.split(INGESTION_REF_SEPARATOR) if isinstance(ref, str) else []
    if len(parts) != 2:
        raise config_error(
            f"ingestion job {ref!r} is not '<vector_database_id>{INGESTION_REF_SEPARATOR}<job_id>'; nothing was sent"
        )
    return check_id("vector_database_id", parts[0]), check_id("job_id", parts[1])


def checked_vector_database_id(value: Any) -> str:
    """Return a database id given as text or as the create operator's result (``{"id": ...}``); refuse others."""
    if isinstance(value, Mapping):
        value = value.get("id") or value.get("vector_database_id")
    if isinstance(value, str):
        value = value.strip()
    return check_id("vector_database_id", value)


# -- requests -------------------------------------------------------------------------------------


def _text(field: str, value: Any) -> str:
    if not isinstance(value, str) or not value.strip():
        raise config_error(f"{field}: must be non-blank text, got {value!r}")
    return value


def create_request(*, name: str, model: str, description: str | None = None) -> dict[str, Any]:
    """
    Return a checked create body (``VectorDatabaseCreate``).

    :param name: The database's name; names are not keys (the service takes two of one name).
    :param model: The embedding model.
    :param description: What it holds.
    """
    body: dict[str, Any] = {"name": _text("name", name), "model": _text("model", model)}
    if description is not None:
        body["description"] = _text("description", description)
    return body


def _whole(field: str, value: Any, least: int) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < least:
        raise config_error(f"{field}: must be a whole number of at least {least}, got {value!r}")
    return value


def _flat_metadata(metadata: Any) -> dict[str, Any] | None:
    """Return ``metadata`` if it is flat JSON (text keys; text, number, true/false or null values)."""
    if metadata is None:
        return None
    if not isinstance(metadata, Mapping):
        raise config_error(
            f"metadata: must be a flat mapping attached to every chunk, got {type(metadata).__name__}"
        )
    for key, value in metadata.items():
        if not isinstance(key, str) or not key:
            raise config_error(f"metadata: keys must be non-empty text, got {key!r}")
        if value is not None and not isinstance(value, (str, int, float, bool)):
            raise config_error(
                f"metadata[{key!r}]: must be text, a number, true/false or null (the metadata is flat), "
                f"got {type(value).__name__}"
            )
        if isinstance(value, float) and not math.isfinite(value):
            raise config_error(f"metadata[{key!r}]: must be a finite number, got {value!r}")
    return dict(metadata)


def checked_file_ids(file_ids: Any) -> list[str]:
    """
    Return ``file_ids`` (a list of uploaded file ids, or one id) as a non-empty list without repeats.

    A list rendered as text by a template (``"['file-1', 'file-2']"``, what a string template makes of
    the upload operator's XCom) is read back as the list.
    """
    if isinstance(file_ids, str) and file_ids.strip().startswith("["):
        try:
            file_ids = ast.literal_eval(file_ids.strip())
        except (ValueError, SyntaxError):
            raise config_error(f"file_ids: {file_ids!r} is neither a file id nor a list of them") from None
    if isinstance(file_ids, str):
        file_ids = [file_ids]
    if not isinstance(file_ids, (list, tuple)) or not file_ids:
        raise config_error(f"file_ids: must list at least one uploaded file id, got {file_ids!r}")
    checked = [check_id(f"file_ids[{index}]", file_id) for index, file_id in enumerate(file_ids)]
    repeated = sorted({file_id for file_id in checked if checked.count(file_id) > 1})
    if repeated:
        raise config_error(f"file_ids: each file once, but {', '.join(repeated)} is given more than once")
    return checked


def ingestion_request(
    *,
    file_ids: Any,
    method: str = DEFAULT_METHOD,
    chunking_method: str = DEFAULT_CHUNKING_METHOD,
    token_count: int = DEFAULT_TOKEN_COUNT,
    overlap_tokens: int = DEFAULT_OVERLAP_TOKENS,
    metadata: Mapping[str, Any] | None = None,
) -> dict[str, Any]:
    """
    Return a checked ingestion body (``VectorDatabaseIngestionRequest``), refusing locally, by field, what cannot work.

    :param file_ids: The uploaded files (purpose ``alignment``) to ingest: at least one, each once.
    :param method: The ingestion method (the contract names only ``accuracy-optimized``).
    :param chunking_method: How documents are cut into chunks (``markdown`` by default).
    :param token_count: Tokens per chunk, at least 1.
    :param overlap_tokens: Tokens two neighbouring chunks share, from 0 to less than ``token_count``.
    :param metadata: Flat JSON attached to every chunk of this job.
    """
    body: dict[str, Any] = {
        "file_ids": checked_file_ids(file_ids),
        "method": _text("method", method),
        "chunking_method": _text("chunking_method", chunking_method),
        "token_count": _whole("token_count", token_count, 1),
        "overlap_tokens": _whole("overlap_tokens", overlap_tokens, 0),
    }
    if body["overlap_tokens"] >= body["token_count"]:
        raise config_error(
            f"overlap_tokens: must be less than token_count ({token_count}), got {overlap_tokens!r}"
        )
    flat = _flat_metadata(metadata)
    if flat is not None:
        body["metadata"] = flat
    return body


# -- calls ----------------------------------------------------------------------------------------


def list_vector_databases() -> Call[VectorDatabaseList]:
    """Return the call listing every vector database."""
    return Call(LIST_VECTOR_DATABASES, VectorDatabaseList)


def create(body: dict[str, Any]) -> Call[VectorDatabase]:
    """Return the call creating a vector database from a :func:`create_request` body."""
    return Call(CREATE_VECTOR_DATABASE, VectorDatabase, json=body)


def get(vector_database_id: str) -> Call[VectorDatabase]:
    """Return the call reading a vector database."""
    return Call(GET_VECTOR_DATABASE, VectorDatabase, ids={"database_id": vector_database_id})


def delete(vector_database_id: str) -> Call[None]:
    """Return the call deleting a vector database (204, no body)."""
    return Call(DELETE_VECTOR_DATABASE, None, ids={"database_id": vector_database_id})


def list_ingestions(vector_database_id: str) -> Call[VectorDatabaseIngestionList]:
    """Return the call listing a database's ingestion jobs."""
    return Call(LIST_INGESTIONS, VectorDatabaseIngestionList, ids={"database_id": vector_database_id})


def start_ingestion(vector_database_id: str, body: dict[str, Any]) -> Call[VectorDatabaseIngestion]:
    """Return the call starting an ingestion job from an :func:`ingestion_request` body."""
    return Call(CREATE_INGESTION, VectorDatabaseIngestion, ids={"database_id": vector_database_id}, json=body)


def get_ingestion(vector_database_id: str, job_id: str) -> Call[VectorDatabaseIngestion]:
    """Return the call reading an ingestion job."""
    return Call(
        GET_INGESTION, VectorDatabaseIngestion, ids={"database_id": vector_database_id, "job_id": job_id}
    )


def list_files(vector_database_id: str) -> Call[VectorDatabaseFileList]:
    """Return the call listing a database's files, each with its ingestion status and ``error_message``."""
    return Call(LIST_FILES, VectorDatabaseFileList, ids={"database_id": vector_database_id})


def delete_file(vector_database_id: str, file_id: str) -> Call[None]:
    """Return the call removing a file (the uploaded file's id) and its chunks from a database (204, no body)."""
    return Call(DELETE_FILE, None, ids={"database_id": vector_database_id, "file_id": file_id})


# -- finding what a lost answer made --------------------------------------------------------------


def find_existing(listed: Iterable[VectorDatabase], name: str, model: str) -> list[VectorDatabase]:
    """
    Return the databases of this name and embedding model, oldest first (so every task picks the same one).

    :param listed: The service's databases.
    :param name: The name asked for.
    :param model: The embedding model asked for.
    """
    found = [db for db in listed if db.id and db.name == name and db.model == model]
    return sorted(
        found,
        key=lambda db: (as_utc(db.created_at).timestamp() if db.created_at else float("inf"), str(db.id)),
    )


def find_lost_database(
    listed: Iterable[VectorDatabase], body: dict[str, Any], snapshot: Snapshot
) -> VectorDatabase | None:
    """
    Return the database a create whose answer was lost made: the one NEW database of that name and model.

    :param listed: The databases, listed after the answer was lost.
    :param body: The create request that was sent.
    :param snapshot: The databases listed before it was sent (one listed then is never adopted).
    :raises SeekrFlowAmbiguousResultError: More than one new database may be it.
    """
    return adopt(
        listed,
        snapshot,
        lambda db: (
            None
            if db.name is None or db.model is None
            else (db.name, db.model) == (body["name"], body["model"])
        ),
        what=f"vector database create ({body['name']}, {body['model']})",
    ).found


def find_lost_ingestion(
    listed: Iterable[VectorDatabaseIngestion], body: dict[str, Any], snapshot: Snapshot
) -> VectorDatabaseIngestion | None:
    """
    Return the ingestion job a start whose answer was lost made: the one NEW job of exactly these ``file_ids``.

    :param listed: The database's ingestion jobs, listed after the answer was lost.
    :param body: The ingestion request that was sent.
    :param snapshot: The database's jobs listed before it was sent.
    :raises SeekrFlowAmbiguousResultError: More than one new job may be it.
    """
    wanted = sorted(body["file_ids"])
    return adopt(
        listed,
        snapshot,
        lambda job: None if job.file_ids is None else sorted(job.file_ids) == wanted,
        what=f"ingestion start ({len(wanted)} file(s))",
    ).found
