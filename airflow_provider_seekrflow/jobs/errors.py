"""The exception a finished or timed-out alignment job means for the task (see ``jobs.kinds`` for every kind)."""

from __future__ import annotations

from airflow_provider_seekrflow._client.alignment import AlignmentJob
from airflow_provider_seekrflow.exceptions import (
    SeekrFlowAlignmentJobError,
    SeekrFlowAlignmentJobTimeoutError,
    SeekrFlowError,
)
from airflow_provider_seekrflow.jobs.kinds import ALIGNMENT


def error_for_unsuccessful_job(
    job_id: str, status: str, status_message: str | None
) -> SeekrFlowAlignmentJobError:
    """
    Return the exception for an alignment job that ended in ``failed``, ``cancelled`` or ``stopped``.

    :param job_id: The job's id.
    :param status: Its final status.
    :param status_message: The service's explanation.
    """
    error = ALIGNMENT.unsuccessful_error(job_id, status, status_message)
    assert isinstance(error, SeekrFlowAlignmentJobError)
    return error


def raise_unless_completed(job: AlignmentJob) -> None:
    """Raise the job's distinct error unless it completed; nothing but ``completed`` is success."""
    if job.succeeded:
        return
    if not job.is_terminal:
        raise SeekrFlowError(f"Alignment job {job.id} has not ended yet ({job.describe()})")
    raise error_for_unsuccessful_job(job.id, job.status, job.status_message)


def timeout_error(
    job_id: str, message: str | None, last_status: str | None
) -> SeekrFlowAlignmentJobTimeoutError:
    """Return the error for a wait that ran out of time."""
    error = ALIGNMENT.timed_out(job_id, message, last_status)
    assert isinstance(error, SeekrFlowAlignmentJobTimeoutError)
    return error
