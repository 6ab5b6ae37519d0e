"""
The alignment job kind (the deprecated generate endpoint): its errors, keys, reads, pacing and result.

Statuses are the service's ``AlignmentJobStatus``; only ``completed`` is success. The wait sleeps
toward the service's completion estimate when it gives one.
"""

from __future__ import annotations

from typing import Any

from airflow_provider_seekrflow.client import alignment
from airflow_provider_seekrflow.client.alignment import AlignmentJob, describe_outputs, training_output_id
from airflow_provider_seekrflow.client.endpoints import Call
from airflow_provider_seekrflow.client.polling import NextCheck, plan_next_check
from airflow_provider_seekrflow.exceptions import SeekrFlowJobError
from airflow_provider_seekrflow.jobs.base import JobKind, JobResult, JobWatcher, Operation
from airflow_provider_seekrflow.vocabulary import AlignmentJobStatus


class SeekrFlowAlignmentJobError(SeekrFlowJobError):
    """An alignment job ended without completing."""


class SeekrFlowAlignmentJobFailedError(SeekrFlowAlignmentJobError):
    """The alignment job failed on the service."""


class SeekrFlowAlignmentJobCancelledError(SeekrFlowAlignmentJobError):
    """The alignment job was cancelled."""


class SeekrFlowAlignmentJobStoppedError(SeekrFlowAlignmentJobError):
    """The alignment job was stopped by the service."""


class SeekrFlowAlignmentJobTimeoutError(SeekrFlowAlignmentJobError):
    """The alignment job did not finish within the wait's timeout."""


class AlignmentWatcher(JobWatcher):
    """A wait on an alignment job: its status, step, progress and ETA logged on change; paced by its estimate."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._last: tuple[Any, ...] | None = None

    def get(self, job_id: str) -> Call[AlignmentJob]:
        """Return the request that reads the job."""
        return alignment.get_job(job_id)

    def read(self, job_id: str) -> Operation[AlignmentJob]:
        """Read the job once, logging its progress when it changed."""
        job: AlignmentJob = yield self.get(job_id)
        self.report(job)
        return job

    def report(self, job: AlignmentJob) -> None:
        """Log the job unless nothing worth reporting changed; warn once of a status nobody knows."""
        self.warn_unknown_status(job.id, job.status)
        signature = job.progress_signature()
        if signature != self._last:
            self._last = signature
            self.info(f"Alignment job {job.id}: {job.describe()}")

    def cancel(self, job_id: str) -> Operation[AlignmentJob]:
        """Cancel the job; one that already ended is returned unchanged."""
        return (yield alignment.cancel_job(job_id))  # type: ignore[no-any-return]

    def next_check(self, job: Any, *, poll_interval: float, min_interval: float) -> NextCheck:
        """Return when to read the job again, and why: toward the service's estimate."""
        return plan_next_check(job, poll_interval=poll_interval, min_interval=min_interval)

    def result(self, job: AlignmentJob) -> Operation[JobResult]:
        """Result in ``{"job_id", "status", "output_files"}``; a completed job's outputs are read, its training file named."""
        if not job.succeeded:
            return JobResult(
                {"job_id": job.id, "status": job.status, "output_files": describe_outputs(job.output_files)}
            )
        outputs = yield alignment.get_outputs(job.id)
        value = {"job_id": job.id, "status": job.status, "output_files": describe_outputs(outputs)}
        return JobResult(value, training_output_id(outputs))


ALIGNMENT = JobKind(
    key="alignment",
    label="Alignment job",
    statuses=AlignmentJobStatus,
    watcher=AlignmentWatcher,
    state_key="seekrflow_alignment_job_id",
    job_id_xcom_key="alignment_job_id",
    errors={
        AlignmentJobStatus.FAILED.value: SeekrFlowAlignmentJobFailedError,
        AlignmentJobStatus.CANCELLED.value: SeekrFlowAlignmentJobCancelledError,
        AlignmentJobStatus.STOPPED.value: SeekrFlowAlignmentJobStoppedError,
    },
    error=SeekrFlowAlignmentJobError,
    timeout_error=SeekrFlowAlignmentJobTimeoutError,
    makes_training_data=True,
)
