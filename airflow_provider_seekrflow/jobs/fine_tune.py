"""
The fine-tune kind: its errors, keys, reads (status and events), its one cancel and its result.

Only ``completed`` is success, and only then is there a model; ``failed`` carries the service's
``error_analysis``. The service takes the cancel as PUT or, where it refuses PUT, as POST.
"""

from __future__ import annotations

from typing import Any

from airflow_provider_seekrflow.client import fine_tunes
from airflow_provider_seekrflow.client.endpoints import Call
from airflow_provider_seekrflow.client.fine_tunes import FineTune, FineTuneEvent, FineTuneEvents
from airflow_provider_seekrflow.exceptions import SeekrFlowAPIError, SeekrFlowJobError
from airflow_provider_seekrflow.jobs.base import JobKind, JobResult, JobWatcher, Operation, answered
from airflow_provider_seekrflow.jobs.usage import describe_usage, fine_tune_usage
from airflow_provider_seekrflow.vocabulary import FineTuneStatus

# Service fields that may name the trained model; the fine-tune's own id stands in when none is sent.
MODEL_ID_FIELDS = ("output_name", "fine_tuned_model", "model_id")


class SeekrFlowFineTuneError(SeekrFlowJobError):
    """
    A fine-tune ended without a model.

    :param error_analysis: The service's written analysis of why, when it gave one.
    """

    def __init__(self, message: str, *, error_analysis: str | None = None, **kwargs: Any) -> None:
        super().__init__(message, **kwargs)
        self.error_analysis = error_analysis


class SeekrFlowFineTuneFailedError(SeekrFlowFineTuneError):
    """The fine-tune failed on the service; ``error_analysis`` says why when the service knows."""


class SeekrFlowFineTuneCancelledError(SeekrFlowFineTuneError):
    """The fine-tune was cancelled or deleted."""


class SeekrFlowFineTuneTimeoutError(SeekrFlowFineTuneError):
    """The fine-tune did not finish within the wait's timeout."""


def model_id(job: FineTune) -> str | None:
    """Return the trained model's id (the fine-tune's own id where the service names none); None unless completed."""
    if not job.succeeded:
        return None
    extra = job.model_extra or {}
    return next((str(extra[name]) for name in MODEL_ID_FIELDS if extra.get(name)), job.id)


def fine_tune_result(job: FineTune) -> dict[str, Any]:
    """
    Return a fine-tune's result ``{"job_id", "status", "model_id", "project_id", "model", "inference_available", "usage"}``.

    ``usage`` is what the service reports of its cost (``jobs.usage.fine_tune_usage``): accelerator
    type and count, wall time, and their product in accelerator-seconds.

    :param job: The fine-tune as just read.
    """
    return {
        "job_id": job.id,
        "status": job.status,
        "model_id": model_id(job),
        "project_id": job.project_id,
        "model": job.model,
        "inference_available": job.inference_available,
        "usage": fine_tune_usage(job),
    }


class FineTuneWatcher(JobWatcher):
    """A wait on a fine-tune: its status on change, and each new event (epoch, loss, reward) logged once."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._seen = 0
        self._status: str | None = None

    def get(self, job_id: str) -> Call[FineTune]:
        """Return the request that reads the fine-tune."""
        return fine_tunes.get(job_id)

    def read(self, job_id: str) -> Operation[FineTune]:
        """Read the fine-tune and its events once, logging what is new."""
        job: FineTune = yield self.get(job_id)
        events: FineTuneEvents = yield fine_tunes.events(job_id)
        self.report(job, events.data or [])
        return job

    def report(self, job: FineTune, events: list[FineTuneEvent]) -> None:
        """
        Log the events not logged yet (the service lists them oldest first), then the status if it changed.

        Events come first, so the last epoch is logged before the ``completed`` it led to.

        :param job: The fine-tune as just read.
        :param events: Its events as just listed.
        """
        for event in events[self._seen :]:
            self.info(f"Fine-tune {job.id}: {event.describe()}")
        self._seen = max(self._seen, len(events))
        if job.status != self._status:
            self._status = job.status
            self.info(f"Fine-tune {job.id}: status={job.status}")

    def cancel(self, job_id: str) -> Operation[FineTune]:
        """Cancel the fine-tune with PUT, or POST where the service refuses PUT (the contract lists both)."""
        try:
            return (yield fine_tunes.cancel(job_id, method="PUT"))  # type: ignore[no-any-return]
        except SeekrFlowAPIError as err:
            if err.status_code != fine_tunes.METHOD_NOT_ALLOWED:
                raise
        return (yield fine_tunes.cancel(job_id, method="POST"))  # type: ignore[no-any-return]

    def failure(self, job: FineTune) -> SeekrFlowJobError:
        """Return the error of a fine-tune that ended without a model, carrying the service's ``error_analysis``."""
        reasons = [str(reason) for reason in (self.status_message(job), job.error_analysis) if reason]
        return self.kind.unsuccessful_error(
            job.id or "?", job.status, "; ".join(reasons) or None, error_analysis=job.error_analysis
        )

    def completion_line(self, result: JobResult) -> str:
        """Return the task log's line for a fine-tune that completed: its model, and its accelerator time."""
        value = result.value
        return (
            f"Fine-tune {value['job_id']} completed: model {value['model_id']}, "
            f"in {describe_usage(value.get('usage'))}"
        )

    def result(self, job: FineTune) -> Operation[JobResult]:
        """Result in ``{"job_id", "status", "model_id", "project_id", "model", "inference_available", "usage"}``."""
        return answered(JobResult(fine_tune_result(job)))


FINE_TUNE = JobKind(
    key="fine_tune",
    label="Fine-tune",
    statuses=FineTuneStatus,
    watcher=FineTuneWatcher,
    state_key="seekrflow_fine_tune_id",
    job_id_xcom_key="fine_tune_id",
    errors={
        FineTuneStatus.FAILED.value: SeekrFlowFineTuneFailedError,
        FineTuneStatus.CANCELLED.value: SeekrFlowFineTuneCancelledError,
        FineTuneStatus.DELETED.value: SeekrFlowFineTuneCancelledError,
    },
    error=SeekrFlowFineTuneError,
    timeout_error=SeekrFlowFineTuneTimeoutError,
)
