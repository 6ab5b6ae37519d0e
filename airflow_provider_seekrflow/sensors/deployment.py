"""Wait for a SeekrFlow deployment to serve (``Active``), in poke, reschedule or deferrable mode."""

from __future__ import annotations

from typing import Any

from airflow_provider_seekrflow.exceptions import SeekrFlowConfigError
from airflow_provider_seekrflow.links import SeekrFlowDeploymentLink
from airflow_provider_seekrflow.sensors.job_base import SeekrFlowJobSensor


class SeekrFlowDeploymentSensor(SeekrFlowJobSensor):
    """
    Wait until a deployment is ``Active``, and return the deploy operator's result.

    It returns ``{"job_id", "status", "model_id", "model_type", "n_instances", "total_input_tokens",
    "total_output_tokens", "usage"}``. Its status goes to the task log on change. ``Failed`` fails the task at
    once with ``SeekrFlowDeploymentFailedError`` (naming the deployment and what the service said),
    ``Inactive`` (demoted, or never promoted) with ``SeekrFlowDeploymentInactiveError``; ``soft_fail``
    skips instead, in every mode. The sensor never promotes or demotes the deployment.

    :param deployment_id: The deployment to wait for: its id, or the deploy operator's result. (templated)
    :param job_id: The same as ``deployment_id``, under the name every job sensor takes; give one of the two.
    :param seekrflow_conn_id: The Airflow connection to use. (templated)
    :param hook_params: Keyword arguments for the hook, e.g. ``{"timeout": 60, "max_retries": 3}``;
        the deferred wait's trigger gets them too.
    :param deferrable: Whether to wait in the triggerer rather than on the worker.
    :param poll_interval: In deferrable mode, the longest time between two status checks, in seconds.
    """

    kind_key = "deployment"
    operator_extra_links = (SeekrFlowDeploymentLink(),)

    def __init__(
        self, *, deployment_id: str | dict[str, Any] | None = None, job_id: Any = None, **kwargs: Any
    ) -> None:
        if (deployment_id is None) == (job_id is None):
            raise SeekrFlowConfigError("give exactly one of deployment_id and job_id (the same parameter)")
        watched: Any = deployment_id if job_id is None else job_id
        super().__init__(job_id=watched, **kwargs)
