"""Wait for a SeekrFlow alignment job in the triggerer: the shared job trigger, under its original name."""

from __future__ import annotations

from typing import Any

from airflow_provider_seekrflow.jobs.kinds import ALIGNMENT
from airflow_provider_seekrflow.triggers.job import SeekrFlowJobTrigger


class SeekrFlowAlignmentJobTrigger(SeekrFlowJobTrigger):
    """
    Poll an alignment job until it ends or the deadline passes, then fire exactly one event.

    The shared :class:`~airflow_provider_seekrflow.triggers.job.SeekrFlowJobTrigger` for alignment
    jobs; it keeps this class path and these arguments, so triggers serialized by earlier versions
    of the provider still load.

    :param job_id: The alignment job to wait for.
    :param seekrflow_conn_id: The Airflow connection to use.
    :param poll_interval: The longest sleep between two status checks, in seconds; the trigger
        sleeps toward the service's completion estimate when it gives one.
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
        super().__init__(
            ALIGNMENT.key,
            job_id,
            seekrflow_conn_id,
            poll_interval=poll_interval,
            min_poll_interval=min_poll_interval,
            end_time=end_time,
            cancel_on_kill=cancel_on_kill,
            hook_params=hook_params,
        )

    def serialize(self) -> tuple[str, dict[str, Any]]:
        """Return the class path and the plain values that rebuild this trigger; never a secret."""
        classpath, arguments = super().serialize()
        del arguments["kind"], arguments["until"]
        return classpath, arguments
