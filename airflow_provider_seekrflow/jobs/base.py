"""
What every job kind is made of: a ``JobKind`` (statuses, errors, keys) and a ``JobWatcher`` (one wait).

A kind's module (``jobs/alignment.py``, ``jobs/data_job.py``, ``jobs/fine_tune.py``,
``jobs/deployment.py``; the registry is ``jobs/kinds.py``) fills these in;
the operator, the sensor, the trigger and both hooks read it instead of restating it. Reads and
cancels are *operations*: generators that yield the :class:`~airflow_provider_seekrflow.client.endpoints.Call`
each step needs and receive its answer (or its exception), so the worker's blocking wait
(:func:`run_sync`) and the triggerer's event loop (:func:`run_async`) run the same definition.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Generator, Mapping
from dataclasses import dataclass, field
from typing import Any, TypeVar

from airflow_provider_seekrflow.client.endpoints import Call
from airflow_provider_seekrflow.client.errors import clip
from airflow_provider_seekrflow.client.log_text import for_log
from airflow_provider_seekrflow.client.multipart import human_bytes
from airflow_provider_seekrflow.client.polling import NextCheck, plan_steady_check
from airflow_provider_seekrflow.defaults import UNTIL_END
from airflow_provider_seekrflow.exceptions import SeekrFlowJobError

T = TypeVar("T")
Log = Callable[[str], None]
#: A sequence of requests with the decisions between them; its return value is the operation's result.
Operation = Generator[Call[Any], Any, T]


def run_sync(operation: Operation[T], send: Callable[[Call[Any]], Any]) -> T:
    """
    Run ``operation`` with a blocking ``send``, handing each answer (or exception) back to it.

    :param operation: The operation, as its generator.
    :param send: Sends one call and returns its answer.
    """
    answer: Any = None
    failure: BaseException | None = None
    while True:
        # Outside any except clause: a failure the operation turns into another does not chain to it.
        try:
            call = operation.throw(failure) if failure is not None else operation.send(answer)
        except StopIteration as finished:
            return finished.value  # type: ignore[no-any-return]
        answer, failure = None, None
        try:
            answer = send(call)
        except Exception as err:
            failure = err


async def run_async(operation: Operation[T], send: Callable[[Call[Any]], Awaitable[Any]]) -> T:
    """
    Run ``operation`` on the event loop with ``send``, handing each answer (or exception) back to it.

    :param operation: The operation, as its generator.
    :param send: Sends one call and returns its answer.
    """
    answer: Any = None
    failure: BaseException | None = None
    while True:
        try:
            call = operation.throw(failure) if failure is not None else operation.send(answer)
        except StopIteration as finished:
            return finished.value  # type: ignore[no-any-return]
        answer, failure = None, None
        try:
            answer = await send(call)
        except Exception as err:
            failure = err


def answered(value: T) -> Operation[T]:
    """Return an operation that sends nothing and results in ``value``."""
    yield from ()
    return value


def _quiet(line: str) -> None:
    """Log nothing: a watcher made only to build a request."""


def escaping(log: Log) -> Log:
    """Return ``log`` with every line escaped: each holds the service's text, which must not break the log line."""
    return lambda line: log(for_log(line))


def completed_line(label: str, outputs: list[dict[str, Any]], training_file_id: str | None) -> str:
    """
    Return the task log's line for a job that completed: every output file, and which one to train on.

    :param label: The job, e.g. ``Data job dj-1``.
    :param outputs: Its output files, as the task's result lists them.
    :param training_file_id: The id of the training file (the ``fine-tune`` output), if any.
    """
    if not outputs:
        return f"{label} completed without output files"
    described = []
    for output in outputs:
        text = f"{output.get('filename') or '(unnamed)'} ({output['id']}"
        if output.get("bytes") is not None:
            text += f", {human_bytes(output['bytes'])}"
        if output["id"] == training_file_id:
            text += "; the training file, in XCom fine_tune_file_id"
        elif output.get("purpose"):
            text += f"; purpose {output['purpose']}"
        described.append(text + ")")
    line = f"{label} completed with {len(outputs)} output file(s): {', '.join(described)}"
    if training_file_id is None:
        line += "; none of them is a fine-tune training file"
    return for_log(line)  # file names and purposes are the service's text


@dataclass(frozen=True)
class JobResult:
    """
    What a job that is over means for the task: its XCom value and the training file it made.

    :param value: The task's return value (``{"job_id", "status", ...}``).
    :param training_file_id: The ``fine-tune`` output's id, for jobs that make training data.
    """

    value: dict[str, Any]
    training_file_id: str | None = None


@dataclass(frozen=True)
class JobKind:
    """
    One kind of SeekrFlow job, as every task that runs or watches it reads it.

    :param key: The kind's name in trigger arguments and asset events: ``alignment``, ``data_job``...
    :param label: How log lines and errors name a job of this kind.
    :param statuses: The service's status enum for the kind (``vocabulary``), with its sets.
    :param watcher: The class that reads, paces, reports and cancels one wait for a job of the kind.
    :param state_key: The task state store key of the job id; renaming it loses in-flight retries' jobs.
    :param job_id_xcom_key: The XCom key the job id is pushed under as soon as the job exists.
    :param errors: The exception of each unsuccessful terminal status.
    :param error: The exception of any other unsuccessful end.
    :param timeout_error: The exception of a wait that ran out of time.
    :param makes_training_data: Whether a completed job's ``fine-tune`` output is announced on assets.
    """

    key: str
    label: str
    statuses: Any
    watcher: type[JobWatcher]
    state_key: str
    job_id_xcom_key: str
    errors: Mapping[str, type[SeekrFlowJobError]] = field(default_factory=dict)
    error: type[SeekrFlowJobError] = SeekrFlowJobError
    timeout_error: type[SeekrFlowJobError] = SeekrFlowJobError
    makes_training_data: bool = False

    @property
    def terminal_states(self) -> frozenset[str]:
        """Return the statuses a job of this kind never leaves."""
        return frozenset(self.statuses.terminal_states())

    @property
    def success_status(self) -> str:
        """Return the one terminal status that is success."""
        return str(self.statuses.success_state())

    def watch(self, until: str, info: Log, warn: Log | None = None) -> JobWatcher:
        """
        Return a watcher for one wait on a job of this kind.

        :param until: What the wait waits for (``end``, or a kind's own phases).
        :param info: Called with each progress line.
        :param warn: Called with each warning; ``info`` when not given.
        """
        return self.watcher(self, until, info, warn or info)

    def get(self, job_id: str) -> Call[Any]:
        """Return the request that reads a job of this kind, without logging anything."""
        return self.watch(UNTIL_END, _quiet).get(job_id)

    def cancel(self, job_id: str) -> Operation[Any]:
        """Return the operation that cancels a job of this kind (a kind's fallbacks included)."""
        return self.watch(UNTIL_END, _quiet).cancel(job_id)

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


class JobWatcher:
    """
    One wait on one job of a kind: read it (logging progress), decide whether the wait is over, pace, cancel.

    One watcher serves one wait, so it may remember what it has logged. The operator's worker
    wait, the sensor's pokes and the trigger all use it; each kind's module subclasses it.

    :param kind: The kind of job.
    :param until: What the wait waits for: ``end``, or one of the kind's ``waits_for``.
    :param info: Called with each progress line.
    :param warn: Called with each warning.
    """

    #: What a wait of this kind may wait for.
    waits_for: frozenset[str] = frozenset({UNTIL_END})

    def __init__(self, kind: JobKind, until: str, info: Log, warn: Log) -> None:
        if until not in self.waits_for:
            raise ValueError(f"until: a {kind.key} wait waits for {sorted(self.waits_for)}, not {until!r}")
        self.kind = kind
        self.until = until
        self.info = escaping(info)
        self.warn = escaping(warn)
        self._unknown_statuses: set[str] = set()

    def get(self, job_id: str) -> Call[Any]:
        """Return the request that reads the job."""
        raise NotImplementedError

    def read(self, job_id: str) -> Operation[Any]:
        """Read the job once (and anything the task log reports with it), logging what changed."""
        raise NotImplementedError

    def cancel(self, job_id: str) -> Operation[Any]:
        """Cancel the job and result in the job as the service then describes it."""
        raise NotImplementedError

    def result(self, job: Any) -> Operation[JobResult]:
        """Result in what the job, as last read, means for the task."""
        raise NotImplementedError

    def completion_line(self, result: JobResult) -> str:
        """Return the task log's line for a job that completed: its outputs, and which one to train on."""
        label = f"{self.kind.label} {result.value['job_id']}"
        return completed_line(label, result.value.get("output_files", []), result.training_file_id)

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

    def failure(self, job: Any) -> SeekrFlowJobError:
        """Return the exception for the job, as read, that ended without success."""
        return self.kind.unsuccessful_error(job.id, job.status, self.status_message(job))

    def warn_unknown_status(self, job_id: str, status: str) -> None:
        """Warn once per status that the service reported one the provider does not know; the wait goes on."""
        if status in self.kind.statuses.known_states() or status in self._unknown_statuses:
            return
        self._unknown_statuses.add(status)
        ends = ", ".join(sorted(self.kind.terminal_states))
        self.warn(
            f"{self.kind.label} {job_id} reports status {status!r}, which this provider does not "
            f"know; treating it as not finished and waiting for {ends}"
        )
