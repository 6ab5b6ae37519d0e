"""How a trigger reads, reports, paces and cancels each kind of SeekrFlow job; the polling loop is shared."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from airflow_provider_seekrflow._client.data_jobs import DataJobDetail
from airflow_provider_seekrflow._client.errors import clip
from airflow_provider_seekrflow._client.fine_tunes import FineTune
from airflow_provider_seekrflow._client.polling import (
    NextCheck,
    plan_data_job_check,
    plan_next_check,
    plan_steady_check,
)
from airflow_provider_seekrflow.jobs.events import UNTIL_END, UNTIL_END_OR_REVIEW, UNTIL_INGESTED
from airflow_provider_seekrflow.jobs.kinds import ALIGNMENT, DATA_JOB, FINE_TUNE, JobKind
from airflow_provider_seekrflow.jobs.progress import DataJobProgressLog, FineTuneEventLog, ProgressLog
from airflow_provider_seekrflow.vocabulary import DataJobStatus

Log = Callable[[str], None]


class JobWatcher:
    """
    Read one kind of job for a trigger's wait: its state, whether the wait is over, the next sleep.

    One watcher serves one wait, so it may remember what it has logged.

    :param until: What the wait waits for: ``end``, or (data jobs only) ``ingestion``.
    :param info: Called with each progress line.
    :param warn: Called with each warning.
    """

    kind: JobKind
    #: What a wait of this kind may wait for.
    waits_for: frozenset[str] = frozenset({UNTIL_END})

    def __init__(self, until: str, info: Log, warn: Log) -> None:
        if until not in self.waits_for:
            raise ValueError(
                f"until: a {self.kind.key} wait waits for {sorted(self.waits_for)}, not {until!r}"
            )
        self.until = until
        self.info = info
        self.warn = warn

    async def read(self, hook: Any, job_id: str) -> Any:
        """Read the job once (and anything the task log reports with it)."""
        raise NotImplementedError

    def is_over(self, job: Any) -> bool:
        """Whether the wait is over for the job as read."""
        return bool(job.is_terminal)

    def next_check(self, job: Any, *, poll_interval: float, min_interval: float) -> NextCheck:
        """Return when to read the job again, and why: a fraction of its age, without an estimate."""
        return plan_steady_check(
            poll_interval=poll_interval,
            min_interval=min_interval,
            running_since=getattr(job, "created_at", None),
        )

    def delay(self, job: Any, *, poll_interval: float, min_interval: float) -> float:
        """Return the seconds to sleep before the next read."""
        return self.next_check(job, poll_interval=poll_interval, min_interval=min_interval).seconds

    def status_message(self, job: Any) -> str | None:
        """Return the service's explanation of the job's status, if it gave one."""
        message = getattr(job, "status_message", None)
        if message is None:
            message = (getattr(job, "model_extra", None) or {}).get("status_message")
        return None if message is None else clip(str(message))

    async def cancel(self, hook: Any, job_id: str) -> str:
        """Cancel the job and return its status after."""
        raise NotImplementedError


class AlignmentWatcher(JobWatcher):
    """An alignment job: sleeps toward its completion estimate."""

    kind = ALIGNMENT

    def __init__(self, until: str, info: Log, warn: Log) -> None:
        super().__init__(until, info, warn)
        self._progress = ProgressLog(info, warn)

    async def read(self, hook: Any, job_id: str) -> Any:
        """Read the job once, logging its progress when it changed."""
        job = await hook.get_alignment_job(job_id)
        self._progress(job)
        return job

    def next_check(self, job: Any, *, poll_interval: float, min_interval: float) -> NextCheck:
        """Return when to read the job again, and why: toward the service's estimate."""
        return plan_next_check(job, poll_interval=poll_interval, min_interval=min_interval)

    async def cancel(self, hook: Any, job_id: str) -> str:
        """Cancel the job and return its status after."""
        return str((await hook.cancel_alignment_job(job_id)).status)


class DataJobWatcher(JobWatcher):
    """A data job: its ingestion (files done of total) and then its alignment, which gives an estimate."""

    kind = DATA_JOB
    waits_for = frozenset({UNTIL_END, UNTIL_INGESTED, UNTIL_END_OR_REVIEW})

    def __init__(self, until: str, info: Log, warn: Log) -> None:
        super().__init__(until, info, warn)
        self._progress = DataJobProgressLog(info, warn)

    async def read(self, hook: Any, job_id: str) -> DataJobDetail:
        """Read the job once, logging its progress when it changed."""
        detail: DataJobDetail = await hook.get_data_job(job_id)
        self._progress(detail)
        return detail

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

    async def cancel(self, hook: Any, job_id: str) -> str:
        """Cancel the job and return its status after."""
        return str((await hook.cancel_data_job(job_id)).status)


class FineTuneWatcher(JobWatcher):
    """A fine-tune: its status, and each new event (epoch, loss, reward) logged once."""

    kind = FINE_TUNE

    def __init__(self, until: str, info: Log, warn: Log) -> None:
        super().__init__(until, info, warn)
        self._events = FineTuneEventLog(info)

    async def read(self, hook: Any, job_id: str) -> FineTune:
        """Read the job once, logging its progress when it changed."""
        job: FineTune = await hook.get_fine_tune(job_id)
        self._events(job, await hook.get_fine_tune_events(job_id))
        return job

    async def cancel(self, hook: Any, job_id: str) -> str:
        """Cancel the job and return its status after."""
        return str((await hook.cancel_fine_tune(job_id)).status)


WATCHERS: Mapping[str, type[JobWatcher]] = {
    watcher.kind.key: watcher for watcher in (AlignmentWatcher, DataJobWatcher, FineTuneWatcher)
}
