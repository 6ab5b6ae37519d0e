"""Wait for a SeekrFlow job of any kind in the triggerer, without holding a worker slot: one polling loop."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from typing import Any

from airflow.triggers.base import BaseTrigger, TriggerEvent

from airflow_provider_seekrflow.client.deadline import bounded_by
from airflow_provider_seekrflow.client.errors import clip
from airflow_provider_seekrflow.client.log_text import for_log
from airflow_provider_seekrflow.client.polling import NextCheck
from airflow_provider_seekrflow.defaults import UNTIL_END
from airflow_provider_seekrflow.exceptions import (
    SeekrFlowConnectionError,
    SeekrFlowDeadlineError,
    SeekrFlowError,
    SeekrFlowRateLimitError,
    SeekrFlowServerError,
)
from airflow_provider_seekrflow.jobs.base import JobWatcher
from airflow_provider_seekrflow.jobs.events import EVENT_ERROR, EVENT_TIMEOUT, job_event
from airflow_provider_seekrflow.jobs.kinds import KINDS
from airflow_provider_seekrflow.triggers.task_state import shielded, task_state

# Failures a later poll may not see again; the hook has already retried them with its policy.
_TRANSIENT_ERRORS = (SeekrFlowConnectionError, SeekrFlowServerError, SeekrFlowRateLimitError)
# Cancelling on kill gets this long before the triggerer gives up on it.
CANCEL_TIMEOUT_SECONDS = 30.0
# Airflow 3.3 tells a trigger that a user killed its task; older versions only cancel the coroutine.
_TRIGGER_HAS_ON_KILL = "on_kill" in BaseTrigger.__dict__
# Reading the task's state after a cancellation gets this long; past it the job is left running.
STATE_LOOKUP_TIMEOUT_SECONDS = 10.0


class SeekrFlowJobTrigger(BaseTrigger):
    """
    Poll a SeekrFlow job of any kind (``jobs.kinds.KINDS``) until the wait is over, then fire exactly one event.

    The kind of job says how to read its status and progress and how long to sleep between checks;
    the guarantees are the same for every kind: one event, transient errors keep polling, the event
    loop is never blocked, and a user's kill of the deferred task cancels the job. The event's
    ``status`` is the job's status when the wait ended, ``timeout`` or ``error``; it also carries
    ``job_id``, ``status_message`` and ``message``.

    :param kind: The kind's key in ``jobs.kinds.KINDS``: ``alignment``, ``data_job``, ``fine_tune``, ``deployment``...
    :param job_id: The job to wait for.
    :param seekrflow_conn_id: The Airflow connection to use.
    :param until: What to wait for: ``end`` (a terminal status), or ``ingestion`` (a data job's files
        ingested, or the job in review).
    :param poll_interval: The longest sleep between two status checks, in seconds.
    :param min_poll_interval: The shortest sleep between two status checks, in seconds.
    :param end_time: Epoch seconds after which the trigger fires a ``timeout`` event; None waits for
        ever. It is read once when the wait starts and counted down on the monotonic clock, so a step
        of the triggerer's clock during the wait moves nothing; each status check is bounded by the
        time left, and one still in flight when it runs out ends the wait with the same event.
    :param cancel_on_kill: Whether a user killing the deferred task cancels the job.
    :param hook_params: Keyword arguments for the async hook (``timeout``, ``max_retries``); never a secret.
    """

    def __init__(
        self,
        kind: str,
        job_id: str,
        seekrflow_conn_id: str,
        until: str = UNTIL_END,
        poll_interval: float = 300.0,
        min_poll_interval: float = 5.0,
        end_time: float | None = None,
        cancel_on_kill: bool = True,
        hook_params: dict[str, Any] | None = None,
    ) -> None:
        super().__init__()
        if kind not in KINDS:
            raise ValueError(f"kind: {kind!r} is not one of {', '.join(KINDS)}")
        self.kind = kind
        self.job_id = job_id
        self.seekrflow_conn_id = seekrflow_conn_id
        self.until = until
        self.poll_interval = float(poll_interval)
        self.min_poll_interval = float(min_poll_interval)
        self.end_time = end_time
        self.cancel_on_kill = cancel_on_kill
        self.hook_params = dict(hook_params or {})
        self.watcher: JobWatcher = KINDS[kind].watch(until, self._info, self._warn)

    # Bound late: the triggerer gives each trigger its own logger after construction.
    def _info(self, line: str) -> None:
        self.log.info("%s", line)

    def _warn(self, line: str) -> None:
        self.log.warning("%s", line)

    def serialize(self) -> tuple[str, dict[str, Any]]:
        """Return the class path and the plain values that rebuild this trigger; never a secret."""
        return (
            f"{type(self).__module__}.{type(self).__qualname__}",
            {
                "kind": self.kind,
                "job_id": self.job_id,
                "seekrflow_conn_id": self.seekrflow_conn_id,
                "until": self.until,
                "poll_interval": self.poll_interval,
                "min_poll_interval": self.min_poll_interval,
                "end_time": self.end_time,
                "cancel_on_kill": self.cancel_on_kill,
                "hook_params": self.hook_params,
            },
        )

    @property
    def label(self) -> str:
        """How log lines and events name this job."""
        return f"{self.watcher.kind.label} {self.job_id}"

    def _hook(self) -> Any:
        from airflow_provider_seekrflow.hooks.seekrflow_async import SeekrFlowAsyncHook

        return SeekrFlowAsyncHook(self.seekrflow_conn_id, **self.hook_params)

    def _event(self, status: str, message: str, status_message: str | None = None) -> TriggerEvent:
        return TriggerEvent(job_event(self.job_id, status, message, status_message, self.end_time))

    def _timeout_event(self, last_status: str | None) -> TriggerEvent:
        return self._event(
            EVENT_TIMEOUT, f"{self.label} was still {last_status or 'unfinished'} when the wait timed out"
        )

    def _monotonic_deadline(self) -> float | None:
        """Return the wait's end on the monotonic clock, read once from ``end_time``, so a later clock step moves nothing."""
        if self.end_time is None:
            return None
        left = self.end_time - time.time()
        self.log.info("%s: %.0f s of the wait left by this triggerer's clock", self.label, max(0.0, left))
        return time.monotonic() + left

    async def run(self) -> AsyncIterator[TriggerEvent]:
        """Poll the job, sleeping as its kind says, and yield one event."""
        try:
            async for event in self._poll():
                yield event
        except asyncio.CancelledError:
            # Airflow 3.3 calls on_kill for a user's kill; older versions only cancel this coroutine, on
            # a kill and on a triggerer restart alike, so the task's state tells the two apart.
            if not _TRIGGER_HAS_ON_KILL and self.cancel_on_kill:
                await shielded(self._cancel_if_killed())
            raise

    async def _cancel_if_killed(self) -> None:
        if await self.safe_to_cancel():
            await self.on_kill()

    async def safe_to_cancel(self) -> bool:
        """Whether the task left the deferred state (a user's kill); False whenever its state is unknown."""
        ti = getattr(self, "task_instance", None)
        if ti is None:
            return False
        try:
            state = await asyncio.wait_for(shielded(task_state(ti)), STATE_LOOKUP_TIMEOUT_SECONDS)
        except Exception as err:
            self.log.warning("Could not read the state of task %s: %r", getattr(ti, "task_id", "?"), err)
            return False
        self.log.info("Task %s is %s after the trigger was cancelled", ti.task_id, state)
        return state != "deferred"

    async def _poll(self) -> AsyncIterator[TriggerEvent]:
        # The connection's shared HTTP session is held for the whole wait and given back before the
        # event is yielded, so a trigger that fired holds nothing open even if it is never resumed.
        async with self._hook() as hook:
            event = await self._wait(hook)
        yield event

    async def _wait(self, hook: Any) -> TriggerEvent:
        last_status: str | None = None
        deadline = self._monotonic_deadline()
        while True:
            left = None if deadline is None else deadline - time.monotonic()
            if left is not None and left <= 0:
                return self._timeout_event(last_status)
            try:
                # Every request of this check ends by the deadline, however slowly the service answers.
                with bounded_by(left):
                    await shielded(hook.get_config())  # the connection: a request to the supervisor on 3.x
                    job = await hook.run(self.watcher.read(self.job_id))
            except SeekrFlowDeadlineError:
                # Time ran out mid-check: the same event as running out between checks.
                return self._timeout_event(last_status)
            except _TRANSIENT_ERRORS as err:
                # Retries are exhausted for this poll, but the job may be fine; keep waiting.
                self.log.warning(
                    "Checking %s failed, will check again: %s", self.label, for_log(clip(str(err)))
                )
                delay = self.poll_interval
            except SeekrFlowError as err:
                return self._event(EVENT_ERROR, str(err))
            except Exception as err:
                return self._event(EVENT_ERROR, f"{type(err).__name__}: {err}")
            else:
                last_status = str(job.status)
                if self.watcher.is_over(job):
                    verb = "ended" if job.is_terminal else "is"
                    return self._event(
                        last_status, f"{self.label} {verb} {last_status}", self.watcher.status_message(job)
                    )
                plan = self._plan(job)
                if deadline is not None and plan.seconds > deadline - time.monotonic():
                    plan = NextCheck(max(0.0, deadline - time.monotonic()), "the wait's deadline comes first")
                # A deferred wait is quiet between checks; this line says the quiet is intended.
                self.log.info("%s: %s", self.label, plan.describe())
                delay = plan.seconds
            if deadline is not None:
                delay = max(0.0, min(delay, deadline - time.monotonic()))
            await asyncio.sleep(delay)

    def _plan(self, job: Any) -> NextCheck:
        # Made of the service's numbers: a plan that cannot be made must not end the wait.
        try:
            return self.watcher.next_check(
                job, poll_interval=self.poll_interval, min_interval=self.min_poll_interval
            )
        except Exception as err:
            self.log.warning(
                "%s: could not plan the next check (%r); checking at poll_interval", self.label, err
            )
            return NextCheck(self.poll_interval, "the service's estimate could not be read")

    async def on_kill(self) -> None:
        """Cancel the job when a user kills the deferred task (Airflow 3.3 calls it; before 3.3, ``run`` does)."""
        if not self.cancel_on_kill:
            return
        try:
            async with self._hook() as hook:  # its HTTP session closes with the block if no trigger holds it
                job = await asyncio.wait_for(
                    hook.run(self.watcher.cancel(self.job_id)), CANCEL_TIMEOUT_SECONDS
                )
                status = str(job.status)
        except Exception as err:
            self.log.warning("Could not cancel %s: %s", self.label, for_log(str(err)))
        else:
            self.log.info("Cancelled %s on kill; it is now %s", self.label, for_log(status))
