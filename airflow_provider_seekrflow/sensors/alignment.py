"""Wait for a SeekrFlow alignment job started elsewhere, in poke, reschedule or deferrable mode."""

from __future__ import annotations

from airflow_provider_seekrflow.links import SeekrFlowAlignmentJobLink
from airflow_provider_seekrflow.sensors.job_base import SeekrFlowJobSensor


class SeekrFlowAlignmentJobSensor(SeekrFlowJobSensor):
    """
    Wait until an alignment job completes, and return ``{"job_id", "status", "output_files"}``.

    A job that ends ``failed``, ``cancelled`` or ``stopped`` fails the task at once with its
    distinct error; with ``soft_fail`` that, like a timeout, skips the task instead, in every mode.
    The ``fine-tune`` output's id is pushed under the XCom key ``fine_tune_file_id`` and put into the
    event of each asset in ``outlets``, as the generate operator does. The sensor never cancels the
    job: it only watches it.

    :param job_id: The alignment job to wait for: its id, or the generate operator's result
        (``{"job_id": ...}``). (templated)
    :param seekrflow_conn_id: The Airflow connection to use. (templated)
    :param hook_params: Keyword arguments for the hook, e.g. ``{"timeout": 60, "max_retries": 3}``;
        the deferred wait's trigger gets them too.
    :param deferrable: Whether to wait in the triggerer rather than on the worker.
    :param poll_interval: In deferrable mode, the longest time between two status checks, in
        seconds; the trigger sleeps toward the service's completion estimate when it gives one.
    """

    kind_key = "alignment"
    operator_extra_links = (SeekrFlowAlignmentJobLink(),)
