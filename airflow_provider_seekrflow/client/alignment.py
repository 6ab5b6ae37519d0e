"""SeekrFlow alignment jobs (training-pair generation): endpoints, models, calls, request checks, lost-answer search."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any

from pydantic import Field

from airflow_provider_seekrflow.client.endpoints import Call, Endpoint
from airflow_provider_seekrflow.client.file_ids import checked_file_ids
from airflow_provider_seekrflow.client.lost_answers import Snapshot, adopt, matches_echoed_fields
from airflow_provider_seekrflow.client.service_model import (
    NumberOrText,
    OptionalDatetime,
    OptionalInt,
    OptionalMinutes,
    ServiceModel,
    config_error,
    percent,
)
from airflow_provider_seekrflow.defaults import check_alignment_type
from airflow_provider_seekrflow.vocabulary import AlignmentJobStatus, AlignmentType, FilePurpose

GENERATE_ALIGNMENT = Endpoint("alignment_generate", "POST", "/v1/flow/alignment/generate", repeatable=False)
LIST_ALIGNMENT_JOBS = Endpoint("list_alignment_jobs", "GET", "/v1/flow/alignment", repeatable=True)
GET_ALIGNMENT_JOB = Endpoint("get_alignment_job", "GET", "/v1/flow/alignment/{job_id}", repeatable=True)
DELETE_ALIGNMENT_JOB = Endpoint(
    "delete_alignment_job", "DELETE", "/v1/flow/alignment/{job_id}", repeatable=True
)
GET_ALIGNMENT_OUTPUTS = Endpoint(
    "get_alignment_outputs", "GET", "/v1/flow/alignment/{job_id}/outputs", repeatable=True
)
# Cancelling twice leaves the job cancelled, so a repeat is harmless.
CANCEL_ALIGNMENT_JOB = Endpoint(
    "cancel_alignment_job", "POST", "/v1/flow/alignment/{job_id}/cancel", repeatable=True
)
ENDPOINTS = (
    GENERATE_ALIGNMENT,
    LIST_ALIGNMENT_JOBS,
    GET_ALIGNMENT_JOB,
    DELETE_ALIGNMENT_JOB,
    GET_ALIGNMENT_OUTPUTS,
    CANCEL_ALIGNMENT_JOB,
)

# What a lost generate request is looked for by, when the service echoes it in its job objects.
_ECHOED_REQUEST_FIELDS = ("instructions", "files")


class AlignmentOutput(ServiceModel):
    """An output file of an alignment job."""

    id: str
    filename: str | None = None
    bytes: OptionalInt = None
    created_at: OptionalDatetime = None
    file_type: str | None = None
    purpose: str | None = None


class AlignmentJob(ServiceModel):
    """An alignment (training-pair generation) job."""

    id: str
    status: str
    created_at: OptionalDatetime = None
    updated_at: OptionalDatetime = None
    completed_at: OptionalDatetime = None
    current_step: str | None = None
    step_progress: NumberOrText = None
    progress: NumberOrText = None
    estimated_completion_at: OptionalDatetime = None
    eta_minutes: OptionalMinutes = None
    status_message: str | None = None
    output_files: list[AlignmentOutput] = Field(default_factory=list)

    @property
    def is_terminal(self) -> bool:
        """Whether the job has stopped moving; an unknown status counts as still moving."""
        return self.status in AlignmentJobStatus.terminal_states()

    @property
    def has_known_status(self) -> bool:
        """Whether the status is one this provider knows."""
        return self.status in AlignmentJobStatus.known_states()

    @property
    def succeeded(self) -> bool:
        """Whether the job completed; nothing else counts as success."""
        return self.status == AlignmentJobStatus.COMPLETED.value

    def describe(self) -> str:
        """Summarise status, step, progress and ETA on one line for the task log."""
        parts = [f"status={self.status}"]
        if self.current_step:
            parts.append(f"step={self.current_step!r}")
        progress = percent(self.progress)
        if progress is not None:
            parts.append(f"progress={progress:g}%")
        elif self.progress not in (None, ""):
            parts.append(f"progress={self.progress!r}")
        if self.eta_minutes is not None:
            parts.append(f"eta={self.eta_minutes:g} min")
        return ", ".join(parts)

    def progress_signature(self) -> tuple[Any, ...]:
        """Return what a change-only progress log compares between polls."""
        return (self.status, self.current_step, self.progress, self.eta_minutes)


class AlignmentJobList(ServiceModel):
    """A list of alignment jobs."""

    object: str = "list"
    data: list[AlignmentJob] = Field(default_factory=list)


def generate_request(
    instructions: str,
    files: Sequence[str] | str,
    *,
    alignment_type: str = AlignmentType.PRINCIPLE.value,
    system_prompt: str | None = None,
    vector_database_id: str | None = None,
) -> dict[str, Any]:
    """
    Return a checked ``alignment/generate`` body, refusing locally what the service would refuse.

    :param instructions: What the training pairs should teach; must not be blank.
    :param files: Ids of alignment source files.
    :param alignment_type: ``principle`` or ``context_data``.
    :param system_prompt: Optional system prompt.
    :param vector_database_id: Optional vector database id.
    """
    if not isinstance(instructions, str) or not instructions.strip():
        raise config_error("instructions: must not be blank")
    file_ids = checked_file_ids("files", files, required=True)
    check_alignment_type(alignment_type)
    body: dict[str, Any] = {"instructions": instructions, "files": file_ids, "type": alignment_type}
    if system_prompt:
        body["system_prompt"] = system_prompt
    if vector_database_id:
        body["vector_database_id"] = vector_database_id
    return body


def generate(body: dict[str, Any]) -> Call[AlignmentJob]:
    """Return the call starting an alignment job from a :func:`generate_request` body."""
    return Call(GENERATE_ALIGNMENT, AlignmentJob, json=body)


def list_jobs() -> Call[AlignmentJobList]:
    """Return the call listing alignment jobs."""
    return Call(LIST_ALIGNMENT_JOBS, AlignmentJobList)


def get_job(job_id: str) -> Call[AlignmentJob]:
    """Return the call reading an alignment job."""
    return Call(GET_ALIGNMENT_JOB, AlignmentJob, ids={"job_id": job_id})


def cancel_job(job_id: str) -> Call[AlignmentJob]:
    """Return the call cancelling an alignment job."""
    return Call(CANCEL_ALIGNMENT_JOB, AlignmentJob, ids={"job_id": job_id})


def delete_job(job_id: str) -> Call[None]:
    """Return the call deleting an alignment job (the service answers 204, no body)."""
    return Call(DELETE_ALIGNMENT_JOB, None, ids={"job_id": job_id})


def get_outputs(job_id: str) -> Call[list[AlignmentOutput]]:
    """Return the call listing an alignment job's output files."""
    return Call(GET_ALIGNMENT_OUTPUTS, list[AlignmentOutput], ids={"job_id": job_id})


def find_lost_job(
    jobs: Iterable[AlignmentJob], body: dict[str, Any], snapshot: Snapshot
) -> tuple[AlignmentJob | None, bool]:
    """
    Find the job a generate request whose answer was lost made.

    Return the one new job that matches the request and False; or None and True when the service
    made no new job that could be it, so sending it again is safe.

    :param jobs: The service's alignment jobs, listed after the answer was lost.
    :param body: The generate request that was sent.
    :param snapshot: The jobs listed before it was sent.
    :raises SeekrFlowAmbiguousResultError: More than one new job may be it, or a new job does not
        echo its request, so a second submission could duplicate the first.
    """
    verdict = adopt(
        jobs,
        snapshot,
        lambda job: matches_echoed_fields(job.model_dump(), body, required=_ECHOED_REQUEST_FIELDS),
        what="alignment generate",
    )
    return verdict.found, verdict.absent


def describe_outputs(outputs: Iterable[AlignmentOutput]) -> list[dict[str, Any]]:
    """Return output files as plain dicts fit for XCom."""
    return [
        {"id": output.id, "filename": output.filename, "purpose": output.purpose, "bytes": output.bytes}
        for output in outputs
    ]


def training_output_id(outputs: Iterable[AlignmentOutput]) -> str | None:
    """Return the id of the output meant for fine-tuning (purpose ``fine-tune``), if the job produced one."""
    for output in outputs:
        if output.purpose == FilePurpose.FINE_TUNE.value:
            return output.id
    return None
