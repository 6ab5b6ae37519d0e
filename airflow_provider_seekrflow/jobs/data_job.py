"""
The data job kind: its errors, keys, reads, phases, pacing and result.

A data job ingests its files (``file_processing``), may stop in ``needs_review``, waits in
``ready_to_start`` and then runs an alignment, whose statuses it takes. A wait can end at the end
of ingestion (``until="ingestion"``) or at review (``until="end_or_review"``) as well as at the end.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from airflow_provider_seekrflow.client import alignment, data_jobs
from airflow_provider_seekrflow.client.alignment import describe_outputs, training_output_id
from airflow_provider_seekrflow.client.data_jobs import DataJobDetail, ingestion_records
from airflow_provider_seekrflow.client.endpoints import Call
from airflow_provider_seekrflow.client.polling import NextCheck, plan_next_check, plan_steady_check
from airflow_provider_seekrflow.defaults import UNTIL_END, UNTIL_END_OR_REVIEW, UNTIL_INGESTED
from airflow_provider_seekrflow.exceptions import SeekrFlowJobError
from airflow_provider_seekrflow.jobs.base import JobKind, JobResult, JobWatcher, Operation
from airflow_provider_seekrflow.vocabulary import DataJobStatus


class SeekrFlowDataJobError(SeekrFlowJobError):
    """A data job ended without completing."""


class SeekrFlowDataJobNeedsReviewError(SeekrFlowDataJobError):
    """
    A data job stopped in ``needs_review``: a person must fix its files or its system prompt.

    :param problems: One line per problem: each file at fault with its error and suggested fix,
        or the missing system prompt.
    """

    def __init__(self, message: str, *, problems: list[str], **kwargs: Any) -> None:
        super().__init__(message, **kwargs)
        self.problems = problems


class SeekrFlowDataJobFailedError(SeekrFlowDataJobError):
    """The data job's alignment failed (or was stopped) on the service."""


class SeekrFlowDataJobCancelledError(SeekrFlowDataJobError):
    """The data job was cancelled."""


class SeekrFlowDataJobTimeoutError(SeekrFlowDataJobError):
    """The data job did not finish within the wait's timeout."""


def ingestion_summary(detail: DataJobDetail) -> str:
    """Return a data job's ingestion as one line: files done of total, and each file's state."""
    records = ingestion_records(detail)
    done = sum((record.status or "").lower() == "completed" for record in records)
    states = ", ".join(
        f"{record.filename or record.alignment_file_id}: {record.status or '?'}" for record in records
    )
    return f"ingestion {done} of {len(records)} file(s) done" + (f" ({states})" if states else "")


def needs_review_error(detail: DataJobDetail, message: str) -> SeekrFlowDataJobNeedsReviewError:
    """
    Return the error of a job in review, naming every file at fault (or the missing system prompt).

    :param detail: The job, in ``needs_review``.
    :param message: The error's first line; the problems follow, one a line.
    """
    problems = data_jobs.review_problems(detail)
    return SeekrFlowDataJobNeedsReviewError(
        f"{message}:\n- " + "\n- ".join(problems),
        problems=problems,
        job_id=detail.id,
        status=detail.status,
        status_message=detail.status_message,
    )


def plan_data_job_check(
    detail: DataJobDetail,
    *,
    poll_interval: float,
    min_interval: float,
    now: datetime | None = None,
) -> NextCheck:
    """
    Return when to check a data job again, and why.

    Its alignment, once started, carries the estimate; ingestion has none, so it is checked at
    the steady pace from the job's last change (never above ``poll_interval`` nor below ``min_interval``).

    :param detail: The data job as last seen.
    :param poll_interval: The longest sleep allowed.
    :param min_interval: The shortest sleep allowed.
    :param now: The current time (UTC), for tests.
    """
    if detail.alignment_job is not None:
        return plan_next_check(
            detail.alignment_job, poll_interval=poll_interval, min_interval=min_interval, now=now
        )
    return plan_steady_check(
        poll_interval=poll_interval,
        min_interval=min_interval,
        running_since=detail.updated_at or detail.created_at,
        now=now,
    )


class DataJobWatcher(JobWatcher):
    """A wait on a data job: its ingestion (files done of total) and then its alignment, which gives an estimate."""

    waits_for = frozenset({UNTIL_END, UNTIL_INGESTED, UNTIL_END_OR_REVIEW})

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._last: str | None = None

    def get(self, job_id: str) -> Call[DataJobDetail]:
        """Return the request that reads the job with its files' ingestion and its alignment."""
        return data_jobs.get(job_id)

    def read(self, job_id: str) -> Operation[DataJobDetail]:
        """Read the job once, logging its ingestion or alignment when it changed."""
        detail: DataJobDetail = yield self.get(job_id)
        self.report(detail)
        return detail

    def report(self, detail: DataJobDetail) -> None:
        """Log the job's ingestion, then its alignment, on change; warn once of a status nobody knows."""
        self.warn_unknown_status(detail.id, detail.status)
        if detail.alignment_job is not None:
            line = f"Data job {detail.id}: alignment {detail.alignment_job.describe()}"
        else:
            line = f"Data job {detail.id}: status={detail.status}, {ingestion_summary(detail)}"
        if line != self._last:
            self._last = line
            self.info(line)

    def cancel(self, job_id: str) -> Operation[DataJobDetail]:
        """Cancel the data job's running alignment."""
        return (yield data_jobs.cancel(job_id))  # type: ignore[no-any-return]

    def is_over(self, job: Any) -> bool:
        """Whether the wait is over for the job as read."""
        if self.until == UNTIL_INGESTED:
            # needs_review and ready_to_start end it too: the operator reads and acts on them.
            return bool(job.status != DataJobStatus.FILE_PROCESSING.value)
        if self.until == UNTIL_END_OR_REVIEW and job.status == DataJobStatus.NEEDS_REVIEW.value:
            return True
        return bool(job.is_terminal)

    def next_check(self, job: Any, *, poll_interval: float, min_interval: float) -> NextCheck:
        """Return when to read the job again, and why: its ingestion's age, then its alignment's estimate."""
        return plan_data_job_check(job, poll_interval=poll_interval, min_interval=min_interval)

    def result(self, job: DataJobDetail) -> Operation[JobResult]:
        """
        Result in ``{"job_id", "status", "alignment_job_id", "output_files"}`` and the training file.

        The outputs are read only for a completed job; the training file (the ``fine-tune`` output,
        which a fine-tune trains on) is None otherwise.
        """
        value: dict[str, Any] = {
            "job_id": job.id,
            "status": job.status,
            "alignment_job_id": job.alignment_job_id,
            "output_files": [],
        }
        if not (job.succeeded and job.alignment_job_id):
            return JobResult(value)
        outputs = yield alignment.get_outputs(job.alignment_job_id)
        value["output_files"] = describe_outputs(outputs)
        return JobResult(value, training_output_id(outputs))


DATA_JOB = JobKind(
    key="data_job",
    label="Data job",
    statuses=DataJobStatus,
    watcher=DataJobWatcher,
    state_key="seekrflow_data_job_id",
    job_id_xcom_key="data_job_id",
    errors={
        DataJobStatus.FAILED.value: SeekrFlowDataJobFailedError,
        DataJobStatus.STOPPED.value: SeekrFlowDataJobFailedError,
        DataJobStatus.CANCELLED.value: SeekrFlowDataJobCancelledError,
    },
    error=SeekrFlowDataJobError,
    timeout_error=SeekrFlowDataJobTimeoutError,
    makes_training_data=True,
)
