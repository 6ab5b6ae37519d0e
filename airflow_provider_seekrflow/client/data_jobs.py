"""SeekrFlow data jobs (ingestion, then alignment): endpoints, models, calls, request checks and readings of a job."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from pydantic import Field

from airflow_provider_seekrflow.client.alignment import AlignmentJob
from airflow_provider_seekrflow.client.endpoints import Call, Endpoint
from airflow_provider_seekrflow.client.lost_answers import Snapshot, adopt, matches_echoed_fields
from airflow_provider_seekrflow.client.service_model import (
    OptionalDatetime,
    OptionalInt,
    ServiceModel,
    config_error,
)
from airflow_provider_seekrflow.defaults import DEFAULT_INGESTION_METHOD
from airflow_provider_seekrflow.vocabulary import DataJobStatus, DataJobType

CREATE_DATA_JOB = Endpoint("submit_data_job", "POST", "/v1/flow/data-jobs", repeatable=False)
LIST_DATA_JOBS = Endpoint("list_data_jobs", "GET", "/v1/flow/data-jobs", repeatable=True)
GENERATE_SYSTEM_PROMPT = Endpoint(
    "generate_data_job_system_prompt", "POST", "/v1/flow/data-jobs/gen_system_prompt", repeatable=True
)
GET_DATA_JOB = Endpoint("get_data_job", "GET", "/v1/flow/data-jobs/{data_job_id}", repeatable=True)
# Only the keys sent change, so sending the same change twice is harmless.
UPDATE_DATA_JOB = Endpoint("update_data_job", "PATCH", "/v1/flow/data-jobs/{data_job_id}", repeatable=True)
DELETE_DATA_JOB = Endpoint("delete_data_job", "DELETE", "/v1/flow/data-jobs/{data_job_id}", repeatable=True)
# A repeat may attach (and ingest) the files twice: a lost answer is reconciled against the job's files.
ADD_FILES = Endpoint(
    "add_files_to_data_job", "POST", "/v1/flow/data-jobs/{data_job_id}/add-files", repeatable=False
)
REMOVE_FILES = Endpoint(
    "remove_files_from_data_job", "POST", "/v1/flow/data-jobs/{data_job_id}/remove-files", repeatable=True
)
# A repeat of a start that reached the service is refused or starts a second run: reconciled instead.
START_DATA_JOB = Endpoint(
    "start_data_job", "POST", "/v1/flow/data-jobs/{data_job_id}/start", repeatable=False
)
CANCEL_DATA_JOB = Endpoint(
    "cancel_data_job", "POST", "/v1/flow/data-jobs/{data_job_id}/cancel", repeatable=True
)
CLONE_DATA_JOB = Endpoint(
    "clone_data_job", "POST", "/v1/flow/data-jobs/{data_job_id}/clone", repeatable=False
)
ENDPOINTS = (
    CREATE_DATA_JOB,
    LIST_DATA_JOBS,
    GENERATE_SYSTEM_PROMPT,
    GET_DATA_JOB,
    UPDATE_DATA_JOB,
    DELETE_DATA_JOB,
    ADD_FILES,
    REMOVE_FILES,
    START_DATA_JOB,
    CANCEL_DATA_JOB,
    CLONE_DATA_JOB,
)
MAX_NAME_LENGTH = 255
# The most jobs one list call returns; a lost create is looked for among the newest.
LIST_LIMIT = 100


class DataJob(ServiceModel):
    """A data job, as created or listed."""

    id: str
    name: str | None = None
    job_type: str | None = None
    status: str = "unknown"
    status_message: str | None = None
    alignment_job_id: str | None = None
    system_prompt: str | None = None
    instructions: str | None = None
    vector_database_id: str | None = None
    created_at: OptionalDatetime = None
    updated_at: OptionalDatetime = None

    @property
    def is_terminal(self) -> bool:
        """Whether the job has stopped moving; an unknown status counts as still moving."""
        return self.status in DataJobStatus.terminal_states()

    @property
    def succeeded(self) -> bool:
        """Whether the job completed; nothing else counts as success."""
        return self.status == DataJobStatus.COMPLETED.value


class DataJobList(ServiceModel):
    """A page of data jobs."""

    data: list[DataJob] = Field(default_factory=list)


class IngestionRecord(ServiceModel):
    """One file's ingestion (conversion to Markdown) within an ingestion run."""

    record_id: str | None = None
    alignment_file_id: str | None = None
    filename: str | None = None
    status: str | None = None
    queue_position: OptionalInt = None
    error_message: str | None = None
    suggested_fix: str | None = None


class IngestionJob(ServiceModel):
    """One ingestion run of a data job."""

    id: str | None = None
    status: str | None = None
    file_ids: list[str] = Field(default_factory=list)
    records: list[IngestionRecord] = Field(default_factory=list)


class DataJobFile(ServiceModel):
    """A file attached to a data job."""

    file_id: str
    name: str | None = None
    type: str | None = None
    status: str | None = None
    suggested_fix: str | None = None
    record_id: str | None = None


class DataJobDetail(DataJob):
    """A data job in full: ingestion runs, files, the linked alignment job."""

    ingestion_jobs: list[IngestionJob] = Field(default_factory=list)
    files: list[DataJobFile] = Field(default_factory=list)
    alignment_job: AlignmentJob | None = None
    fine_tuning_job_ids: list[str] = Field(default_factory=list)


class SystemPrompt(ServiceModel):
    """A system prompt the service drafted from instructions."""

    system_prompt: str


def create_request(
    name: str,
    job_type: str,
    *,
    system_prompt: str | None = None,
    instructions: str | None = None,
    vector_database_id: str | None = None,
) -> dict[str, Any]:
    """
    Return a checked create body, refusing locally what the service would refuse.

    :param name: The job's name, 1 to 255 characters.
    :param job_type: ``principle_files``, ``context_grounded_files`` or ``context_grounded_vector_db``.
    :param system_prompt: The system prompt of the generated conversations.
    :param instructions: What the training data should teach.
    :param vector_database_id: The vector database of a ``context_grounded_vector_db`` job.
    """
    if not isinstance(name, str) or not name.strip():
        raise config_error("name: must not be blank")
    if len(name) > MAX_NAME_LENGTH:
        raise config_error(f"name: must be at most {MAX_NAME_LENGTH} characters, got {len(name)}")
    allowed = [member.value for member in DataJobType]
    if job_type not in allowed:
        raise config_error(f"job_type: {job_type!r} is not one of {', '.join(allowed)}")
    if job_type == DataJobType.CONTEXT_GROUNDED_VECTOR_DB.value and not vector_database_id:
        raise config_error("vector_database_id: is required for job_type 'context_grounded_vector_db'")
    body: dict[str, Any] = {"name": name, "job_type": job_type}
    for key, value in (
        ("system_prompt", system_prompt),
        ("instructions", instructions),
        ("vector_database_id", vector_database_id),
    ):
        if value is not None and str(value).strip():
            body[key] = value
    return body


def create(body: dict[str, Any]) -> Call[DataJob]:
    """Return the call creating a data job from a :func:`create_request` body."""
    return Call(CREATE_DATA_JOB, DataJob, json=body)


def list_jobs(*, job_type: str | None = None, limit: int = LIST_LIMIT, offset: int = 0) -> Call[DataJobList]:
    """Return the call listing data jobs, newest first."""
    params = {
        "job_type": job_type,
        "sort_by": "created_at",
        "sort_order": "desc",
        "limit": limit,
        "offset": offset,
    }
    return Call(LIST_DATA_JOBS, DataJobList, params=params)


def get(data_job_id: str) -> Call[DataJobDetail]:
    """Return the call reading a data job in full."""
    return Call(GET_DATA_JOB, DataJobDetail, ids={"data_job_id": data_job_id})


def update(data_job_id: str, changes: dict[str, Any]) -> Call[DataJobDetail]:
    """Return the call changing only the given fields of a data job."""
    return Call(UPDATE_DATA_JOB, DataJobDetail, ids={"data_job_id": data_job_id}, json=changes)


def add_files(
    data_job_id: str, file_ids: list[str], method: str = DEFAULT_INGESTION_METHOD
) -> Call[DataJobDetail]:
    """Return the call attaching uploaded files to a data job."""
    return Call(
        ADD_FILES,
        DataJobDetail,
        ids={"data_job_id": data_job_id},
        json={"file_ids": file_ids, "method": method},
    )


def start(data_job_id: str) -> Call[DataJobDetail]:
    """Return the call starting a data job's alignment."""
    return Call(START_DATA_JOB, DataJobDetail, ids={"data_job_id": data_job_id})


def cancel(data_job_id: str) -> Call[DataJobDetail]:
    """Return the call cancelling a data job's running alignment."""
    return Call(CANCEL_DATA_JOB, DataJobDetail, ids={"data_job_id": data_job_id})


def delete(data_job_id: str) -> Call[None]:
    """Return the call deleting a data job (its answer's body is undocumented and ignored)."""
    return Call(DELETE_DATA_JOB, None, ids={"data_job_id": data_job_id})


def generate_system_prompt(instructions: str, document_summary: str | None = None) -> Call[SystemPrompt]:
    """Return the call asking the service to draft a system prompt from instructions."""
    body: dict[str, Any] = {"instructions": instructions}
    if document_summary:
        body["document_summary"] = document_summary
    return Call(GENERATE_SYSTEM_PROMPT, SystemPrompt, json=body)


# -- readings of a job (pure) --------------------------------------------------------------------


def find_lost_job(jobs: Iterable[DataJob], body: dict[str, Any], snapshot: Snapshot) -> DataJob | None:
    """
    Return the job a create request whose answer was lost made: the one new job that matches it.

    :param jobs: The service's data jobs, listed after the answer was lost.
    :param body: The create request (its name, type, prompt, instructions and database are compared).
    :param snapshot: The jobs listed before it was sent.
    :raises SeekrFlowAmbiguousResultError: More than one new job matches.
    """
    return adopt(
        jobs,
        snapshot,
        lambda job: matches_echoed_fields(job.model_dump(), body, required=("name",)),
        what=f"data job create ({body['name']!r})",
    ).found


def attached_file_ids(detail: DataJobDetail) -> set[str]:
    """Return the ids of the files attached to a job, from its file list and its ingestion runs."""
    attached = {item.file_id for item in detail.files}
    for run in detail.ingestion_jobs:
        attached.update(run.file_ids)
        attached.update(record.alignment_file_id for record in run.records if record.alignment_file_id)
    return attached


def was_started(detail: DataJobDetail) -> bool:
    """Return whether a job's alignment was started (it has an alignment job, or a post-start status)."""
    before_start = {
        DataJobStatus.FILE_PROCESSING.value,
        DataJobStatus.NEEDS_REVIEW.value,
        DataJobStatus.READY_TO_START.value,
    }
    return bool(detail.alignment_job_id) or detail.status not in before_start


def ingestion_records(detail: DataJobDetail) -> list[IngestionRecord]:
    """Return each file's latest ingestion record, by file (a later run supersedes an earlier one)."""
    latest: dict[str, IngestionRecord] = {}
    for run in detail.ingestion_jobs:
        for record in run.records:
            latest[record.alignment_file_id or record.record_id or record.filename or str(len(latest))] = (
                record
            )
    return list(latest.values())


def review_problems(detail: DataJobDetail) -> list[str]:
    """
    Return what keeps a job in ``needs_review``: each file at fault with its error and fix, or the missing prompt.

    :param detail: The job in full.
    """
    problems = []
    for record in ingestion_records(detail):
        if record.error_message or (record.status or "").lower() == "failed":
            line = (
                f"{record.filename or record.alignment_file_id}: {record.error_message or 'ingestion failed'}"
            )
            if record.suggested_fix:
                line += f" (suggested fix: {record.suggested_fix})"
            problems.append(line)
    for item in detail.files:
        named = {problem.split(":", 1)[0] for problem in problems}
        if item.suggested_fix and (item.name or item.file_id) not in named:
            problems.append(
                f"{item.name or item.file_id}: {item.status or 'needs review'} (suggested fix: {item.suggested_fix})"
            )
    if detail.job_type == DataJobType.PRINCIPLE_FILES.value and not (detail.system_prompt or "").strip():
        problems.append("the job has no system prompt, which a principle_files job needs")
    if not problems and detail.status_message:
        problems.append(detail.status_message)
    return problems
