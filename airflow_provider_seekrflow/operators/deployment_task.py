"""
What the deploy and promote operators share: the deployment kind, and demoting on kill or timeout only what the task started.

Kept apart from the operators (``operators/deployment.py``) so each module stays small; DAG parsing
imports neither the hook nor the client from here (``tests/unit/test_parse_imports.py``).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from airflow_provider_seekrflow.defaults import UNTIL_END
from airflow_provider_seekrflow.links import SeekrFlowDeploymentLink
from airflow_provider_seekrflow.operators.job_base import SeekrFlowJobOperator
from airflow_provider_seekrflow.operators.job_submission import task_state_store
from airflow_provider_seekrflow.vocabulary import DeploymentStatus

if TYPE_CHECKING:
    from airflow.providers.common.compat.sdk import Context

    from airflow_provider_seekrflow.client.deployments import Deployment
    from airflow_provider_seekrflow.jobs.resume import ResumeDecision

# The task state store key, and the XCom key, naming a deployment the task waits on but did not
# start (it must never demote it).
REUSED_STATE_KEY = "seekrflow_deployment_id_reused"
REUSED_XCOM_KEY = "deployment_reused"


class DeploymentTask(SeekrFlowJobOperator):
    """
    What the deploy and promote operators share: the kind, and demoting on kill or timeout only what the task started.

    A deployment the task found serving or starting (another party's) is *reused*: the task waits
    on it but never demotes it. Which one it is survives a deferral (the deferral's kwargs, else the
    XCom ``deployment_reused``) and a retry (the task state store, Airflow 3.3+).
    """

    kind_key = "deployment"
    operator_extra_links = (SeekrFlowDeploymentLink(),)

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        #: The deployment this task waits on but did not create or promote, if any.
        self.reused_id: str | None = None

    # -- which deployment is the task's own -----------------------------------------------------

    def mark_started(self, deployment_id: str, context: Context) -> str:
        """Note that this task created or promoted the deployment: a kill or timeout demotes it."""
        self.reused_id = None
        store = task_state_store(context) if self.durable else None
        if store is not None:
            store.delete(REUSED_STATE_KEY)
        return deployment_id

    def mark_reused(self, deployment_id: str, context: Context) -> str:
        """Note that the task waits on a deployment it did not start: nothing it does demotes it."""
        self.reused_id = deployment_id
        store = task_state_store(context) if self.durable else None
        if store is not None:
            store.set(REUSED_STATE_KEY, deployment_id)
        self.push_extra_xcom(context, REUSED_XCOM_KEY, deployment_id)
        return deployment_id

    def recall_reused(self, context: Context, job_id: str | None, reused: bool = False) -> None:
        """
        After a deferral, learn again whether the deployment was reused.

        From the deferral's kwargs (a triggerer hands them back); where Airflow resumes the task
        with the event alone (``dag.test()``), from the task state store or the task's XCom.
        """
        if not job_id:
            return
        store = task_state_store(context) if self.durable else None
        ti = context.get("ti")
        if (
            reused
            or (store is not None and store.get(REUSED_STATE_KEY) == job_id)
            or (ti is not None and ti.xcom_pull(task_ids=self.task_id, key=REUSED_XCOM_KEY) == job_id)
        ):
            self.reused_id = job_id

    def resume_decision(self, context: Context) -> ResumeDecision:
        """Decide as every job operator does, remembering whether an earlier try's deployment was reused."""
        decision = super().resume_decision(context)
        store = task_state_store(context) if self.durable else None
        if store is not None and decision.job_id and store.get(REUSED_STATE_KEY) == decision.job_id:
            self.reused_id = decision.job_id
        return decision

    def cancel(self, reason: str) -> None:
        """Demote the deployment on a kill or timeout, unless the task reused it (another party's)."""
        if self.job_id and self.job_id == self.reused_id:
            if self.cancel_on_kill:
                self.log.info(
                    "Not demoting deployment %s (%s): this task did not create or promote it",
                    self.job_id,
                    reason,
                )
            return
        super().cancel(reason)

    def trigger_arguments(self, job_id: str, end_time: float | None) -> dict[str, Any]:
        """Return the trigger's arguments: it demotes on a kill only a deployment this task started."""
        arguments = super().trigger_arguments(job_id, end_time)
        arguments["cancel_on_kill"] = self.cancel_on_kill and job_id != self.reused_id
        return arguments

    def defer(
        self, *, trigger: Any, method_name: str, kwargs: dict[str, Any] | None = None, **rest: Any
    ) -> Any:
        """Defer, carrying whether the deployment was reused to the task that resumes."""
        kwargs = dict(kwargs or {})
        if self.reused_id is not None and kwargs.get("job_id") == self.reused_id:
            kwargs["reused"] = True
        return super().defer(trigger=trigger, method_name=method_name, kwargs=kwargs, **rest)

    def execute_complete(
        self,
        context: Context,
        event: Any = None,
        job_id: str | None = None,
        end_time: float | None = None,
        reused: bool = False,
    ) -> Any:
        """
        Turn the trigger's event into the result, or the kind's failure (a timeout demotes only what the task started).

        :param context: The task context.
        :param event: The trigger's event.
        :param job_id: The deployment the task deferred on.
        :param end_time: The wait's deadline (epoch seconds).
        :param reused: Whether the task reused the deployment rather than starting it.
        """
        event_job = event.get("job_id") if isinstance(event, dict) else None
        self.recall_reused(context, job_id or event_job, reused)
        return super().execute_complete(context, event, job_id, end_time)

    def resume_execution(self, next_method: str, next_kwargs: dict[str, Any] | None, context: Context) -> Any:
        """Resume after a deferral, knowing whether the deployment was reused."""
        kwargs = next_kwargs or {}
        self.recall_reused(
            context, kwargs.get("job_id") or self._pulled_job_id(context), bool(kwargs.get("reused"))
        )
        return super().resume_execution(next_method, next_kwargs, context)

    def start_serving(self, deployment: Deployment, context: Context) -> str:
        """Promote an ``Inactive`` deployment (the task's own from then on); one another party started is reused."""
        from airflow_provider_seekrflow.client import deployments
        from airflow_provider_seekrflow.client.creates import promote_deployment
        from airflow_provider_seekrflow.client.log_text import for_log

        deployment_id = str(deployment.id)
        promoted = promote_deployment(self.hook.transport, deployment_id)
        if promoted is not None:
            self.log.info("Promoted deployment %s; it is %s", deployment_id, for_log(promoted.status))
            return self.mark_started(deployment_id, context)
        now = self.hook.call(deployments.get(deployment_id))
        self.log.info(
            "Deployment %s was started by another party before this task's promote (409); it is %s",
            deployment_id,
            for_log(now.status),
        )
        if now.status == DeploymentStatus.FAILED.value:
            raise self.kind.watch(UNTIL_END, self.log.info).failure(now)
        return self.mark_reused(deployment_id, context)

    def get_openlineage_facets_on_complete(self, task_instance: Any) -> Any:
        """
        Return this run's OpenLineage datasets (the model served, the deployment) and its token counters.

        :param task_instance: The task instance that ended (unused: the operator kept its result).
        """
        from airflow_provider_seekrflow.lineage import deployment_lineage

        return deployment_lineage(self)
