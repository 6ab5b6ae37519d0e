"""Wait for a SeekrFlow alignment job started elsewhere, in poke, reschedule or deferrable mode."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from airflow_provider_seekrflow._client.alignment import AlignmentJob, describe_outputs
from airflow_provider_seekrflow.jobs.kinds import ALIGNMENT
from airflow_provider_seekrflow.jobs.progress import ProgressLog
from airflow_provider_seekrflow.sensors.job_base import SeekrFlowJobSensor

if TYPE_CHECKING:
    from airflow.providers.common.compat.sdk import Context


class SeekrFlowAlignmentJobSensor(SeekrFlowJobSensor):
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

    kind = ALIGNMENT

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self._progress = ProgressLog(self.log.info, self.log.warning)

    def read_job(self, job_id: str) -> AlignmentJob:
        """Read the job once, logging its progress when it changed."""
        job = self.hook.get_alignment_job(job_id)
        self._progress(job)
        return job

    def result(self, job: AlignmentJob, context: Context) -> dict[str, Any]:
        """Return ``{"job_id", "status", "output_files"}``."""
        outputs = self.hook.get_alignment_outputs(job.id)
        return {"job_id": job.id, "status": job.status, "output_files": describe_outputs(outputs)}
