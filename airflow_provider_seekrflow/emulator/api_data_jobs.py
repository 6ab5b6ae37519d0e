"""The emulator's data-job routes: create, list, read, change, delete, attach and remove files, start, cancel, clone.

The lifecycle is ``data_jobs.py``'s; this module checks requests and shapes answers. A started
job's ``alignment_job`` is shown exactly as ``GET /v1/flow/alignment/{id}`` shows it (request
echo and ``legacy_job_shape`` per config). Where the reference gives no status code (start of a
job that is not ready, cancel before start, files changed after start) the answer is 409; a
delete answers 200 ``{"id", "object": "data_job", "deleted": true}`` (the client ignores the body).
"""

from __future__ import annotations

from typing import Any, Literal

from fastapi import FastAPI, Query, Request
from fastapi.responses import JSONResponse, Response
from pydantic import BaseModel, ConfigDict, Field

from airflow_provider_seekrflow.client import data_jobs
from airflow_provider_seekrflow.defaults import DEFAULT_INGESTION_METHOD
from airflow_provider_seekrflow.emulator.api_alignment import SOURCE_PURPOSE, job_settings, shown_job
from airflow_provider_seekrflow.emulator.data_jobs import (
    EDITABLE_FIELDS,
    MAX_NAME_LENGTH,
    draft_system_prompt,
)
from airflow_provider_seekrflow.emulator.refusals import (
    DATA_JOB,
    found,
    invalid,
    not_found,
    unusable_files,
    value_error,
)
from airflow_provider_seekrflow.emulator.routes import route
from airflow_provider_seekrflow.emulator.state import EmulatorState
from airflow_provider_seekrflow.vocabulary import DataJobType

__all__ = ["add_data_job_routes"]


def _name(default: Any = ...) -> Any:
    """A ``name`` field of 1 to 255 characters (required unless given a default)."""
    return Field(default, min_length=1, max_length=MAX_NAME_LENGTH)


class CreateRequest(BaseModel):
    model_config = ConfigDict(extra="allow")

    name: str = _name()
    job_type: DataJobType
    system_prompt: str | None = Field(None, min_length=1)
    instructions: str | None = Field(None, min_length=1)
    vector_database_id: str | None = None
    description: str | None = None


class UpdateRequest(BaseModel):
    model_config = ConfigDict(extra="allow")

    name: str | None = _name(None)
    description: str | None = None
    system_prompt: str | None = None
    instructions: str | None = None
    vector_database_id: str | None = None


class AddFilesRequest(BaseModel):
    model_config = ConfigDict(extra="allow")

    file_ids: list[str] = Field(min_length=1)
    method: str = DEFAULT_INGESTION_METHOD


class RemoveFilesRequest(BaseModel):
    model_config = ConfigDict(extra="allow")

    file_ids: list[str] = Field(min_length=1)


class CloneRequest(BaseModel):
    model_config = ConfigDict(extra="allow")

    name: str | None = _name(None)


class PromptRequest(BaseModel):
    model_config = ConfigDict(extra="allow")

    instructions: str
    document_summary: str | None = None


def _blank(field: str, value: str | None) -> list[dict[str, Any]]:
    """The 422 item for a text field sent blank (only spaces), or none."""
    if value is not None and not value.strip():
        return [value_error(("body", field), f"{field} must not be blank", value)]
    return []


def _unique(ids: list[str]) -> list[str]:
    return list(dict.fromkeys(ids))


def add_data_job_routes(api: FastAPI, state: EmulatorState) -> None:
    """Register the ``/v1/flow/data-jobs`` routes on ``api``, serving ``state``'s data jobs."""
    service, store = state.data_jobs, state.store

    def answer(detail: dict[str, Any] | None, data_job_id: str) -> Response:
        """Return the answer showing a job in full; raise the 404 for ``data_job_id`` when there is none."""
        detail = found(detail, DATA_JOB, data_job_id)
        if detail.get("alignment_job") is not None:
            detail = {**detail, "alignment_job": shown_job(detail["alignment_job"], state.config)}
        return JSONResponse(detail)

    def ingest_settings() -> dict[str, Any]:
        config = state.config
        return {"seconds": config["ingestion_seconds"], "fail_names": list(config["ingestion_fail"])}

    def existing(data_job_id: str) -> dict[str, Any]:
        """Return the stored job, or raise its 404 (checked before the files a request names)."""
        return found(service.records.get(data_job_id), DATA_JOB, data_job_id)

    @route(api, data_jobs.CREATE_DATA_JOB)
    async def submit_data_job(request: Request, body: CreateRequest) -> Response:
        errors = _blank("name", body.name)
        for field in ("system_prompt", "instructions"):
            errors += _blank(field, getattr(body, field))
        if errors:
            raise invalid(*errors)
        fields = {**body.model_dump(include={*EDITABLE_FIELDS}), "job_type": body.job_type.value}
        return answer(service.create(fields, team_id=request.headers.get("x-team-id")), "")

    @route(api, data_jobs.LIST_DATA_JOBS)
    async def list_data_jobs(
        job_type: DataJobType | None = None,
        sort_by: Literal["name", "created_at", "job_type"] = "created_at",
        sort_order: Literal["asc", "desc"] = "desc",
        limit: int = Query(25, ge=1, le=100),
        offset: int = Query(0, ge=0),
    ) -> Response:
        page = service.list_jobs(
            job_type=None if job_type is None else job_type.value,
            sort_by=sort_by,
            descending=sort_order == "desc",
            limit=limit,
            offset=offset,
        )
        return JSONResponse({"object": "list", "data": page})

    @route(api, data_jobs.GENERATE_SYSTEM_PROMPT)
    async def generate_data_job_system_prompt(body: PromptRequest) -> Response:
        errors = _blank("instructions", body.instructions)
        if errors:
            raise invalid(*errors)
        return JSONResponse({"system_prompt": draft_system_prompt(body.instructions, body.document_summary)})

    @route(api, data_jobs.GET_DATA_JOB)
    async def get_data_job(data_job_id: str) -> Response:
        return answer(service.get(data_job_id), data_job_id)

    @route(api, data_jobs.UPDATE_DATA_JOB)
    async def update_data_job(data_job_id: str, body: UpdateRequest) -> Response:
        changes = {key: getattr(body, key) for key in EDITABLE_FIELDS if key in body.model_fields_set}
        errors = _blank("name", body.name)
        if "name" in changes and changes["name"] is None:
            errors.append(value_error(("body", "name"), "name cannot be cleared", None))
        if errors:
            raise invalid(*errors)
        existing(data_job_id)
        if not changes:
            return answer(service.get(data_job_id), data_job_id)
        return answer(service.update(data_job_id, changes), data_job_id)

    @route(api, data_jobs.DELETE_DATA_JOB)
    async def delete_data_job(data_job_id: str) -> Response:
        if not service.delete(data_job_id):
            raise not_found(DATA_JOB, data_job_id)
        return JSONResponse({"id": data_job_id, "object": "data_job", "deleted": True})

    @route(api, data_jobs.ADD_FILES)
    async def add_files_to_data_job(data_job_id: str, body: AddFilesRequest) -> Response:
        job = existing(data_job_id)
        file_ids = _unique(body.file_ids)
        if job["job_type"] == DataJobType.CONTEXT_GROUNDED_VECTOR_DB.value:
            reason = "a context_grounded_vector_db job reads its vector database and takes no files"
            raise invalid(value_error(("body", "file_ids"), reason, body.file_ids))
        errors = unusable_files(
            ("body", "file_ids"), body.file_ids, store.get_file, (SOURCE_PURPOSE,), "a data job"
        )
        if errors:
            raise invalid(*errors)
        files = [store.get_file(file_id) or {} for file_id in file_ids]
        detail = service.add_files(data_job_id, files, method=body.method, **ingest_settings())
        return answer(detail, data_job_id)

    @route(api, data_jobs.REMOVE_FILES)
    async def remove_files_from_data_job(data_job_id: str, body: RemoveFilesRequest) -> Response:
        attached = existing(data_job_id)["_files"]
        errors = [
            value_error(
                ("body", "file_ids", index),
                f"file {file_id} is not attached to data job {data_job_id}",
                file_id,
            )
            for index, file_id in enumerate(body.file_ids)
            if file_id not in attached
        ]
        if errors:
            raise invalid(*errors)
        return answer(service.remove_files(data_job_id, _unique(body.file_ids)), data_job_id)

    @route(api, data_jobs.START_DATA_JOB)
    async def start_data_job(data_job_id: str) -> Response:
        return answer(service.start(data_job_id, **job_settings(state.config)), data_job_id)

    @route(api, data_jobs.CANCEL_DATA_JOB)
    async def cancel_data_job(data_job_id: str) -> Response:
        return answer(service.cancel(data_job_id), data_job_id)

    @route(api, data_jobs.CLONE_DATA_JOB)
    async def clone_data_job(
        request: Request, data_job_id: str, body: CloneRequest | None = None
    ) -> Response:
        name = None if body is None else body.name
        errors = _blank("name", name)
        if errors:
            raise invalid(*errors)
        clone = service.clone(
            data_job_id,
            name,
            team_id=request.headers.get("x-team-id"),
            method=DEFAULT_INGESTION_METHOD,
            **ingest_settings(),
        )
        return answer(clone, data_job_id)
