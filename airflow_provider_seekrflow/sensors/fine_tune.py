"""Wait for a SeekrFlow fine-tune started elsewhere, in poke, reschedule or deferrable mode."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from airflow_provider_seekrflow.links import SeekrFlowFineTuneLink
from airflow_provider_seekrflow.sensors.job_base import SeekrFlowJobSensor

if TYPE_CHECKING:
    from airflow.providers.common.compat.sdk import Context

    from airflow_provider_seekrflow.client.fine_tunes import FineTune


class SeekrFlowFineTuneSensor(SeekrFlowJobSensor):
    """
    Wait until a fine-tune completes, and return the fine-tune operator's result, with the model id.

    It returns ``{"job_id", "status", "model_id", "project_id", "model", "inference_available", "usage"}``.

    Each new event (epoch, loss, reward) goes to the task log once per try. Only ``completed`` is
    success; ``failed`` fails the task at once with the service's ``error_analysis``
    (``SeekrFlowFineTuneFailedError``), ``cancelled`` and ``deleted`` with
    ``SeekrFlowFineTuneCancelledError``; ``soft_fail`` skips instead, in every mode. The sensor
    never cancels the fine-tune.

    :param job_id: The fine-tune to wait for: its id, or the fine-tune operator's result. (templated)
    :param seekrflow_conn_id: The Airflow connection to use. (templated)
    :param hook_params: Keyword arguments for the hook, e.g. ``{"timeout": 60, "max_retries": 3}``;
        the deferred wait's trigger gets them too.
    :param deferrable: Whether to wait in the triggerer rather than on the worker.
    :param poll_interval: In deferrable mode, the longest time between two status checks, in seconds.
    """

    kind_key = "fine_tune"
    operator_extra_links = (SeekrFlowFineTuneLink(),)

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self._resumed = False

    def read_job(self, job_id: str) -> FineTune:
        """Read the fine-tune once, logging its status on change and each new event once."""
        from airflow_provider_seekrflow.client import fine_tunes

        job: FineTune = self.hook.call(self.watcher.get(job_id))
        # Deferred, the trigger logs the status and every event from its own first read on: the check
        # before deferring logs only a fine-tune that already ended (no trigger runs), and the
        # check after the trigger fired logs nothing the trigger already did.
        if not (self.deferrable and (self._resumed or not job.is_terminal)):
            events = self.hook.call(fine_tunes.events(job_id)).data or []
            self.watcher.report(job, events)  # type: ignore[attr-defined]
        return job

    def execute_complete(self, context: Context, event: Any = None, job_id: str | None = None) -> Any:
        """
        Turn the trigger's event into the sensor's result, timeout or failure.

        :param context: The task context.
        :param event: The trigger's event.
        :param job_id: The fine-tune the sensor deferred on.
        """
        self._resumed = True
        try:
            return super().execute_complete(context, event, job_id)
        finally:
            self._resumed = False
