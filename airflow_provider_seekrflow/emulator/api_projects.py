"""The emulator's project routes: list (``skip``/``limit``), create and read; project ids are integers from 1."""

from __future__ import annotations

from fastapi import FastAPI, Query, Request
from fastapi.responses import JSONResponse, Response
from pydantic import BaseModel, ConfigDict, Field

from airflow_provider_seekrflow.client import projects
from airflow_provider_seekrflow.emulator.refusals import PROJECT, found
from airflow_provider_seekrflow.emulator.routes import route
from airflow_provider_seekrflow.emulator.state import EmulatorState

__all__ = ["add_project_routes"]

NAME_MIN, NAME_MAX = projects.NAME_LENGTHS
DESCRIPTION_MIN, DESCRIPTION_MAX = projects.DESCRIPTION_LENGTHS


class ProjectCreateRequest(BaseModel):
    model_config = ConfigDict(extra="allow")

    # The client always sends "id": null; the service picks the id.
    id: int | None = None
    name: str = Field(min_length=NAME_MIN, max_length=NAME_MAX)
    description: str = Field(min_length=DESCRIPTION_MIN, max_length=DESCRIPTION_MAX)


def add_project_routes(api: FastAPI, state: EmulatorState) -> None:
    """Register the ``/v1/flow/projects`` routes on ``api``, serving ``state``'s projects."""
    service = state.projects

    @route(api, projects.LIST_PROJECTS)
    async def list_projects(skip: int = Query(0, ge=0), limit: int = Query(100, ge=1)) -> Response:
        return JSONResponse({"data": service.list_projects(skip, limit)})

    @route(api, projects.CREATE_PROJECT)
    async def create_project(request: Request, body: ProjectCreateRequest) -> Response:
        project = service.create(body.name, body.description, team_id=request.headers.get("x-team-id"))
        return JSONResponse(project)

    @route(api, projects.GET_PROJECT)
    async def get_project(project_id: int) -> Response:
        return JSONResponse(found(service.get(project_id), PROJECT, project_id))
