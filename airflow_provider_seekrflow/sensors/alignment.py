"""Wait for a SeekrFlow alignment job started elsewhere, in poke, reschedule or deferrable mode."""

from __future__ import annotations

import time
from collections.abc import Sequence
from functools import cached_property
from typing import TYPE_CHECKING, Any

from airflow.providers.common.compat.sdk import (
    AirflowSensorTimeout,
    AirflowSkipException,
    BaseSensorOperator,
    PokeReturnValue,
    conf,
)

from airflow_provider_seekrflow._client.alignment import AlignmentJob, describe_outputs
from airflow_provider_seekrflow.exceptions import SeekrFlowConfigError, SeekrFlowError
from airflow_provider_seekrflow.hooks.seekrflow import SeekrFlowHook
from airflow_provider_seekrflow.jobs.errors import error_for_unsuccessful_job
from airflow_provider_seekrflow.jobs.events import event_outcome
from airflow_provider_seekrflow.jobs.progress import ProgressLog

if TYPE_CHECKING:
    from airflow.providers.common.compat.sdk import Context


class SeekrFlowAlignmentJobSensor(BaseSensorOperator):
    """
    Wait until an alignment job completes, and return ``{"job_id", "status", "output_files"}``.

    A job that ends ``failed``, ``cancelled`` or ``stopped`` fails the task at once with its
    distinct error; with ``soft_fail`` that, like a timeout, skips the task instead, in every mode.
    The sensor never cancels the job: it only watches it.

    :param job_id: The alignment job to wait for: its id, or the generate operator's result
        (``{"job_id": ...}``). (templated)
    :param seekrflow_conn_id: The Airflow connection to use. (templated)
    :param hook_params: Keyword arguments for the hook, e.g. ``{"timeout": 60, "max_retries": 3}``;
        the deferred wait's trigger gets them too.
    :param deferrable: Whether to wait in the triggerer rather than on the worker.
    :param poll_interval: In deferrable mode, the longest time between two status checks, in
        seconds; the trigger sleeps toward the service's completion estimate when it gives one.
    """

    template_fields: Sequence[str] = ("job_id", "seekrflow_conn_id")
    ui_color = "#e8f0ff"

    def __init__(
        self,
        *,
        job_id: str | dict[str, Any],
        seekrflow_conn_id: str = SeekrFlowHook.default_conn_name,
        hook_params: dict[str, Any] | None = None,
        deferrable: bool = conf.getboolean("operators", "default_deferrable", fallback=False),
        poll_interval: float = 300.0,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self.job_id = job_id
        self.seekrflow_conn_id = seekrflow_conn_id
        self.hook_params = dict(hook_params or {})
        self.deferrable = deferrable
        self.poll_interval = poll_interval
        self._progress = ProgressLog(self.log.info, self.log.warning)

    @cached_property
    def hook(self) -> SeekrFlowHook:
        """Return the SeekrFlow hook of this task's connection."""
        return SeekrFlowHook(seekrflow_conn_id=self.seekrflow_conn_id, **self.hook_params)

    def _check_job_id(self) -> str:
        # The generate operator returns its job as a dict in every mode; its id is what to watch.
        job_id = self.job_id.get("job_id") if isinstance(self.job_id, dict) else self.job_id
        if not isinstance(job_id, str) or not job_id.strip():
            raise SeekrFlowConfigError(f"job_id: must be a non-empty alignment job id, got {self.job_id!r}")
        return job_id.strip()

    def _fail(self, error: Exception) -> None:
        if self.soft_fail:
            raise AirflowSkipException(f"Skipping because soft_fail is set: {error}") from error
        raise error

    def _result(self, job: AlignmentJob) -> dict[str, Any]:
        outputs = self.hook.get_alignment_outputs(job.id)
        return {"job_id": job.id, "status": job.status, "output_files": describe_outputs(outputs)}

    def poke(self, context: Context) -> PokeReturnValue | bool:
        """Check the job once; end the wait when it completed, fail at once when it ended otherwise."""
        job = self.hook.get_alignment_job(self._check_job_id())
        self._progress(job)
        if not job.is_terminal:
            return False
        if not job.succeeded:
            self._fail(error_for_unsuccessful_job(job.id, job.status, job.status_message))
        return PokeReturnValue(is_done=True, xcom_value=self._result(job))

    def execute(self, context: Context) -> Any:
        """Wait in the chosen mode; deferrable mode checks once before handing over to the trigger."""
        if not self.deferrable:
            return super().execute(context)
        job_id = self._check_job_id()
        poked = self.poke(context)
        if isinstance(poked, PokeReturnValue) and poked.is_done:
            return poked.xcom_value
        # Imported here: the trigger module pulls in Airflow's trigger machinery, which DAG parsing never needs.
        from airflow_provider_seekrflow.triggers.alignment import SeekrFlowAlignmentJobTrigger

        self.defer(
            trigger=SeekrFlowAlignmentJobTrigger(
                job_id=job_id,
                seekrflow_conn_id=self.seekrflow_conn_id,
                poll_interval=self.poll_interval,
                min_poll_interval=max(1.0, min(float(self.poke_interval), 5.0)),
                end_time=time.time() + self.timeout,
                cancel_on_kill=False,
                hook_params=self.hook_params,
            ),
            method_name="execute_complete",
            kwargs={"job_id": job_id},
        )
        return None  # unreachable: defer raises

    def execute_complete(self, context: Context, event: Any = None, job_id: str | None = None) -> Any:
        """
        Turn the trigger's event into the sensor's result, timeout or failure.

        :param context: The task context.
        :param event: The trigger's event.
        :param job_id: The job the sensor deferred on.
        """
        outcome = event_outcome(event, job_id)
        if outcome.kind == "completed":
            return self._result(self.hook.get_alignment_job(outcome.job_id))
        if outcome.kind == "timeout":
            self._fail(AirflowSensorTimeout(f"Sensor timed out after {self.timeout} s: {outcome.message}"))
        if outcome.kind == "error":
            self._fail(
                SeekrFlowError(f"Waiting for alignment job {outcome.job_id} failed: {outcome.message}")
            )
        self._fail(error_for_unsuccessful_job(outcome.job_id, outcome.status, outcome.status_message))
        return None  # unreachable: _fail raises
