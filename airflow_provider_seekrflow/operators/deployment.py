"""Serve a model on SeekrFlow: deploy it (or reuse its deployment) and wait until ``Active``; promote and demote."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from airflow.providers.common.compat.sdk import BaseOperator

from airflow_provider_seekrflow.defaults import DEFAULT_CONN_ID, UNTIL_END
from airflow_provider_seekrflow.links import SeekrFlowDeploymentLink
from airflow_provider_seekrflow.operators.deployment_task import DeploymentTask
from airflow_provider_seekrflow.vocabulary import DeploymentStatus, DeploymentType

if TYPE_CHECKING:
    from airflow.providers.common.compat.sdk import Context

    from airflow_provider_seekrflow.client.deployments import Deployment
    from airflow_provider_seekrflow.client.lost_answers import Snapshot
    from airflow_provider_seekrflow.jobs.submissions import SubmissionNote

INACTIVE = DeploymentStatus.INACTIVE.value
FAILED = DeploymentStatus.FAILED.value


class SeekrFlowDeployModelOperator(DeploymentTask):
    """
    Serve a model on SeekrFlow: reuse its deployment of the same name, or create one, and (by default) wait until ``Active``.

    Before creating, the deployments are listed: one of the same ``name`` and ``model_id`` that is
    not ``Failed`` is reused (logged), never a second one made; an ``Inactive`` one is promoted. A
    retry picks up its earlier try's deployment (Airflow 3.3+), and a create whose answer was lost
    is looked up, never blindly resent. ``Failed`` raises ``SeekrFlowDeploymentFailedError`` naming the
    deployment and what the service said; a timeout raises ``SeekrFlowDeploymentTimeoutError``. A kill
    or timeout while it starts demotes it only if this task created or promoted it. Returns
    ``{"job_id", "status", "model_id", "model_type", "n_instances", "total_input_tokens",
    "total_output_tokens", "usage"}`` (``job_id`` is the deployment's id; ``usage`` the token counters as
    ``{"input_tokens", "output_tokens"}``); the id is pushed under ``deployment_id``
    as soon as it is known, and a reused deployment's id also under ``deployment_reused``.

    :param model_id: What to serve: a fine-tune's model id, e.g. the fine-tune operator's result
        ``model_id``, or a base model's name. (templated)
    :param name: The deployment's name, 5 to 100 characters; with ``model_id`` it says which
        deployment to reuse. (templated)
    :param description: 5 to 1000 characters. (templated)
    :param model_type: ``Fine-tuned Run`` (a fine-tune's model) or ``Base Model``.
    :param n_instances: Instances to serve on, 1 to 50; fixed once created.
    :param reuse_existing: Whether a deployment of the same name and model (not ``Failed``) is
        reused instead of creating another.
    :param seekrflow_conn_id: The Airflow connection to use. (templated)
    :param hook_params: Keyword arguments for the hook, e.g. ``{"timeout": 60, "max_retries": 3}``;
        the deferred wait's trigger gets them too.
    :param wait_for_completion: Whether to wait until the deployment is ``Active``.
    :param deferrable: Whether to wait in the triggerer rather than on the worker.
    :param poll_interval: The longest time between two status checks, in seconds.
    :param min_poll_interval: The shortest time between two status checks, in seconds.
    :param timeout: Seconds to wait before demoting the deployment (if this task started it) and
        failing; None waits for ever.
    :param cancel_on_kill: Whether killing the task, or a timeout, demotes a deployment this task started.
    :param durable: Whether a retry picks up the deployment of an earlier try (Airflow 3.3+).
    """

    template_fields: Sequence[str] = ("model_id", "name", "description", "seekrflow_conn_id")
    finds_unanswered_submissions = True

    def __init__(
        self,
        *,
        model_id: str,
        name: str,
        description: str = "Served by Apache Airflow",
        model_type: str = DeploymentType.FINE_TUNED_RUN.value,
        n_instances: int = 1,
        reuse_existing: bool = True,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self.model_id = model_id
        self.name = name
        self.description = description
        self.model_type = model_type
        self.n_instances = n_instances
        self.reuse_existing = reuse_existing
        self._listed: list[Deployment] | None = None

    def _body(self) -> dict[str, Any]:
        from airflow_provider_seekrflow.client import deployments

        return deployments.create_request(
            name=self.name,
            model_id=self.model_id,
            model_type=self.model_type,
            n_instances=self.n_instances,
            description=self.description,
        )

    def prepare_request(self) -> None:
        """Check the rendered request locally; nothing is sent when it is wrong."""
        self._body()

    def _list(self) -> tuple[list[Deployment], bool]:
        from airflow_provider_seekrflow.client.creates import list_deployments

        return list_deployments(self.hook.transport)

    def snapshot_before_submit(self, context: Context) -> Snapshot:
        """List every deployment: the candidates for reuse, and what a lost create is told apart from."""
        from airflow_provider_seekrflow.client import deployments

        listed, complete = self._list()
        self._listed = listed
        return deployments.snapshot_of(listed, complete)

    def submit_job(self, context: Context) -> str:
        """Reuse the deployment of this name and model, or create one once."""
        from airflow_provider_seekrflow.client import deployments
        from airflow_provider_seekrflow.client.creates import create_deployment
        from airflow_provider_seekrflow.client.log_text import for_log

        body = self._body()
        listed, complete = (self._listed, True) if self._listed is not None else self._list()
        self._listed = None
        if self.reuse_existing:
            found = deployments.find_reusable(listed, self.name, self.model_id)
            if found:
                return self._reuse(found[0], found[1:], context)
        snapshot = self.snapshot or deployments.snapshot_of(listed, complete)
        created = create_deployment(self.hook.transport, body, snapshot)
        self.log.info(
            "Created deployment %s (%s): %s", created.id, for_log(created.describe()), created.status
        )
        if self.reuse_existing:
            winner = deployments.race_winner(self._list()[0], created)
            if winner is not None:
                return self._yield_to(created, winner, context)
        return self.mark_started(str(created.id), context)

    def _yield_to(self, created: Deployment, winner: Deployment, context: Context) -> str:
        """Demote this task's own create, made at the same time as an older one of the same name and model, and reuse that."""
        from airflow_provider_seekrflow.client.creates import demote_deployment

        self.log.warning(
            "Deployment %s of the same name and model was created at the same time as this task's %s "
            "and is older: demoting %s and reusing %s, as the task that made it does",
            winner.id,
            created.id,
            created.id,
            winner.id,
        )
        demote_deployment(self.hook.transport, str(created.id))
        return self._reuse(winner, [], context)

    def _reuse(self, deployment: Deployment, others: list[Deployment], context: Context) -> str:
        from airflow_provider_seekrflow.client.log_text import for_log

        self.log.info(
            "Reusing deployment %s (%s, %s) instead of creating another of the same name and model",
            deployment.id,
            for_log(deployment.describe()),
            for_log(deployment.status),
        )
        if others:
            self.log.warning(
                "SeekrFlow has %d more deployment(s) of this name and model, not used: %s",
                len(others),
                ", ".join(str(other.id) for other in others),
            )
        differs = [
            f"{field} {getattr(deployment, field)!r}, not {wanted!r}"
            for field, wanted in (("model_type", self.model_type), ("n_instances", self.n_instances))
            if getattr(deployment, field) is not None and getattr(deployment, field) != wanted
        ]
        if differs:
            self.log.warning(
                "Deployment %s has %s (fixed at its create)", deployment.id, for_log("; ".join(differs))
            )
        if deployment.status == INACTIVE:
            return self.start_serving(deployment, context)
        return self.mark_reused(str(deployment.id), context)

    def find_submitted_job(self, note: SubmissionNote, context: Context) -> str | None:
        """Return the deployment an earlier try's unanswered create made, if the service lists it."""
        from airflow_provider_seekrflow.client import deployments

        found = deployments.find_lost_deployment(self._list()[0], self._body(), note.snapshot)
        return found.id if found is not None else None


class SeekrFlowPromoteDeploymentOperator(DeploymentTask):
    """
    Start serving an ``Inactive`` deployment again (promote it) and (by default) wait until ``Active``.

    A deployment already ``Pending`` or ``Active`` is not promoted: the task waits for it (or returns
    it) and never demotes it. A ``Failed`` one cannot be promoted (demote it first) and fails the
    task with ``SeekrFlowDeploymentFailedError``. A lost promote answer is looked up, never resent. A
    kill or timeout while it starts demotes it again. Returns the deploy operator's result.

    :param deployment_id: The deployment: its id, or the deploy operator's result. (templated)
    :param seekrflow_conn_id: The Airflow connection to use. (templated)
    :param hook_params: Keyword arguments for the hook, e.g. ``{"timeout": 60, "max_retries": 3}``;
        the deferred wait's trigger gets them too.
    :param wait_for_completion: Whether to wait until the deployment is ``Active``.
    :param deferrable: Whether to wait in the triggerer rather than on the worker.
    :param poll_interval: The longest time between two status checks, in seconds.
    :param min_poll_interval: The shortest time between two status checks, in seconds.
    :param timeout: Seconds to wait before demoting the deployment and failing; None waits for ever.
    :param cancel_on_kill: Whether killing the task, or a timeout, demotes the deployment it promoted.
    :param durable: Whether a retry picks up the promote of an earlier try (Airflow 3.3+).
    """

    template_fields: Sequence[str] = ("deployment_id", "seekrflow_conn_id")
    finds_unanswered_submissions = True

    def __init__(self, *, deployment_id: str | dict[str, Any], **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.deployment_id = deployment_id

    def prepare_request(self) -> None:
        """Check the deployment id locally."""
        from airflow_provider_seekrflow.client import deployments

        deployments.checked_id(self.deployment_id)

    def snapshot_before_submit(self, context: Context) -> Snapshot:
        """Return an empty snapshot: a retry reads the deployment itself to learn whether its promote was done."""
        from airflow_provider_seekrflow.client.lost_answers import Snapshot

        return Snapshot()

    def submit_job(self, context: Context) -> str:
        """Promote the deployment if it is ``Inactive``; one already starting or serving is waited on as it is."""
        from airflow_provider_seekrflow.client import deployments
        from airflow_provider_seekrflow.client.log_text import for_log

        deployment = self.hook.call(deployments.get(deployments.checked_id(self.deployment_id)))
        if deployment.status == INACTIVE:
            return self.start_serving(deployment, context)
        if deployment.status == FAILED:
            self.log.error("Deployment %s is Failed: demote it before promoting it again", deployment.id)
            raise self.kind.watch(UNTIL_END, self.log.info).failure(deployment)
        self.log.info(
            "Deployment %s is already %s: nothing to promote", deployment.id, for_log(deployment.status)
        )
        return self.mark_reused(str(deployment.id), context)

    def find_submitted_job(self, note: SubmissionNote, context: Context) -> str | None:
        """Return the deployment when an earlier try's unanswered promote started it (it is no longer ``Inactive``)."""
        from airflow_provider_seekrflow.client import deployments

        deployment_id = deployments.checked_id(self.deployment_id)
        deployment = self.hook.call(deployments.get(deployment_id))
        return None if deployment.status == INACTIVE else deployment_id


class SeekrFlowDemoteDeploymentOperator(BaseOperator):
    """
    Stop serving a deployment (demote it: ``Inactive``, its instances released, nothing deleted).

    Idempotent: an already ``Inactive`` deployment is success. Fit for a teardown
    (``trigger_rule="all_done"``): with ``missing_ok`` a deployment id that is empty (the deploy
    task never made one) demotes nothing. Returns the deploy operator's result keys, as demoted.

    :param deployment_id: The deployment: its id, or the deploy operator's result. (templated)
    :param missing_ok: Whether an empty id (None, ``""``, or ``"None"``, which a template renders for
        a missing XCom) is success with nothing demoted.
    :param seekrflow_conn_id: The Airflow connection to use. (templated)
    :param hook_params: Keyword arguments for the hook, e.g. ``{"timeout": 60, "max_retries": 3}``.
    """

    template_fields: Sequence[str] = ("deployment_id", "seekrflow_conn_id")
    ui_color = "#e8f0ff"
    operator_extra_links = (SeekrFlowDeploymentLink(),)

    def __init__(
        self,
        *,
        deployment_id: str | dict[str, Any] | None,
        missing_ok: bool = False,
        seekrflow_conn_id: str = DEFAULT_CONN_ID,
        hook_params: dict[str, Any] | None = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self.deployment_id = deployment_id
        self.missing_ok = missing_ok
        self.seekrflow_conn_id = seekrflow_conn_id
        self.hook_params = dict(hook_params or {})

    def execute(self, context: Context) -> Any:
        """Demote the deployment once; one already ``Inactive`` is success."""
        from airflow_provider_seekrflow.client import deployments
        from airflow_provider_seekrflow.client.creates import demote_deployment
        from airflow_provider_seekrflow.client.log_text import for_log
        from airflow_provider_seekrflow.hooks.seekrflow import SeekrFlowHook
        from airflow_provider_seekrflow.jobs.deployment import deployment_result

        if self.missing_ok and self.deployment_id in (None, "", "None", {}):
            self.log.info("No deployment to demote (deployment_id is %r)", self.deployment_id)
            return None
        deployment_id = deployments.checked_id(self.deployment_id)
        hook = SeekrFlowHook(seekrflow_conn_id=self.seekrflow_conn_id, **self.hook_params)
        SeekrFlowDeploymentLink.persist(context, self, deployment_id, config=hook.config)
        demoted, changed = demote_deployment(hook.transport, deployment_id)
        if changed:
            self.log.info("Demoted deployment %s; it is %s", deployment_id, for_log(demoted.status))
        else:
            self.log.info("Deployment %s is already Inactive: nothing to demote", deployment_id)
        return deployment_result(demoted)
