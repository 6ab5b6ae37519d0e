"""
The deployment kind: a model served on instances, waited on until ``Active``; its errors, keys, reads, cancel and result.

A wait is over at ``Active`` (success), ``Failed`` or ``Inactive`` (demoted while it was waited on:
it will not serve until someone promotes it). The cancel of a kill or a timeout is a demote, sent
only while the deployment holds instances (``Pending`` or ``Active``); a demote refused as out of
turn (409) means another party already stopped it. Deciding *which* deployment a task may demote
(only one it created or promoted) is the operator's: the kind only knows how.
"""

from __future__ import annotations

from typing import Any

from airflow_provider_seekrflow.client import deployments
from airflow_provider_seekrflow.client.deployments import Deployment
from airflow_provider_seekrflow.client.endpoints import Call
from airflow_provider_seekrflow.client.errors import clip
from airflow_provider_seekrflow.client.polling import NextCheck, plan_steady_check
from airflow_provider_seekrflow.exceptions import SeekrFlowAPIError, SeekrFlowJobError
from airflow_provider_seekrflow.jobs.base import JobKind, JobResult, JobWatcher, Operation, answered
from airflow_provider_seekrflow.jobs.usage import deployment_usage, describe_usage
from airflow_provider_seekrflow.vocabulary import DeploymentStatus


class SeekrFlowDeploymentError(SeekrFlowJobError):
    """A deployment does not serve: it failed, was demoted, or a wait for it ran out."""


class SeekrFlowDeploymentFailedError(SeekrFlowDeploymentError):
    """The deployment failed to start on the service; the message names it and says what the service said."""


class SeekrFlowDeploymentInactiveError(SeekrFlowDeploymentError):
    """The deployment is ``Inactive`` (demoted while waited on, or never promoted): it serves nothing."""


class SeekrFlowDeploymentTimeoutError(SeekrFlowDeploymentError):
    """The deployment was not ``Active`` within the wait's timeout."""


# What the result says of a deployment, beside ``job_id`` and ``status`` (the keys every kind's result has).
RESULT_FIELDS = ("model_id", "model_type", "n_instances", "total_input_tokens", "total_output_tokens")


def deployment_result(deployment: Deployment) -> dict[str, Any]:
    """
    Return a deployment's result ``{"job_id", "status", "model_id", "model_type", "n_instances", "total_input_tokens", "total_output_tokens", "usage"}``.

    ``job_id`` is the deployment's id, under the key every kind's result uses, so a deployment
    sensor (or ``SeekrFlowDemoteDeploymentOperator``) takes the result as its ``deployment_id``.
    ``usage`` is ``{"input_tokens", "output_tokens"}``, the counters as every kind's usage names them
    (``jobs.usage.deployment_usage``).

    :param deployment: The deployment as just read.
    """
    return {
        "job_id": deployment.id,
        "status": deployment.status,
        **{name: getattr(deployment, name) for name in RESULT_FIELDS},
        "usage": deployment_usage(deployment),
    }


class DeploymentWatcher(JobWatcher):
    """A wait on a deployment until it serves: its status logged on change, read again at a steady pace."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._status: str | None = None

    def get(self, job_id: str) -> Call[Deployment]:
        """Return the request that reads the deployment."""
        return deployments.get(job_id)

    def read(self, job_id: str) -> Operation[Deployment]:
        """Read the deployment once, logging its status when it changed."""
        deployment: Deployment = yield self.get(job_id)
        self.report(deployment)
        return deployment

    def report(self, deployment: Deployment) -> None:
        """Log the deployment's status (with what it serves) when it changed; warn once of an unknown status."""
        if deployment.status == self._status:
            return
        self._status = deployment.status
        self.warn_unknown_status(deployment.id or "?", deployment.status)
        self.info(f"Deployment {deployment.id}: status={deployment.status} ({deployment.describe()})")

    def next_check(self, job: Deployment, *, poll_interval: float, min_interval: float) -> NextCheck:
        """Return when to read again: a fraction of the time since its status last changed (a promote restarts it)."""
        return plan_steady_check(
            poll_interval=poll_interval,
            min_interval=min_interval,
            running_since=job.updated_at or job.created_at,
        )

    def cancel(self, job_id: str) -> Operation[Deployment]:
        """Demote the deployment if it holds instances (``Pending`` or ``Active``); a 409 means it already stopped."""
        deployment: Deployment = yield self.get(job_id)
        if not deployment.serves_or_starts:
            return deployment
        try:
            return (yield deployments.demote(job_id))  # type: ignore[no-any-return]
        except SeekrFlowAPIError as err:
            if err.status_code != deployments.CONFLICT:
                raise
        return (yield self.get(job_id))  # type: ignore[no-any-return]

    def failure(self, job: Deployment) -> SeekrFlowJobError:
        """Return the error of a deployment that does not serve, naming it and what the service said."""
        message = self.status_message(job)
        if message is None and job.status == DeploymentStatus.INACTIVE.value:
            message = "it was demoted, or never promoted, and serves nothing until it is promoted"
        error_class = self.kind.errors.get(job.status, self.kind.error)
        reason = f": {message}" if message else " (the service gave no reason)"
        return error_class(
            f"Deployment {job.id} ({clip(job.describe())}) ended {job.status}{reason}",
            job_id=job.id or "?",
            status=job.status,
            status_message=self.status_message(job),
        )

    def completion_line(self, result: JobResult) -> str:
        """Return the task log's line for a deployment that serves, with the tokens it has served so far."""
        value = result.value
        return (
            f"Deployment {value['job_id']} is Active: {value['model_type']} {value['model_id']} "
            f"on {value['n_instances']} instance(s); {describe_usage(value.get('usage'))} so far"
        )

    def result(self, job: Deployment) -> Operation[JobResult]:
        """Result in ``{"job_id", "status", "model_id", "model_type", "n_instances", "total_input_tokens", "total_output_tokens", "usage"}``."""
        return answered(JobResult(deployment_result(job)))


DEPLOYMENT = JobKind(
    key="deployment",
    label="Deployment",
    statuses=DeploymentStatus,
    watcher=DeploymentWatcher,
    state_key="seekrflow_deployment_id",
    job_id_xcom_key="deployment_id",
    errors={
        DeploymentStatus.FAILED.value: SeekrFlowDeploymentFailedError,
        DeploymentStatus.INACTIVE.value: SeekrFlowDeploymentInactiveError,
    },
    error=SeekrFlowDeploymentError,
    timeout_error=SeekrFlowDeploymentTimeoutError,
)
