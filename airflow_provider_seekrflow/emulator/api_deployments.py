"""Register the emulator's deployment routes: create, list (``skip``/``limit``), read, promote and demote.

The create body is the contract's ``NewDeploymentRequest``: its bounds (name 5-100 characters,
description 5-1000, ``n_instances`` 1-50, ``model_type`` one of the two types) are checked by the
model (422 naming the field). Then what needs the store: a ``Fine-tuned Run`` names its model by
the fine-tune's id (the emulator's fine-tunes name no other model id): an unknown one is a 404,
one that has not completed (so has no model yet) a 422 on ``model_id``. A ``Base Model`` is any
non-blank model name. Promote and demote out of turn answer 409 with a ``detail``.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Literal

from fastapi import FastAPI, Query, Request
from fastapi.responses import JSONResponse, Response
from pydantic import BaseModel, ConfigDict, Field

from airflow_provider_seekrflow.client import deployments as endpoints
from airflow_provider_seekrflow.emulator.deployments import (
    BASE_MODEL,
    FINE_TUNED_RUN,
    DeploymentConflict,
)
from airflow_provider_seekrflow.emulator.refusals import (
    DEPLOYMENT,
    FINE_TUNE,
    conflict,
    found,
    invalid,
    not_found,
    value_error,
)
from airflow_provider_seekrflow.emulator.routes import route
from airflow_provider_seekrflow.emulator.state import EmulatorState
from airflow_provider_seekrflow.vocabulary import FineTuneStatus

__all__ = ["add_deployment_routes"]

if TYPE_CHECKING:
    DeploymentType = str
else:
    # A Literal rather than an enum, so a bad type is refused with pydantic's literal_error.
    DeploymentType = Literal[FINE_TUNED_RUN, BASE_MODEL]


class NewDeploymentRequest(BaseModel):
    model_config = ConfigDict(extra="allow", protected_namespaces=())

    model_type: DeploymentType
    model_id: str
    name: str = Field(min_length=5, max_length=100)
    description: str = Field(min_length=5, max_length=1000)
    n_instances: int = Field(ge=1, le=50)


def add_deployment_routes(api: FastAPI, state: EmulatorState) -> None:
    """Register the ``/v1/flow/deployments`` routes on ``api``, serving ``state``'s deployments."""
    service = state.deployments

    def check_model(body: NewDeploymentRequest) -> None:
        """Refuse a model the emulator cannot serve: 404 for an unknown fine-tune, 422 for one without a model."""
        loc = ("body", "model_id")
        if not body.model_id.strip():
            raise invalid(value_error(loc, "model_id must name a model", body.model_id))
        if body.model_type != FINE_TUNED_RUN:
            return
        fine_tune = state.fine_tunes.get(body.model_id)
        if fine_tune is None:
            raise not_found(FINE_TUNE, body.model_id)
        if fine_tune["status"] != FineTuneStatus.COMPLETED.value:
            reason = f"fine-tune {body.model_id} has no model to deploy: its status is {fine_tune['status']}"
            raise invalid(value_error(loc, reason, body.model_id))

    def start_options() -> dict[str, Any]:
        config = state.config
        return {
            "duration": config["deployment_duration"],
            "outcome": config["deployment_outcome"],
            "status_message": config["deployment_status_message"],
        }

    @route(api, endpoints.CREATE_DEPLOYMENT)
    async def create_deployment(request: Request, body: NewDeploymentRequest) -> Response:
        check_model(body)
        deployment = service.create(
            body.model_dump(mode="json"), team_id=request.headers.get("x-team-id"), **start_options()
        )
        return JSONResponse(deployment)

    @route(api, endpoints.LIST_DEPLOYMENTS)
    async def list_deployments(skip: int = Query(0, ge=0), limit: int = Query(100, ge=1)) -> Response:
        return JSONResponse({"data": service.list_deployments(skip, limit)})

    @route(api, endpoints.GET_DEPLOYMENT)
    async def get_deployment(deployment_id: str) -> Response:
        return JSONResponse(found(service.get(deployment_id), DEPLOYMENT, deployment_id))

    @route(api, endpoints.PROMOTE_DEPLOYMENT)
    async def promote_deployment(deployment_id: str) -> Response:
        try:
            deployment = service.promote(deployment_id, **start_options())
        except DeploymentConflict as exc:
            raise conflict(str(exc)) from None
        return JSONResponse(found(deployment, DEPLOYMENT, deployment_id))

    @route(api, endpoints.DEMOTE_DEPLOYMENT)
    async def demote_deployment(deployment_id: str) -> Response:
        try:
            deployment = service.demote(deployment_id)
        except DeploymentConflict as exc:
            raise conflict(str(exc)) from None
        return JSONResponse(found(deployment, DEPLOYMENT, deployment_id))
