"""Wait for a SeekrFlow alignment job in the triggerer, without holding a worker slot."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Awaitable
from typing import Any, TypeVar

from airflow.triggers.base import BaseTrigger, TriggerEvent

from airflow_provider_seekrflow._client.polling import next_poll_delay
from airflow_provider_seekrflow.exceptions import (
    SeekrFlowConnectionError,
    SeekrFlowError,
    SeekrFlowRateLimitError,
    SeekrFlowServerError,
)
from airflow_provider_seekrflow.jobs.events import EVENT_ERROR, EVENT_TIMEOUT, job_event
from airflow_provider_seekrflow.jobs.progress import ProgressLog

# Failures a later poll may not see again; the hook has already retried them with its policy.
_TRANSIENT_ERRORS = (SeekrFlowConnectionError, SeekrFlowServerError, SeekrFlowRateLimitError)
# Cancelling on kill gets this long before the triggerer gives up on it.
CANCEL_TIMEOUT_SECONDS = 30.0
# Airflow 3.3 tells a trigger that a user killed its task; older versions only cancel the coroutine.
_TRIGGER_HAS_ON_KILL = "on_kill" in BaseTrigger.__dict__
# Reading the task's state after a cancellation gets this long; past it the job is left running.
STATE_LOOKUP_TIMEOUT_SECONDS = 10.0
# Tasks of _shielded, referenced until done: one may outlive its trigger's coroutine.
_SHIELDED: set[asyncio.Future[Any]] = set()
_T = TypeVar("_T")


def _shielded(awaitable: Awaitable[_T]) -> Awaitable[_T]:
    """
    Run ``awaitable`` in a task of its own, which cancelling the caller does not cancel.

    The triggerer cancels a trigger on each of its loops until it ends, and before Airflow 3.3 a request
    to the triggerer's supervisor cancelled in flight leaves its answer to the next request, whose
    "Response read out of order!" kills the trigger runner (apache/airflow#64620).
    """
    task = asyncio.ensure_future(awaitable)
    _SHIELDED.add(task)
    task.add_done_callback(_SHIELDED.discard)
    return asyncio.shield(task)


async def _task_state(ti: Any) -> str | None:
    """The task instance's state, read the way this Airflow lets a trigger read it, off the event loop."""
    from asgiref.sync import sync_to_async

    dag_id, task_id, run_id, map_index = ti.dag_id, ti.task_id, ti.run_id, ti.map_index
    try:
        from airflow.sdk.execution_time.task_runner import RuntimeTaskInstance
    except ImportError:  # Airflow 2: the triggerer has the database; the query runs in a thread.
        return await sync_to_async(_task_state_from_db)(dag_id, task_id, run_id, map_index)
    # Airflow 3.0-3.2: the Task SDK asks the triggerer's supervisor (bridging back into this loop, hence
    # the thread); the answer is {run_id: {task_id, or f"{task_id}_{map_index}" if mapped: state}}.
    states = await sync_to_async(RuntimeTaskInstance.get_task_states)(
        dag_id=dag_id, task_ids=[task_id], run_ids=[run_id], map_index=map_index
    )
    key = task_id if map_index is None or map_index < 0 else f"{task_id}_{map_index}"
    return states[run_id][key]  # a KeyError fails the lookup, like any other error


def _task_state_from_db(dag_id: str, task_id: str, run_id: str, map_index: int) -> str | None:
    from airflow.models.taskinstance import TaskInstance
    from airflow.utils.session import create_session

    with create_session() as session:
        where = dict(dag_id=dag_id, task_id=task_id, run_id=run_id, map_index=map_index)
        return session.query(TaskInstance.state).filter_by(**where).one()[0]  # no row: NoResultFound


class SeekrFlowAlignmentJobTrigger(BaseTrigger):
    """
    Poll an alignment job until it ends or the deadline passes, then fire exactly one event.

    The event's ``status`` is the job's terminal status, ``timeout`` or ``error``; it also carries
    ``job_id``, ``status_message`` and ``message``.

    :param job_id: The alignment job to wait for.
    :param seekrflow_conn_id: The Airflow connection to use.
    :param poll_interval: The longest sleep between two status checks, in seconds.
    :param min_poll_interval: The shortest sleep between two status checks, in seconds.
    :param end_time: Epoch seconds after which the trigger fires a ``timeout`` event; None waits for ever.
    :param cancel_on_kill: Whether a user killing the deferred task cancels the job.
    :param hook_params: Keyword arguments for the async hook (``timeout``, ``max_retries``); never a secret.
    """

    def __init__(
        self,
        job_id: str,
        seekrflow_conn_id: str,
        poll_interval: float = 300.0,
        min_poll_interval: float = 5.0,
        end_time: float | None = None,
        cancel_on_kill: bool = True,
        hook_params: dict[str, Any] | None = None,
    ) -> None:
        super().__init__()
        self.job_id = job_id
        self.seekrflow_conn_id = seekrflow_conn_id
        self.poll_interval = float(poll_interval)
        self.min_poll_interval = float(min_poll_interval)
        self.end_time = end_time
        self.cancel_on_kill = cancel_on_kill
        self.hook_params = dict(hook_params or {})

    def serialize(self) -> tuple[str, dict[str, Any]]:
        """Return the class path and the plain values that rebuild this trigger; never a secret."""
        return (
            f"{type(self).__module__}.{type(self).__qualname__}",
            {
                "job_id": self.job_id,
                "seekrflow_conn_id": self.seekrflow_conn_id,
                "poll_interval": self.poll_interval,
                "min_poll_interval": self.min_poll_interval,
                "end_time": self.end_time,
                "cancel_on_kill": self.cancel_on_kill,
                "hook_params": self.hook_params,
            },
        )

    def _hook(self) -> Any:
        from airflow_provider_seekrflow.hooks.seekrflow_async import SeekrFlowAsyncHook

        return SeekrFlowAsyncHook(self.seekrflow_conn_id, **self.hook_params)

    def _event(self, status: str, message: str, status_message: str | None = None) -> TriggerEvent:
        return TriggerEvent(job_event(self.job_id, status, message, status_message))

    async def run(self) -> AsyncIterator[TriggerEvent]:
        """Poll the job, sleeping toward its completion estimate, and yield one event."""
        try:
            async for event in self._poll():
                yield event
        except asyncio.CancelledError:
            # Airflow 3.3 calls on_kill for a user's kill; older versions only cancel this coroutine, on
            # a kill and on a triggerer restart alike, so the task's state tells the two apart.
            if not _TRIGGER_HAS_ON_KILL and self.cancel_on_kill:
                await _shielded(self._cancel_if_killed())
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
            state = await asyncio.wait_for(_shielded(_task_state(ti)), STATE_LOOKUP_TIMEOUT_SECONDS)
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
        progress = ProgressLog(self.log.info, self.log.warning)
        last_status: str | None = None
        while True:
            if self.end_time is not None and time.time() >= self.end_time:
                return self._event(
                    EVENT_TIMEOUT,
                    f"Alignment job {self.job_id} was still {last_status or 'unfinished'} when the wait timed out",
                    None,
                )
            try:
                await _shielded(hook.get_config())  # the connection: a request to the supervisor on 3.x
                job = await hook.get_alignment_job(self.job_id)
            except _TRANSIENT_ERRORS as err:
                # Retries are exhausted for this poll, but the job may be fine; keep waiting.
                self.log.warning("Checking alignment job %s failed, will check again: %s", self.job_id, err)
                delay = self.poll_interval
            except SeekrFlowError as err:
                return self._event(EVENT_ERROR, str(err))
            except Exception as err:
                return self._event(EVENT_ERROR, f"{type(err).__name__}: {err}")
            else:
                progress(job)
                last_status = job.status
                if job.is_terminal:
                    return self._event(
                        job.status, f"Alignment job {self.job_id} ended {job.status}", job.status_message
                    )
                delay = next_poll_delay(
                    job, poll_interval=self.poll_interval, min_interval=self.min_poll_interval
                )
            if self.end_time is not None:
                delay = max(0.0, min(delay, self.end_time - time.time()))
            await asyncio.sleep(delay)

    async def on_kill(self) -> None:
        """Cancel the job when a user kills the deferred task (Airflow 3.3 calls it; before 3.3, ``run`` does)."""
        if not self.cancel_on_kill:
            return
        try:
            async with self._hook() as hook:  # its HTTP session closes with the block if no trigger holds it
                job = await asyncio.wait_for(hook.cancel_alignment_job(self.job_id), CANCEL_TIMEOUT_SECONDS)
        except Exception as err:
            self.log.warning("Could not cancel alignment job %s: %s", self.job_id, err)
        else:
            self.log.info("Cancelled alignment job %s on kill; it is now %s", self.job_id, job.status)
