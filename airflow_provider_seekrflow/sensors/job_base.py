"""What every SeekrFlow job sensor does: poke, reschedule or defer, and fail at once on an unsuccessful end."""

from __future__ import annotations

import time
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from airflow.providers.common.compat.sdk import (
    AirflowSensorTimeout,
    AirflowSkipException,
    BaseSensorOperator,
    PokeReturnValue,
    conf,
)

from airflow_provider_seekrflow.assets import publish_training_file
from airflow_provider_seekrflow.defaults import DEFAULT_CONN_ID, UNTIL_END, check_poll_intervals
from airflow_provider_seekrflow.exceptions import SeekrFlowConfigError, SeekrFlowError
from airflow_provider_seekrflow.job_task import JobKindTask
from airflow_provider_seekrflow.links import JOB_LINKS

# DAG parsing imports this module: the hook, the client and the job kinds (pydantic models, the
# transports) load when a task runs, in the methods that use them (tests/unit/test_parse_imports.py).
if TYPE_CHECKING:
    from airflow.providers.common.compat.sdk import Context

    from airflow_provider_seekrflow.jobs.base import JobWatcher


class SeekrFlowJobSensor(JobKindTask, BaseSensorOperator):
    """
    Wait until a SeekrFlow job completes; each subclass names its ``kind`` (by ``kind_key``), which says how to read the job and what it returns.

    A job that ends without success fails the task at once with its kind's distinct error; with
    ``soft_fail`` that, like a timeout, skips the task instead, in every mode. A sensor never
    cancels the job: it only watches it.

    :param job_id: The job to wait for: its id, or the result of the operator that started it
        (``{"job_id": ...}``). (templated)
    :param seekrflow_conn_id: The Airflow connection to use. (templated)
    :param hook_params: Keyword arguments for the hook, e.g. ``{"timeout": 60, "max_retries": 3}``;
        the deferred wait's trigger gets them too.
    :param deferrable: Whether to wait in the triggerer rather than on the worker.
    :param poll_interval: In deferrable mode, the longest time between two status checks, in seconds.
    """

    template_fields: Sequence[str] = ("job_id", "seekrflow_conn_id")
    ui_color = "#e8f0ff"
    #: The key of the kind of job watched (``airflow_provider_seekrflow.jobs.kinds.KINDS``); set by each subclass.
    kind_key: str
    #: What the deferred wait waits for (a data job sensor that fails on review also ends at review).
    wait_until: str = UNTIL_END

    def __init__(
        self,
        *,
        job_id: str | dict[str, Any],
        seekrflow_conn_id: str = DEFAULT_CONN_ID,
        hook_params: dict[str, Any] | None = None,
        deferrable: bool = conf.getboolean("operators", "default_deferrable", fallback=False),
        poll_interval: float = 300.0,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        check_poll_intervals(poll_interval, 1.0)
        self.job_id = job_id
        self.seekrflow_conn_id = seekrflow_conn_id
        self.hook_params = dict(hook_params or {})
        self.deferrable = deferrable
        self.poll_interval = poll_interval
        # Shared by the shallow copies Airflow runs each poke of a rescheduled sensor in, so the
        # watcher (what the task log has shown) outlives one poke in this process.
        self._watchers: dict[str, JobWatcher] = {}
        #: The job whose link this task persisted last in this process.
        self._linked: str | None = None

    @property
    def watcher(self) -> JobWatcher:
        """Return the watcher of this task's wait: it remembers what the task log has shown."""
        if self.wait_until not in self._watchers:
            self._watchers[self.wait_until] = self.kind.watch(
                self.wait_until, self.log.info, self.log.warning
            )
        return self._watchers[self.wait_until]

    # -- what each kind says --------------------------------------------------------------------

    def read_job(self, job_id: str) -> Any:
        """Read the job once, logging its progress when it changed."""
        return self.hook.run(self.watcher.read(job_id))

    def result(self, job: Any, context: Context) -> Any:
        """Return the sensor's XCom value for the completed job; a training file it made is published."""
        result = self.hook.run(self.watcher.result(job))
        publish_training_file(self, context, job.id, result)
        return result.value

    def unsuccessful_error(self, job: Any) -> Exception:
        """Return the exception for a job that ended without success."""
        return self.watcher.failure(job)

    def check_job(self, job: Any) -> None:
        """Raise when the job, not yet ended, can never end well without someone acting on it."""

    # -- the wait -------------------------------------------------------------------------------

    def _check_job_id(self) -> str:
        # Operators return their job as a dict in every mode; its id is what to watch.
        job_id = self.job_id.get("job_id") if isinstance(self.job_id, dict) else self.job_id
        if not isinstance(job_id, str) or not job_id.strip():
            label = self.kind.label.lower()
            raise SeekrFlowConfigError(f"job_id: must be a non-empty {label} id, got {self.job_id!r}")
        return job_id.strip()

    def _fail(self, error: Exception) -> None:
        if self.soft_fail:
            raise AirflowSkipException(f"Skipping because soft_fail is set: {error}") from error
        raise error

    def _check_unfinished(self, job: Any) -> None:
        try:
            self.check_job(job)
        except SeekrFlowError as error:
            self._fail(error)

    def persist_link(self, job_id: str, context: Context) -> None:
        """Persist the task's link to the job, once per job in this process (each rescheduled poke again)."""
        if self._linked != job_id:
            JOB_LINKS[self.kind_key].persist(context, self, job_id)
            self._linked = job_id

    def poke(self, context: Context) -> PokeReturnValue | bool:
        """Check the job once (its link persisted first); end the wait when it completed, fail at once when it ended otherwise."""
        job_id = self._check_job_id()
        self.persist_link(job_id, context)
        job = self.read_job(job_id)
        if not job.is_terminal:
            self._check_unfinished(job)
            return False
        if not job.succeeded:
            self._fail(self.unsuccessful_error(job))
        return PokeReturnValue(is_done=True, xcom_value=self.result(job, context))

    def build_trigger(self, job_id: str, end_time: float | None = None) -> Any:
        """Return the trigger that waits for the job in the triggerer until ``end_time`` (or the sensor's timeout from now); it never cancels the job."""
        # Imported here: the trigger module pulls in Airflow's trigger machinery, which DAG parsing never needs.
        from airflow_provider_seekrflow.triggers.job import SeekrFlowJobTrigger

        return SeekrFlowJobTrigger(
            kind=self.kind.key,
            job_id=job_id,
            until=self.wait_until,
            seekrflow_conn_id=self.seekrflow_conn_id,
            poll_interval=self.poll_interval,
            min_poll_interval=max(1.0, min(float(self.poke_interval), 5.0)),
            end_time=end_time if end_time is not None else time.time() + self.timeout,
            cancel_on_kill=False,
            hook_params=self.hook_params,
        )

    def execute(self, context: Context) -> Any:
        """Wait in the chosen mode; deferrable mode checks once before handing over to the trigger."""
        if not self.deferrable:
            return super().execute(context)
        job_id = self._check_job_id()
        poked = self.poke(context)
        if isinstance(poked, PokeReturnValue) and poked.is_done:
            return poked.xcom_value
        self.defer(
            trigger=self.build_trigger(job_id), method_name="execute_complete", kwargs={"job_id": job_id}
        )
        return None  # unreachable: defer raises

    def execute_complete(self, context: Context, event: Any = None, job_id: str | None = None) -> Any:
        """
        Turn the trigger's event into the sensor's result, timeout or failure.

        :param context: The task context.
        :param event: The trigger's event.
        :param job_id: The job the sensor deferred on.
        """
        from airflow_provider_seekrflow.jobs.events import event_outcome

        outcome = event_outcome(event, job_id, self.kind, until=self.wait_until)
        if outcome.kind == "timeout":
            self._fail(AirflowSensorTimeout(f"Sensor timed out after {self.timeout} s: {outcome.message}"))
        if outcome.kind == "error":
            label = self.kind.label.lower()
            self._fail(SeekrFlowError(f"Waiting for {label} {outcome.job_id} failed: {outcome.message}"))
        job = self.read_job(outcome.job_id)
        if job.succeeded:
            return self.result(job, context)
        if not job.is_terminal:
            # A wait that also ends before the end (a data job in review) and a job that moved on since.
            self._check_unfinished(job)
            # The same deadline: the sensor's timeout counts from its first deferral.
            self.defer(
                trigger=self.build_trigger(outcome.job_id, event.get("end_time")),
                method_name="execute_complete",
                kwargs={"job_id": outcome.job_id},
            )
        self._fail(self.unsuccessful_error(job))
        return None  # unreachable: _fail and defer raise
