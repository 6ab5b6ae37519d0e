"""
The vector database ingestion kind: files chunked and embedded into a database; its errors, keys, reads, cancel and result.

An ingestion job is addressed through its database, so the kind's job id is the reference
``<vector_database_id>/<ingestion job id>`` (``client.vector_databases.ingestion_ref``). A wait is over
at ``completed`` (success) or ``failed``; any other status, unknown ones too, is still going.

**Cancel.** The service has no cancel route for ingestion. A kill or a timeout therefore removes
from the database each file of the job (``DELETE .../files/{file_id}``; a 404 means it is already
gone), so nothing the task started stays half-ingested; the job itself runs on, on the service, to
its end. Only a job still going is touched: one that ended keeps its files. Deciding *which* job a
task may clean up (only one it started) is the operator's: a sensor never cancels.
"""

from __future__ import annotations

from typing import Any

from airflow_provider_seekrflow.client import vector_databases as vdb
from airflow_provider_seekrflow.client.endpoints import Call
from airflow_provider_seekrflow.client.errors import clip
from airflow_provider_seekrflow.client.polling import NextCheck, plan_steady_check
from airflow_provider_seekrflow.client.vector_databases import VectorDatabaseFile, VectorDatabaseIngestion
from airflow_provider_seekrflow.exceptions import SeekrFlowJobError, SeekrFlowNotFoundError
from airflow_provider_seekrflow.jobs.base import JobKind, JobResult, JobWatcher, Operation
from airflow_provider_seekrflow.vocabulary import VectorIngestionStatus

COMPLETED = VectorIngestionStatus.COMPLETED.value
FAILED = VectorIngestionStatus.FAILED.value
# How many failed files an error names one by one; the rest are counted.
_NAMED_FILES = 20


class SeekrFlowIngestionError(SeekrFlowJobError):
    """A vector database ingestion did not complete: it failed, or a wait for it ran out."""


class SeekrFlowIngestionFailedError(SeekrFlowIngestionError):
    """
    The ingestion job failed; the message names each failed file with the service's ``error_message``.

    :param failed_files: ``{file id: error_message}`` of each of the job's files the database lists as failed.
    """

    def __init__(
        self, message: str, *, failed_files: dict[str, str | None] | None = None, **kwargs: Any
    ) -> None:
        super().__init__(message, **kwargs)
        self.failed_files = dict(failed_files or {})


class SeekrFlowIngestionTimeoutError(SeekrFlowIngestionError):
    """The ingestion job did not end within the wait's timeout (its files were removed from the database)."""


def job_files(job: VectorDatabaseIngestion, listed: list[VectorDatabaseFile]) -> list[VectorDatabaseFile]:
    """Return the database's records of the job's files, in the job's order (a file no longer listed is left out)."""
    by_id = {str(record.id): record for record in listed}
    return [by_id[file_id] for file_id in job.file_ids or [] if file_id in by_id]


def ingestion_result(job: VectorDatabaseIngestion, files: list[VectorDatabaseFile]) -> dict[str, Any]:
    """
    Return an ingestion's result ``{"job_id", "status", "vector_database_id", "ingestion_id", "file_ids", "files", "error_message"}``.

    ``job_id`` is the kind's reference ``<vector_database_id>/<ingestion_id>`` (what the ingestion
    sensor takes); ``files`` counts the job's files the database lists ``completed`` and ``failed``.

    :param job: The job as just read.
    :param files: The database's records of the job's files (:func:`job_files`).
    """
    return {
        "job_id": job.ref,
        "status": job.status,
        "vector_database_id": job.vector_database_id,
        "ingestion_id": job.id,
        "file_ids": list(job.file_ids or []),
        "files": {status: sum(1 for f in files if f.status == status) for status in (COMPLETED, FAILED)},
        "error_message": job.error_message,
    }


def remove_files(vector_database_id: str, file_ids: list[str]) -> Operation[list[str]]:
    """
    Remove files from a database, resulting in the ids this removed (a 404 is a file already gone, not an error).

    :param vector_database_id: The database.
    :param file_ids: The files (the uploaded files' ids).
    """
    removed: list[str] = []
    for file_id in file_ids:
        try:
            yield vdb.delete_file(vector_database_id, file_id)
        except SeekrFlowNotFoundError:
            continue
        removed.append(file_id)
    return removed


class IngestionWatcher(JobWatcher):
    """A wait on an ingestion job: its status logged on change, read again at a steady pace."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._status: str | None = None

    def get(self, job_id: str) -> Call[VectorDatabaseIngestion]:
        """Return the request that reads the ingestion job of reference ``job_id``."""
        return vdb.get_ingestion(*vdb.split_ingestion_ref(job_id))

    def read(self, job_id: str) -> Operation[VectorDatabaseIngestion]:
        """Read the job once, logging its status when it changed."""
        job: VectorDatabaseIngestion = yield self.get(job_id)
        if job.status != self._status:
            self._status = job.status
            self.warn_unknown_status(job_id, job.status)
            self.info(f"{self.kind.label} {job_id}: status={job.status} ({len(job.file_ids or [])} file(s))")
        return job

    def next_check(self, job: Any, *, poll_interval: float, min_interval: float) -> NextCheck:
        """Return when to read again: a fraction of the time since its status last changed."""
        return plan_steady_check(
            poll_interval=poll_interval,
            min_interval=min_interval,
            running_since=job.updated_at or job.created_at,
        )

    def cancel(self, job_id: str) -> Operation[VectorDatabaseIngestion]:
        """Remove the job's files from its database while it is still going (the service has no cancel for ingestion)."""
        database_id, _ = vdb.split_ingestion_ref(job_id)
        job: VectorDatabaseIngestion = yield self.get(job_id)
        if job.is_terminal:
            self.info(f"{self.kind.label} {job_id} already ended {job.status}: its files are left in place")
            return job
        removed = yield from remove_files(database_id, list(job.file_ids or []))
        self.info(
            f"{self.kind.label} {job_id}: the service has no cancel for ingestion, so its "
            f"{len(removed)} file(s) were removed from vector database {database_id}"
            f"{': ' + ', '.join(removed) if removed else ''} (the job runs on to its end without them)"
        )
        return job

    def explain(self, job: VectorDatabaseIngestion) -> Operation[SeekrFlowJobError]:
        """Result in the error of a job that failed, naming each failed file with the service's ``error_message``."""
        database_id, _ = vdb.split_ingestion_ref(job.ref)
        listing = yield vdb.list_files(database_id)
        return self.failure(job, job_files(job, listing.data or []))

    def failure(self, job: Any, files: list[VectorDatabaseFile] | None = None) -> SeekrFlowJobError:
        """Return the error of a job that failed; with the database's ``files``, each failed one is named."""
        failed = {str(f.id): f.error_message for f in files or [] if f.status == FAILED}
        named = [
            f"{f.filename or f.id} ({f.id}): {clip(f.error_message) if f.error_message else 'no reason given'}"
            for f in (files or [])
            if f.status == FAILED
        ][:_NAMED_FILES]
        more = len(failed) - len(named)
        message = f"{self.kind.label} {job.ref} ended {job.status}"
        message += f": {clip(job.error_message)}" if job.error_message else " (the service gave no reason)"
        if named:
            message += f"; failed file(s): {'; '.join(named)}{f' and {more} more' if more > 0 else ''}"
        error_class = self.kind.errors.get(job.status, self.kind.error)
        details = {"failed_files": failed} if error_class is SeekrFlowIngestionFailedError else {}
        return error_class(
            message,
            job_id=job.ref,
            status=job.status,
            status_message=clip(job.error_message) if job.error_message else None,
            **details,
        )

    def completion_line(self, result: JobResult) -> str:
        """Return the task log's line for a job that completed."""
        value = result.value
        return (
            f"{self.kind.label} {value['job_id']} completed: {value['files'][COMPLETED]} of "
            f"{len(value['file_ids'])} file(s) ingested into vector database {value['vector_database_id']}"
        )

    def result(self, job: VectorDatabaseIngestion) -> Operation[JobResult]:
        """Result in ``{"job_id", "status", "vector_database_id", "ingestion_id", "file_ids", "files", "error_message"}``."""
        listing = yield vdb.list_files(str(job.vector_database_id))
        return JobResult(ingestion_result(job, job_files(job, listing.data or [])))


VECTOR_INGESTION = JobKind(
    key="vector_ingestion",
    label="Ingestion",
    statuses=VectorIngestionStatus,
    watcher=IngestionWatcher,
    state_key="seekrflow_vector_ingestion_id",
    job_id_xcom_key="ingestion_job_id",
    errors={FAILED: SeekrFlowIngestionFailedError},
    error=SeekrFlowIngestionError,
    timeout_error=SeekrFlowIngestionTimeoutError,
)
