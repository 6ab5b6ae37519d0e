"""When a job operator's wait must end: its own ``timeout``, Airflow's ``execution_timeout``, and a triggerer's clock."""

from __future__ import annotations

import time
from datetime import datetime, timedelta, timezone
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from airflow.providers.common.compat.sdk import Context

# The deferred wait ends this much before execution_timeout, so the operator (not Airflow) ends it
# and can cancel the job; Airflow 2 otherwise fails the task from the scheduler without a word to us.
EXECUTION_TIMEOUT_MARGIN = timedelta(seconds=30)
# A trigger's timeout this much before the deadline by the worker's clock is a clock disagreement,
# not the latency of resuming the task.
EARLY_TIMEOUT_TOLERANCE_SECONDS = 5.0


class KeepsDeadlines:
    """The deadlines of a job operator's wait (a mixin of ``SeekrFlowJobOperator``)."""

    timeout: float | None
    execution_timeout: timedelta | None
    log: Any

    # The operator's own methods, only annotated here: a definition would shadow BaseOperator's.
    build_trigger: Any
    defer: Any

    def _deadline(self, context: Context) -> float | None:
        deadlines = []
        if self.timeout is not None:
            deadlines.append(time.time() + self.timeout)
        execution_deadline = self._execution_deadline(context)
        if execution_deadline is not None:
            deadlines.append(execution_deadline)
        return min(deadlines) if deadlines else None

    def defer_early_timeout(self, event: Any, job_id: str, deadline: float | None = None) -> None:
        """
        Wait again, deferred, when a ``timeout`` event came before the deadline by this worker's clock.

        The deadline is an epoch time from a worker's clock, compared with the triggerer's: a
        triggerer clock ahead by S seconds fires S seconds early. The new trigger's deadline is
        moved by the disagreement seen, so that clock reaches it when this one reaches the real one.

        :param event: The trigger's ``timeout`` event.
        :param job_id: The job waited on.
        :param deadline: The task's own deadline, kept in the deferral's kwargs: a moved trigger's
            event names the moved time, and comparing with that would move it again for ever.
        """
        end_time = deadline if isinstance(deadline, (int, float)) else None
        if end_time is None and isinstance(event, dict):
            end_time = event.get("end_time")
        if not isinstance(end_time, (int, float)):
            return
        early = end_time - time.time()
        if early <= EARLY_TIMEOUT_TOLERANCE_SECONDS:
            return
        self.log.warning(
            "The triggerer timed out the wait for job %s %.0f s before its deadline by this worker's "
            "clock (its clock runs ahead); waiting the rest before cancelling",
            job_id,
            early,
        )
        self.defer(
            trigger=self.build_trigger(job_id, end_time + early),
            method_name="execute_complete",
            kwargs={"job_id": job_id, "end_time": end_time},
        )

    def _execution_deadline(self, context: Context) -> float | None:
        """Return when (epoch seconds) a wait must end to leave the margin before ``execution_timeout``; None without one."""
        return execution_deadline(self.execution_timeout, context)

    @staticmethod
    def _seconds_to(moment: float | None) -> float | None:
        return seconds_to(moment)


def execution_deadline(execution_timeout: timedelta | None, context: Context) -> float | None:
    """
    Return when (epoch seconds) a task's work must end to leave the margin before its ``execution_timeout``.

    :param execution_timeout: The task's ``execution_timeout``; None gives None.
    :param context: The task context (its task instance's start).
    """
    if not execution_timeout:
        return None
    ti = context.get("ti")
    started = getattr(ti, "start_date", None) or datetime.now(timezone.utc)
    margin = min(EXECUTION_TIMEOUT_MARGIN, execution_timeout / 10)
    return (started + execution_timeout - margin).timestamp()


def seconds_to(moment: float | None) -> float | None:
    """Return the seconds from now to an epoch ``moment`` (None stays None)."""
    # Same host, same clock as the task's start_date: the epoch moment becomes a span once, here.
    return None if moment is None else moment - time.time()
