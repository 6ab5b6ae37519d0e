"""Register the emulator's vector database routes: databases, ingestion jobs and files (``/v1/flow/vectordb``).

Bodies are the contract's: ``VectorDatabaseCreate`` (non-blank ``name`` and ``model``, else 422) and
``VectorDatabaseIngestionRequest`` (``file_ids`` at least one, each once, each an uploaded file of
purpose ``alignment``, else 422 naming the field; ``token_count`` at least 1, ``overlap_tokens``
from 0 to less than it). Lists are ``{"object": "list", "data": [...]}``; deletes answer 204 with no
body; an unknown database, job or file is a 404.
"""

from __future__ import annotations

from typing import Any

from fastapi import FastAPI
from fastapi.responses import JSONResponse, Response
from pydantic import BaseModel, ConfigDict, Field

from airflow_provider_seekrflow.client import vector_databases as endpoints
from airflow_provider_seekrflow.emulator.refusals import (
    FILE,
    INGESTION_JOB,
    VECTOR_DATABASE,
    found,
    invalid,
    not_found,
    unusable_files,
    value_error,
)
from airflow_provider_seekrflow.emulator.routes import route
from airflow_provider_seekrflow.emulator.state import EmulatorState
from airflow_provider_seekrflow.vocabulary import FilePurpose

__all__ = ["add_vector_database_routes"]

# What documents a database ingests: uploads of purpose ``alignment`` (API.md I.2).
SOURCE_PURPOSE = FilePurpose.ALIGNMENT.value


class VectorDatabaseCreate(BaseModel):
    model_config = ConfigDict(extra="allow", protected_namespaces=())

    name: str = Field(min_length=1)
    model: str = Field(min_length=1)
    description: str | None = None


class VectorDatabaseIngestionRequest(BaseModel):
    model_config = ConfigDict(extra="allow")

    file_ids: list[str] = Field(min_length=1)
    method: str | None = endpoints.DEFAULT_METHOD
    chunking_method: str | None = endpoints.DEFAULT_CHUNKING_METHOD
    token_count: int = Field(endpoints.DEFAULT_TOKEN_COUNT, ge=1)
    overlap_tokens: int = Field(endpoints.DEFAULT_OVERLAP_TOKENS, ge=0)
    metadata: dict[str, Any] | None = None


def _listing(data: list[dict[str, Any]]) -> JSONResponse:
    return JSONResponse({"object": "list", "data": data})


def add_vector_database_routes(api: FastAPI, state: EmulatorState) -> None:
    """Register the ``/v1/flow/vectordb`` routes on ``api``, serving ``state``'s vector databases."""
    service = state.vector_databases
    store = state.store

    def check_create(body: VectorDatabaseCreate) -> None:
        for field in ("name", "model"):
            if not getattr(body, field).strip():
                raise invalid(
                    value_error(("body", field), f"{field} must not be blank", getattr(body, field))
                )

    def check_ingestion(body: VectorDatabaseIngestionRequest) -> None:
        errors = unusable_files(
            ("body", "file_ids"), body.file_ids, store.get_file, (SOURCE_PURPOSE,), "a vector database"
        )
        seen: set[str] = set()
        for index, file_id in enumerate(body.file_ids):
            if file_id in seen:
                errors.append(
                    value_error(("body", "file_ids", index), f"file {file_id} is listed twice", file_id)
                )
            seen.add(file_id)
        if body.overlap_tokens >= body.token_count:
            reason = f"overlap_tokens must be less than token_count ({body.token_count})"
            errors.append(value_error(("body", "overlap_tokens"), reason, body.overlap_tokens))
        if errors:
            raise invalid(*errors)

    @route(api, endpoints.CREATE_VECTOR_DATABASE)
    async def create_vector_database(body: VectorDatabaseCreate) -> Response:
        check_create(body)
        return JSONResponse(service.create(body.model_dump(mode="json")))

    @route(api, endpoints.LIST_VECTOR_DATABASES)
    async def list_vector_databases() -> Response:
        return _listing(service.list_databases())

    @route(api, endpoints.GET_VECTOR_DATABASE)
    async def get_vector_database(database_id: str) -> Response:
        return JSONResponse(found(service.get(database_id), VECTOR_DATABASE, database_id))

    @route(api, endpoints.DELETE_VECTOR_DATABASE)
    async def delete_vector_database(database_id: str) -> Response:
        if not service.delete(database_id):
            raise not_found(VECTOR_DATABASE, database_id)
        return Response(status_code=204)

    @route(api, endpoints.CREATE_INGESTION)
    async def create_vector_database_ingestion(
        database_id: str, body: VectorDatabaseIngestionRequest
    ) -> Response:
        found(service.get(database_id), VECTOR_DATABASE, database_id)
        check_ingestion(body)
        uploads = [store.get_file(file_id) or {} for file_id in body.file_ids]
        job = service.start_ingestion(
            database_id,
            body.model_dump(mode="json"),
            uploads,
            seconds=state.config["vector_ingestion_seconds"],
            fail_names=state.config["vector_ingestion_fail"],
        )
        return JSONResponse(found(job, VECTOR_DATABASE, database_id))

    @route(api, endpoints.LIST_INGESTIONS)
    async def list_vector_database_ingestions(database_id: str) -> Response:
        found(service.get(database_id), VECTOR_DATABASE, database_id)
        return _listing(service.list_ingestions(database_id))

    @route(api, endpoints.GET_INGESTION)
    async def get_vector_database_ingestion(database_id: str, job_id: str) -> Response:
        found(service.get(database_id), VECTOR_DATABASE, database_id)
        return JSONResponse(found(service.get_ingestion(database_id, job_id), INGESTION_JOB, job_id))

    @route(api, endpoints.LIST_FILES)
    async def list_vector_database_files(database_id: str) -> Response:
        return _listing(found(service.list_files(database_id), VECTOR_DATABASE, database_id))

    @route(api, endpoints.DELETE_FILE)
    async def delete_vector_database_file(database_id: str, file_id: str) -> Response:
        removed = found(service.delete_file(database_id, file_id), VECTOR_DATABASE, database_id)
        if not removed:
            raise not_found(FILE, file_id)
        return Response(status_code=204)
