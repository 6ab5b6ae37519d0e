"""Wait for a SeekrFlow alignment job in the triggerer, without holding a worker slot."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from typing import Any

from airflow.triggers.base import BaseTrigger, TriggerEvent

from airflow_provider_seekrflow._client.polling import next_poll_delay
from airflow_provider_seekrflow.exceptions import (
    SeekrFlowConnectionError,
    SeekrFlowError,
    SeekrFlowRateLimitError,
    SeekrFlowServerError,
)
from airflow_provider_seekrflow.job_outcome import EVENT_ERROR, EVENT_TIMEOUT, ProgressLog

# Failures a later poll may not see again; the hook has already retried them with its policy.
_TRANSIENT_ERRORS = (SeekrFlowConnectionError, SeekrFlowServerError, SeekrFlowRateLimitError)
# Cancelling on kill gets this long before the triggerer gives up on it.
CANCEL_TIMEOUT_SECONDS = 30.0
# Airflow 3.3 tells a trigger that a user killed its task; older versions only cancel the coroutine.
_TRIGGER_HAS_ON_KILL = "on_kill" in BaseTrigger.__dict__


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
    :param cancel_on_kill: Whether a user killing the task cancels the job (Airflow 3.3 and later).
    """

    def __init__(
        self,
        job_id: str,
        seekrflow_conn_id: str,
        poll_interval: float = 300.0,
        min_poll_interval: float = 5.0,
        end_time: float | None = None,
        cancel_on_kill: bool = True,
    ) -> None:
        super().__init__()
        self.job_id = job_id
        self.seekrflow_conn_id = seekrflow_conn_id
        self.poll_interval = float(poll_interval)
        self.min_poll_interval = float(min_poll_interval)
        self.end_time = end_time
        self.cancel_on_kill = cancel_on_kill

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
            },
        )

    def _hook(self) -> Any:
        from airflow_provider_seekrflow.hooks.seekrflow_async import SeekrFlowAsyncHook

        return SeekrFlowAsyncHook(self.seekrflow_conn_id)

    def _event(self, status: str, message: str, status_message: str | None = None) -> TriggerEvent:
        return TriggerEvent(
            {"job_id": self.job_id, "status": status, "status_message": status_message, "message": message}
        )

    async def run(self) -> AsyncIterator[TriggerEvent]:
        """Poll the job, sleeping toward its completion estimate, and yield one event."""
        try:
            async for event in self._poll():
                yield event
        except asyncio.CancelledError:
            # Airflow 3.3 calls on_kill for a user's kill; Airflow 2 only cancels this coroutine, on
            # a kill and on a triggerer restart alike, so the task's state tells the two apart.
            if not _TRIGGER_HAS_ON_KILL and self.cancel_on_kill and self._task_left_deferred_state():
                await self.on_kill()
            raise

    def _task_left_deferred_state(self) -> bool:
        ti = getattr(self, "task_instance", None)
        if ti is None:
            return False
        try:
            from airflow.models.taskinstance import TaskInstance
            from airflow.utils.session import create_session
            from airflow.utils.state import TaskInstanceState

            with create_session() as session:
                state = (
                    session.query(TaskInstance.state)
                    .filter_by(dag_id=ti.dag_id, task_id=ti.task_id, run_id=ti.run_id, map_index=ti.map_index)
                    .scalar()
                )
        except Exception as err:
            self.log.warning("Could not read the state of task %s: %s", getattr(ti, "task_id", "?"), err)
            return False
        return state != TaskInstanceState.DEFERRED

    async def _poll(self) -> AsyncIterator[TriggerEvent]:
        hook = self._hook()
        progress = ProgressLog(self.log.info)
        last_status: str | None = None
        while True:
            if self.end_time is not None and time.time() >= self.end_time:
                yield self._event(
                    EVENT_TIMEOUT,
                    f"Alignment job {self.job_id} was still {last_status or 'unfinished'} when the wait timed out",
                    None,
                )
                return
            try:
                job = await hook.get_alignment_job(self.job_id)
            except _TRANSIENT_ERRORS as err:
                # Retries are exhausted for this poll, but the job may be fine; keep waiting.
                self.log.warning("Checking alignment job %s failed, will check again: %s", self.job_id, err)
                delay = self.poll_interval
            except SeekrFlowError as err:
                yield self._event(EVENT_ERROR, str(err))
                return
            except Exception as err:
                yield self._event(EVENT_ERROR, f"{type(err).__name__}: {err}")
                return
            else:
                progress(job)
                last_status = job.status
                if job.is_terminal:
                    yield self._event(
                        job.status, f"Alignment job {self.job_id} ended {job.status}", job.status_message
                    )
                    return
                delay = next_poll_delay(
                    job, poll_interval=self.poll_interval, min_interval=self.min_poll_interval
                )
            if self.end_time is not None:
                delay = max(0.0, min(delay, self.end_time - time.time()))
            await asyncio.sleep(delay)

    async def on_kill(self) -> None:
        """Cancel the job when a user kills the deferred task (Airflow 3.3 calls it; on 2.x, ``run`` does)."""
        if not self.cancel_on_kill:
            return
        try:
            job = await asyncio.wait_for(
                self._hook().cancel_alignment_job(self.job_id), CANCEL_TIMEOUT_SECONDS
            )
        except Exception as err:
            self.log.warning("Could not cancel alignment job %s: %s", self.job_id, err)
        else:
            self.log.info("Cancelled alignment job %s on kill; it is now %s", self.job_id, job.status)
