"""The task log of a wait: a job's progress when it changes, and a warning for a status nobody knows."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from airflow_provider_seekrflow._client.alignment import AlignmentJob
from airflow_provider_seekrflow._client.data_jobs import DataJobDetail, ingestion_records
from airflow_provider_seekrflow._client.fine_tunes import FineTune, FineTuneEvent
from airflow_provider_seekrflow._client.log_text import for_log
from airflow_provider_seekrflow.vocabulary import AlignmentJobStatus, DataJobStatus


def _escaping(log: Callable[[str], None]) -> Callable[[str], None]:
    # Every line holds the service's text (statuses, steps, file names): none may break the log line.
    return lambda line: log(for_log(line))


class ProgressLog:
    """
    Log a job's status, step, progress and ETA, only when one of them changed since the last line.

    A status the provider does not know is reported once as a warning naming it; the wait goes
    on, since only a known terminal status (or the timeout) ends it.

    :param log: Called with each progress line.
    :param warn: Called with each warning; ``log`` when not given.
    """

    def __init__(self, log: Callable[[str], None], warn: Callable[[str], None] | None = None) -> None:
        self._log = _escaping(log)
        self._warn = _escaping(warn or log)
        self._last: tuple[Any, ...] | None = None
        self._unknown_statuses: set[str] = set()

    def __call__(self, job: AlignmentJob) -> None:
        """Log the job unless nothing worth reporting changed."""
        if not job.has_known_status and job.status not in self._unknown_statuses:
            self._unknown_statuses.add(job.status)
            ends = ", ".join(sorted(AlignmentJobStatus.terminal_states()))
            self._warn(
                f"Alignment job {job.id} reports status {job.status!r}, which this provider does not "
                f"know; treating it as not finished and waiting for {ends}"
            )
        signature = job.progress_signature()
        if signature != self._last:
            self._last = signature
            self._log(f"Alignment job {job.id}: {job.describe()}")


def ingestion_summary(detail: DataJobDetail) -> str:
    """Return a data job's ingestion as one line: files done of total, and each file's state."""
    records = ingestion_records(detail)
    done = sum((record.status or "").lower() == "completed" for record in records)
    states = ", ".join(
        f"{record.filename or record.alignment_file_id}: {record.status or '?'}" for record in records
    )
    return f"ingestion {done} of {len(records)} file(s) done" + (f" ({states})" if states else "")


class DataJobProgressLog:
    """
    Log a data job's ingestion (files done of total, each file's state), then its alignment, on change.

    :param log: Called with each progress line.
    :param warn: Called with each warning; ``log`` when not given.
    """

    def __init__(self, log: Callable[[str], None], warn: Callable[[str], None] | None = None) -> None:
        self._log = _escaping(log)
        self._warn = _escaping(warn or log)
        self._last: str | None = None
        self._unknown_statuses: set[str] = set()

    def __call__(self, detail: DataJobDetail) -> None:
        """Log the job unless nothing worth reporting changed."""
        if detail.status not in DataJobStatus.known_states() and detail.status not in self._unknown_statuses:
            self._unknown_statuses.add(detail.status)
            self._warn(
                f"Data job {detail.id} reports status {detail.status!r}, which this provider does not know; "
                "treating it as not finished"
            )
        if detail.alignment_job is not None:
            line = f"Data job {detail.id}: alignment {detail.alignment_job.describe()}"
        else:
            line = f"Data job {detail.id}: status={detail.status}, {ingestion_summary(detail)}"
        if line != self._last:
            self._last = line
            self._log(line)


class FineTuneEventLog:
    """
    Log each fine-tune event (epoch, loss, reward) once, and the status when it changes.

    :param log: Called with each line.
    """

    def __init__(self, log: Callable[[str], None]) -> None:
        self._log = _escaping(log)
        self._seen = 0
        self._status: str | None = None

    def __call__(self, job: FineTune, events: list[FineTuneEvent]) -> None:
        """
        Log the events not logged yet (the service lists them oldest first), then the status if it changed.

        Events come first, so the last epoch is logged before the ``completed`` it led to.

        :param job: The fine-tune as just read.
        :param events: Its events as just listed.
        """
        for event in events[self._seen :]:
            self._log(f"Fine-tune {job.id}: {event.describe()}")
        self._seen = max(self._seen, len(events))
        if job.status != self._status:
            self._status = job.status
            self._log(f"Fine-tune {job.id}: status={job.status}")
