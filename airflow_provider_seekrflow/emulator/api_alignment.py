"""The emulator's alignment routes: start, list, read, cancel and delete jobs, and list their outputs."""

from __future__ import annotations

from typing import Any

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse, Response
from pydantic import BaseModel, ConfigDict

from airflow_provider_seekrflow.client import alignment
from airflow_provider_seekrflow.emulator.jobs import legacy_shape
from airflow_provider_seekrflow.emulator.refusals import (
    ALIGNMENT_JOB,
    found,
    invalid,
    not_found,
    unusable_files,
    value_error,
)
from airflow_provider_seekrflow.emulator.routes import route
from airflow_provider_seekrflow.emulator.state import EmulatorState
from airflow_provider_seekrflow.emulator.store import Store
from airflow_provider_seekrflow.vocabulary import AlignmentType, FilePurpose

__all__ = ["add_alignment_routes", "job_settings", "shown_job"]

# The request fields a job object repeats while the ``echo_request`` switch is on.
REQUEST_FIELDS = ("instructions", "files", "type", "system_prompt", "vector_database_id")
SOURCE_PURPOSE = FilePurpose.ALIGNMENT.value


class AlignmentRequest(BaseModel):
    model_config = ConfigDict(extra="allow")

    instructions: str
    files: list[str]
    type: AlignmentType = AlignmentType.PRINCIPLE
    system_prompt: str | None = None
    vector_database_id: str | None = None


def request_errors(body: AlignmentRequest, store: Store) -> list[dict[str, Any]]:
    """Return the 422 items for what the service refuses in a well-formed generate request."""
    errors: list[dict[str, Any]] = []
    if not body.instructions.strip():
        errors.append(
            value_error(("body", "instructions"), "instructions must not be blank", body.instructions)
        )
    if not body.files:
        errors.append(value_error(("body", "files"), "files must list at least one file id", body.files))
    errors += unusable_files(("body", "files"), body.files, store.get_file, (SOURCE_PURPOSE,), "alignment")
    return errors


def shown_job(job: dict[str, Any], config: dict[str, Any]) -> dict[str, Any]:
    """Return an alignment job view as this server version shows it (request echo and legacy shape per config)."""
    if config["legacy_job_shape"]:
        job = legacy_shape(job)
    if config["echo_request"]:
        return job
    return {key: value for key, value in job.items() if key not in REQUEST_FIELDS}


def job_settings(config: dict[str, Any]) -> dict[str, Any]:
    """Return the ``JobService.create`` keywords a new alignment job takes from the config."""
    return {
        "duration": config["job_duration"],
        "outcome": config["job_outcome"],
        "status_message": config["status_message"],
        "eta": config["eta"],
    }


def add_alignment_routes(api: FastAPI, state: EmulatorState) -> None:
    """Register the ``/v1/flow/alignment`` routes on ``api``, serving ``state``'s jobs."""
    jobs = state.jobs

    def shown(job: dict[str, Any]) -> dict[str, Any]:
        return shown_job(job, state.config)

    def answer(job: dict[str, Any] | None, job_id: str) -> Response:
        """Return the answer showing ``job``; raise the 404 for ``job_id`` when there is none."""
        return JSONResponse(shown(found(job, ALIGNMENT_JOB, job_id)))

    @route(api, alignment.GENERATE_ALIGNMENT)
    async def alignment_generate(request: Request, body: AlignmentRequest) -> Response:
        errors = request_errors(body, state.store)
        if errors:
            raise invalid(*errors)
        job = jobs.create(
            {**body.model_dump(exclude_none=False), "type": body.type.value},
            team_id=request.headers.get("x-team-id"),
            **job_settings(state.config),
        )
        return JSONResponse(shown(job))

    @route(api, alignment.LIST_ALIGNMENT_JOBS)
    async def list_alignment_jobs() -> Response:
        return JSONResponse({"object": "list", "data": [shown(job) for job in jobs.list_jobs()]})

    @route(api, alignment.GET_ALIGNMENT_JOB)
    async def get_alignment_job(job_id: str) -> Response:
        return answer(jobs.get(job_id), job_id)

    @route(api, alignment.DELETE_ALIGNMENT_JOB)
    async def delete_alignment_job(job_id: str) -> Response:
        if not jobs.delete(job_id):
            raise not_found(ALIGNMENT_JOB, job_id)
        return Response(status_code=204)

    @route(api, alignment.GET_ALIGNMENT_OUTPUTS)
    async def get_alignment_outputs(job_id: str) -> Response:
        return JSONResponse(found(jobs.outputs(job_id), ALIGNMENT_JOB, job_id))

    @route(api, alignment.CANCEL_ALIGNMENT_JOB)
    async def cancel_alignment_job(job_id: str) -> Response:
        return answer(jobs.cancel(job_id), job_id)
