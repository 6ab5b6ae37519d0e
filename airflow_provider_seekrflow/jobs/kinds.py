"""The kinds of SeekrFlow job a task waits on, and what each one's statuses mean for the task."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from airflow_provider_seekrflow._client.errors import clip
from airflow_provider_seekrflow.exceptions import (
    SeekrFlowAlignmentJobCancelledError,
    SeekrFlowAlignmentJobError,
    SeekrFlowAlignmentJobFailedError,
    SeekrFlowAlignmentJobStoppedError,
    SeekrFlowAlignmentJobTimeoutError,
    SeekrFlowDataJobCancelledError,
    SeekrFlowDataJobError,
    SeekrFlowDataJobFailedError,
    SeekrFlowDataJobTimeoutError,
    SeekrFlowFineTuneCancelledError,
    SeekrFlowFineTuneError,
    SeekrFlowFineTuneFailedError,
    SeekrFlowFineTuneTimeoutError,
    SeekrFlowJobError,
)
from airflow_provider_seekrflow.vocabulary import AlignmentJobStatus, DataJobStatus, FineTuneStatus


@dataclass(frozen=True)
class JobKind:
    """
    What a kind of job's statuses mean: which end the wait, which one is success, which error each failure is.

    :param key: The kind's name in trigger arguments: ``alignment``, ``data_job`` or ``fine_tune``.
    :param label: How log lines and errors name a job of this kind.
    :param terminal_states: The statuses a job never leaves.
    :param success_status: The one terminal status that is success.
    :param errors: The exception of each unsuccessful terminal status.
    :param error: The exception of any other unsuccessful end.
    :param timeout_error: The exception of a wait that ran out of time.
    """

    key: str
    label: str
    terminal_states: frozenset[str]
    success_status: str
    errors: Mapping[str, type[SeekrFlowJobError]] = field(default_factory=dict)
    error: type[SeekrFlowJobError] = SeekrFlowJobError
    timeout_error: type[SeekrFlowJobError] = SeekrFlowJobError

    def unsuccessful_error(
        self, job_id: str, status: str, status_message: str | None, **details: Any
    ) -> SeekrFlowJobError:
        """
        Return the exception for a job that ended in ``status`` without success.

        :param job_id: The job's id.
        :param status: Its final status.
        :param status_message: The service's explanation.
        :param details: Further fields the kind's exception takes (a fine-tune's ``error_analysis``).
        """
        error_class = self.errors.get(status, self.error)
        # The service's text goes into the task log and the exception: bounded like any service message.
        status_message = None if status_message is None else clip(str(status_message))
        reason = f": {status_message}" if status_message else " (the service gave no reason)"
        return error_class(
            f"{self.label} {job_id} ended {status}{reason}",
            job_id=job_id,
            status=status,
            status_message=status_message,
            **details,
        )

    def timed_out(self, job_id: str, message: str | None, last_status: str | None) -> SeekrFlowJobError:
        """Return the exception for a wait that ran out of time."""
        return self.timeout_error(
            message or f"{self.label} {job_id} did not finish in time",
            job_id=job_id,
            status=last_status or "unknown",
        )


ALIGNMENT = JobKind(
    key="alignment",
    label="Alignment job",
    terminal_states=AlignmentJobStatus.terminal_states(),
    success_status=AlignmentJobStatus.COMPLETED.value,
    errors={
        AlignmentJobStatus.FAILED.value: SeekrFlowAlignmentJobFailedError,
        AlignmentJobStatus.CANCELLED.value: SeekrFlowAlignmentJobCancelledError,
        AlignmentJobStatus.STOPPED.value: SeekrFlowAlignmentJobStoppedError,
    },
    error=SeekrFlowAlignmentJobError,
    timeout_error=SeekrFlowAlignmentJobTimeoutError,
)
DATA_JOB = JobKind(
    key="data_job",
    label="Data job",
    terminal_states=DataJobStatus.terminal_states(),
    success_status=DataJobStatus.COMPLETED.value,
    errors={
        DataJobStatus.FAILED.value: SeekrFlowDataJobFailedError,
        DataJobStatus.STOPPED.value: SeekrFlowDataJobFailedError,
        DataJobStatus.CANCELLED.value: SeekrFlowDataJobCancelledError,
    },
    error=SeekrFlowDataJobError,
    timeout_error=SeekrFlowDataJobTimeoutError,
)
FINE_TUNE = JobKind(
    key="fine_tune",
    label="Fine-tune",
    terminal_states=FineTuneStatus.terminal_states(),
    success_status=FineTuneStatus.COMPLETED.value,
    errors={
        FineTuneStatus.FAILED.value: SeekrFlowFineTuneFailedError,
        FineTuneStatus.CANCELLED.value: SeekrFlowFineTuneCancelledError,
        FineTuneStatus.DELETED.value: SeekrFlowFineTuneCancelledError,
    },
    error=SeekrFlowFineTuneError,
    timeout_error=SeekrFlowFineTuneTimeoutError,
)
KINDS: Mapping[str, JobKind] = {kind.key: kind for kind in (ALIGNMENT, DATA_JOB, FINE_TUNE)}
