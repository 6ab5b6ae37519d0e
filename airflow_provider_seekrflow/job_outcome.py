"""What a finished alignment job means for the task: one place for the operator, sensor and trigger."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from airflow_provider_seekrflow.exceptions import (
    SeekrFlowAlignmentJobCancelledError,
    SeekrFlowAlignmentJobError,
    SeekrFlowAlignmentJobFailedError,
    SeekrFlowAlignmentJobStoppedError,
    SeekrFlowAlignmentJobTimeoutError,
    SeekrFlowError,
)
from airflow_provider_seekrflow.models import AlignmentJob, AlignmentJobStatus, AlignmentOutput, FilePurpose

# Trigger events carry one of the job's terminal statuses, or one of these.
EVENT_TIMEOUT = "timeout"
EVENT_ERROR = "error"

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


def check_event(event: Any, expected_job_id: str | None) -> dict[str, Any]:
    """
    Return a trigger event after checking its shape; a missing or strange event fails loudly.

    :param event: What the trigger sent.
    :param expected_job_id: The job the task deferred on, when known.
    """
    if not isinstance(event, dict) or "status" not in event or "job_id" not in event:
        raise SeekrFlowError(f"SeekrFlow trigger sent an unexpected event: {event!r}")
    if expected_job_id is not None and event["job_id"] != expected_job_id:
        raise SeekrFlowError(
            f"SeekrFlow trigger sent an event for job {event['job_id']!r}, not {expected_job_id!r}"
        )
    known = AlignmentJobStatus.terminal_states() | {EVENT_TIMEOUT, EVENT_ERROR}
    if event["status"] not in known:
        raise SeekrFlowError(
            f"SeekrFlow trigger sent an event with unknown status {event['status']!r}: {event!r}"
        )
    return event


def describe_outputs(outputs: list[AlignmentOutput]) -> list[dict[str, Any]]:
    """Return the outputs as plain dicts fit for XCom."""
    return [
        {"id": output.id, "filename": output.filename, "purpose": output.purpose, "bytes": output.bytes}
        for output in outputs
    ]


def fine_tune_output_id(outputs: list[AlignmentOutput]) -> str | None:
    """Return the id of the output meant for fine-tuning, if the job produced one."""
    for output in outputs:
        if output.purpose == FilePurpose.FINE_TUNE.value:
            return output.id
    return None


class ProgressLog:
    """
    Log a job's status, step, progress and ETA, only when one of them changed since the last line.

    A status the provider does not know is reported once as a warning naming it; the wait goes
    on, since only a known terminal status (or the timeout) ends it.

    :param log: Called with each progress line.
    :param warn: Called with each warning; ``log`` when not given.
    """

    def __init__(self, log: Callable[[str], None], warn: Callable[[str], None] | None = None) -> None:
        self._log = log
        self._warn = warn or log
        self._last: tuple[Any, ...] | None = None
        self._unknown_statuses: set[str] = set()

    def __call__(self, job: AlignmentJob) -> None:
        """Log the job unless nothing worth reporting changed."""
        if not job.has_known_status and job.status not in self._unknown_statuses:
            self._unknown_statuses.add(job.status)
            self._warn(
                f"Alignment job {job.id} reports status {job.status!r}, which this provider does not "
                f"know; treating it as not finished and waiting for {', '.join(sorted(AlignmentJobStatus.terminal_states()))}"
            )
        signature = job.progress_signature()
        if signature != self._last:
            self._last = signature
            self._log(f"Alignment job {job.id}: {job.describe()}")
