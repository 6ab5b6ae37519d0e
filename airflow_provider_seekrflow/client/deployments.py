"""SeekrFlow deployments (a model served on instances): endpoints, models, calls, request checks, lost-answer search."""

from __future__ import annotations

from collections.abc import Generator, Iterable
from typing import Any

from pydantic import Field

from airflow_provider_seekrflow.client.endpoints import Call, Endpoint, check_id
from airflow_provider_seekrflow.client.lost_answers import Snapshot, adopt, matches_echoed_fields
from airflow_provider_seekrflow.client.service_model import (
    OptionalDatetime,
    OptionalInt,
    OptionalText,
    ServiceModel,
    as_utc,
    config_error,
)
from airflow_provider_seekrflow.vocabulary import DeploymentStatus, DeploymentType

LIST_DEPLOYMENTS = Endpoint("list_deployments", "GET", "/v1/flow/deployments", repeatable=True)
CREATE_DEPLOYMENT = Endpoint("create_deployment", "POST", "/v1/flow/deployments", repeatable=False)
GET_DEPLOYMENT = Endpoint("get_deployment", "GET", "/v1/flow/deployments/{deployment_id}", repeatable=True)
# Promoting twice is refused (409), as is demoting twice: neither is harmless to repeat blindly.
PROMOTE_DEPLOYMENT = Endpoint(
    "promote_deployment", "PUT", "/v1/flow/deployments/{deployment_id}/promote", repeatable=False
)
DEMOTE_DEPLOYMENT = Endpoint(
    "demote_deployment", "PUT", "/v1/flow/deployments/{deployment_id}/demote", repeatable=False
)
ENDPOINTS = (LIST_DEPLOYMENTS, CREATE_DEPLOYMENT, GET_DEPLOYMENT, PROMOTE_DEPLOYMENT, DEMOTE_DEPLOYMENT)

# The contract's default page; a page shorter than it is the last. The service's maximum is not
# documented, so a larger page could be cut silently and read as the last one.
PAGE_SIZE = 100
# A listing stops after this many pages; a snapshot of it is then marked incomplete.
MAX_PAGES = 100
# What the service answers a promote or demote out of turn (API.md H.6).
CONFLICT = 409
NAME_LENGTH = (5, 100)
DESCRIPTION_LENGTH = (5, 1000)
INSTANCES = (1, 50)
MODEL_TYPES: tuple[str, ...] = tuple(member.value for member in DeploymentType)


class Deployment(ServiceModel):
    """A deployment: a model served on ``n_instances`` instances, with its usage counters."""

    id: str | None = None
    name: OptionalText = None
    description: OptionalText = None
    model_type: OptionalText = None
    model_id: str | None = None
    status: str = "unknown"
    n_instances: OptionalInt = None
    total_input_tokens: OptionalInt = None
    total_output_tokens: OptionalInt = None
    created_at: OptionalDatetime = None
    updated_at: OptionalDatetime = None
    last_deployed_at: OptionalDatetime = None
    # Not in the contract (it has no field for a reason); read when the service sends one.
    status_message: OptionalText = None

    @property
    def is_terminal(self) -> bool:
        """Whether a wait for it to serve is over: ``Active``, ``Failed`` or ``Inactive``; unknown counts as going."""
        return self.status in DeploymentStatus.terminal_states()

    @property
    def succeeded(self) -> bool:
        """Whether it serves (``Active``)."""
        return self.status == DeploymentStatus.ACTIVE.value

    @property
    def serves_or_starts(self) -> bool:
        """Whether it holds instances now (``Pending`` or ``Active``): what a demote releases."""
        return self.status in (DeploymentStatus.PENDING.value, DeploymentStatus.ACTIVE.value)

    def describe(self) -> str:
        """Return ``name, model_type model_id, N instance(s)`` for the task log."""
        instances = f"{self.n_instances} instance(s)" if self.n_instances is not None else "? instances"
        return f"{self.name or '(unnamed)'}, {self.model_type or '?'} {self.model_id or '?'}, {instances}"


class DeploymentList(ServiceModel):
    """One page of the caller's deployments."""

    data: list[Deployment] | None = Field(default_factory=list)


def _text(field: str, value: Any, bounds: tuple[int, int]) -> str:
    least, most = bounds
    if not isinstance(value, str) or not least <= len(value.strip()) or len(value) > most:
        raise config_error(f"{field}: must be text of {least} to {most} characters, got {value!r}")
    return value


def create_request(
    *,
    name: str,
    model_id: str,
    model_type: str = DeploymentType.FINE_TUNED_RUN.value,
    n_instances: int = 1,
    description: str,
) -> dict[str, Any]:
    """
    Return a checked create body (``NewDeploymentRequest``), refusing locally what the contract refuses.

    :param name: 5 to 100 characters; names are not keys (the service takes two of one name).
    :param model_id: A fine-tune's model id (``Fine-tuned Run``) or a base model's name; not blank.
    :param model_type: ``Fine-tuned Run`` or ``Base Model``.
    :param n_instances: 1 to 50, fixed for the deployment's life (there is no scale route).
    :param description: 5 to 1000 characters.
    """
    _text("name", name, NAME_LENGTH)
    _text("description", description, DESCRIPTION_LENGTH)
    if model_type not in MODEL_TYPES:
        raise config_error(f"model_type: {model_type!r} is not one of {', '.join(MODEL_TYPES)}")
    if not isinstance(model_id, str) or not model_id.strip():
        raise config_error(f"model_id: must name the model to serve, got {model_id!r}")
    least, most = INSTANCES
    if isinstance(n_instances, bool) or not isinstance(n_instances, int) or not least <= n_instances <= most:
        raise config_error(f"n_instances: must be a whole number from {least} to {most}, got {n_instances!r}")
    return {
        "name": name,
        "description": description,
        "model_type": model_type,
        "model_id": model_id,
        "n_instances": n_instances,
    }


def create(body: dict[str, Any]) -> Call[Deployment]:
    """Return the call creating (and starting) a deployment from a :func:`create_request` body."""
    return Call(CREATE_DEPLOYMENT, Deployment, json=body)


def get(deployment_id: str) -> Call[Deployment]:
    """Return the call reading a deployment."""
    return Call(GET_DEPLOYMENT, Deployment, ids={"deployment_id": deployment_id})


def list_deployments(*, skip: int = 0, limit: int = PAGE_SIZE) -> Call[DeploymentList]:
    """Return the call listing one page of the caller's deployments."""
    return Call(LIST_DEPLOYMENTS, DeploymentList, params={"skip": skip, "limit": limit})


def promote(deployment_id: str) -> Call[Deployment]:
    """Return the call promoting (starting to serve) an ``Inactive`` deployment; any other status is a 409."""
    return Call(PROMOTE_DEPLOYMENT, Deployment, ids={"deployment_id": deployment_id})


def demote(deployment_id: str) -> Call[Deployment]:
    """Return the call demoting (stopping) a deployment; an ``Inactive`` one is a 409."""
    return Call(DEMOTE_DEPLOYMENT, Deployment, ids={"deployment_id": deployment_id})


def checked_id(deployment_id: Any) -> str:
    """Return a deployment id given as text or as a deployment task's result (``{"job_id": ...}``); refuse others."""
    if isinstance(deployment_id, dict):
        deployment_id = deployment_id.get("job_id")
    if isinstance(deployment_id, str):
        deployment_id = deployment_id.strip()
    return check_id("deployment_id", deployment_id)


def list_all() -> Generator[Call[DeploymentList], DeploymentList, tuple[list[Deployment], bool]]:
    """
    List every deployment, page by page; an operation (``hook.run(list_all())``) resulting in ``(deployments, complete)``.

    ``complete`` is False when the listing stopped at ``MAX_PAGES``.
    """
    listed: list[Deployment] = []
    for page_number in range(MAX_PAGES):
        page = (yield list_deployments(skip=page_number * PAGE_SIZE)).data or []
        listed += page
        if len(page) < PAGE_SIZE:
            return listed, True
    return listed, False


def snapshot_of(listed: list[Deployment], complete: bool) -> Snapshot:
    """Return the snapshot of a whole listing (:func:`list_all`): any deployment missing from it is new."""
    return Snapshot.of(listed, page_size=None if complete else len(listed))


def find_reusable(listed: Iterable[Deployment], name: str, model_id: str) -> list[Deployment]:
    """
    Return the deployments of this name and model that a create would duplicate: every one not ``Failed``.

    Best first: ``Active``, then ``Pending`` (and statuses read as going), then ``Inactive``; the
    oldest first within a status, so every task picks the same one.

    :param listed: The service's deployments.
    :param name: The create request's name.
    :param model_id: The create request's model id.
    """
    order = {DeploymentStatus.ACTIVE.value: 0, DeploymentStatus.INACTIVE.value: 2}
    found = [
        deployment
        for deployment in listed
        if deployment.id
        and deployment.name == name
        and deployment.model_id == model_id
        and deployment.status != DeploymentStatus.FAILED.value
    ]
    return sorted(
        found,
        key=lambda deployment: (
            order.get(deployment.status, 1),
            as_utc(deployment.created_at).timestamp() if deployment.created_at else float("inf"),
        ),
    )


def race_winner(listed: Iterable[Deployment], created: Deployment) -> Deployment | None:
    """
    Return the deployment that wins over ``created`` when tasks created the same name and model at once, or None if it is ``created``.

    Two tasks that both found nothing to reuse may each create one. The oldest (by the service's
    ``created_at``, then id) wins, so every task settles on the same one; a task whose own create
    lost demotes it and reuses the winner.

    :param listed: The service's deployments, listed after ``created`` was made.
    :param created: The deployment this task just created.
    """

    def age(deployment: Deployment) -> tuple[float, str]:
        stamp = as_utc(deployment.created_at).timestamp() if deployment.created_at else float("inf")
        return stamp, str(deployment.id)

    rivals = [
        other
        for other in find_reusable(listed, str(created.name), str(created.model_id))
        if other.id != created.id and age(other) < age(created)
    ]
    return min(rivals, key=age) if rivals else None


def find_lost_deployment(
    listed: Iterable[Deployment], body: dict[str, Any], snapshot: Snapshot
) -> Deployment | None:
    """
    Return the deployment a create whose answer was lost made: the one NEW deployment matching the request.

    Name, model id, model type and instance count are compared (names are not keys, so a
    deployment listed before the request was sent is never adopted).

    :param listed: The service's deployments, listed after the answer was lost.
    :param body: The create request that was sent.
    :param snapshot: The deployments listed before it was sent.
    :raises SeekrFlowAmbiguousResultError: More than one new deployment may be it.
    """
    sent = {key: body[key] for key in ("name", "model_id", "model_type", "n_instances")}
    return adopt(
        listed,
        snapshot,
        lambda deployment: matches_echoed_fields(
            deployment.model_dump(), sent, required=("name", "model_id")
        ),
        what=f"deployment create ({body['name']}, {body['model_id']})",
    ).found
