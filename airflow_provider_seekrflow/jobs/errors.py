"""The exception a finished or timed-out job means for the task, one class per way of ending."""

from __future__ import annotations

from airflow_provider_seekrflow._client.alignment import AlignmentJob
from airflow_provider_seekrflow.exceptions import (
    SeekrFlowAlignmentJobCancelledError,
    SeekrFlowAlignmentJobError,
    SeekrFlowAlignmentJobFailedError,
    SeekrFlowAlignmentJobStoppedError,
    SeekrFlowAlignmentJobTimeoutError,
    SeekrFlowError,
)
from airflow_provider_seekrflow.vocabulary import AlignmentJobStatus

_ERROR_BY_STATUS: dict[str, type[SeekrFlowAlignmentJobError]] = {
    AlignmentJobStatus.FAILED.value: SeekrFlowAlignmentJobFailedError,
    AlignmentJobStatus.CANCELLED.value: SeekrFlowAlignmentJobCancelledError,
    AlignmentJobStatus.STOPPED.value: SeekrFlowAlignmentJobStoppedError,
}


def error_for_unsuccessful_job(
    job_id: str, status: str, status_message: str | None
) -> SeekrFlowAlignmentJobError:
    """
    Return the exception for a job that ended in ``failed``, ``cancelled`` or ``stopped``.

    :param job_id: The job's id.
    :param status: Its final status.
    :param status_message: The service's explanation.
    """
    error_class = _ERROR_BY_STATUS.get(status, SeekrFlowAlignmentJobError)
    reason = f": {status_message}" if status_message else " (the service gave no reason)"
    return error_class(
        f"Alignment job {job_id} ended {status}{reason}",
        job_id=job_id,
        status=status,
        status_message=status_message,
    )


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
    return SeekrFlowAlignmentJobTimeoutError(
        message or f"Alignment job {job_id} did not finish in time",
        job_id=job_id,
        status=last_status or "unknown",
    )
