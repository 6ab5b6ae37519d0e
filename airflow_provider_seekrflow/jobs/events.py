"""The one event a job trigger sends, and what it means for the task that deferred."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal

from airflow_provider_seekrflow.client.errors import clip
from airflow_provider_seekrflow.defaults import UNTIL_END
from airflow_provider_seekrflow.exceptions import SeekrFlowError
from airflow_provider_seekrflow.jobs.base import JobKind

# Trigger events carry the job's status when the wait ended, or one of these.
EVENT_TIMEOUT = "timeout"
EVENT_ERROR = "error"

OutcomeKind = Literal["completed", "unsuccessful", "timeout", "error"]


def job_event(
    job_id: str, status: str, message: str, status_message: str | None = None, end_time: float | None = None
) -> dict[str, Any]:
    """
    Return a trigger event's payload: plain values only, never a secret, each text bounded.

    The payload is stored in the metadata database and logged: the messages are cut to about 4 KB.

    :param job_id: The job the trigger waited on.
    :param status: The job's terminal status, ``timeout`` or ``error``.
    :param message: What happened, for the task log.
    :param status_message: The service's own explanation, when it gave one.
    :param end_time: The wait's deadline (epoch seconds), so a task that waits again keeps it even
        where Airflow resumes it with the event alone (``dag.test()``).
    """
    return {
        "job_id": job_id,
        "status": status,
        "status_message": None if status_message is None else clip(str(status_message)),
        "message": clip(str(message)),
        "end_time": end_time,
    }


@dataclass(frozen=True)
class Outcome:
    """
    What a trigger's event means for the task.

    :param kind: ``completed``, ``unsuccessful`` (failed, cancelled, stopped), ``timeout`` or ``error``.
    :param job_id: The job.
    :param status: The event's status.
    :param message: The trigger's message.
    :param status_message: The service's explanation of an unsuccessful end.
    """

    kind: OutcomeKind
    job_id: str
    status: str
    message: str | None
    status_message: str | None


def event_outcome(
    event: Any, expected_job_id: str | None, kind: JobKind, *, until: str = UNTIL_END
) -> Outcome:
    """
    Return what a trigger's event means, after checking its shape; a missing or strange event fails loudly.

    :param event: What the trigger sent.
    :param expected_job_id: The job the task deferred on, when known.
    :param kind: The kind of job waited on.
    :param until: What the wait waited for: the job's end, or the end of its ingestion (then any
        status that is not an unsuccessful end means the wait is over).
    """
    if not isinstance(event, dict) or "status" not in event or "job_id" not in event:
        raise SeekrFlowError(f"SeekrFlow trigger sent an unexpected event: {event!r}")
    if expected_job_id is not None and event["job_id"] != expected_job_id:
        raise SeekrFlowError(
            f"SeekrFlow trigger sent an event for job {event['job_id']!r}, not {expected_job_id!r}"
        )
    status = event["status"]
    kind_of_end: OutcomeKind
    if status == EVENT_TIMEOUT:
        kind_of_end = "timeout"
    elif status == EVENT_ERROR:
        kind_of_end = "error"
    elif status == kind.success_status:
        kind_of_end = "completed"
    elif status in kind.terminal_states:
        kind_of_end = "unsuccessful"
    elif until != UNTIL_END:
        kind_of_end = "completed"
    else:
        raise SeekrFlowError(f"SeekrFlow trigger sent an event with unknown status {status!r}: {event!r}")
    return Outcome(kind_of_end, event["job_id"], status, event.get("message"), event.get("status_message"))
