"""SeekrFlow projects, the folders fine-tunes live in: endpoints, models, calls and the create request's checks."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from pydantic import Field

from airflow_provider_seekrflow.client.endpoints import Call, Endpoint
from airflow_provider_seekrflow.client.service_model import OptionalDatetime, ServiceModel, config_error

LIST_PROJECTS = Endpoint("list_projects", "GET", "/v1/flow/projects", repeatable=True)
CREATE_PROJECT = Endpoint("create_project", "POST", "/v1/flow/projects", repeatable=False)
GET_PROJECT = Endpoint("get_project", "GET", "/v1/flow/projects/{project_id}", repeatable=True)
ENDPOINTS = (LIST_PROJECTS, CREATE_PROJECT, GET_PROJECT)
NAME_LENGTHS = (5, 100)
DESCRIPTION_LENGTHS = (5, 1000)
# The official sync client pages projects 100 at a time; the largest page the service allows is unknown.
PAGE_SIZE = 100


class Project(ServiceModel):
    """A project; its id is an integer, unlike every other SeekrFlow id."""

    id: int
    name: str | None = None
    description: str | None = None
    created_at: OptionalDatetime = None
    updated_at: OptionalDatetime = None


class ProjectList(ServiceModel):
    """A page of projects."""

    data: list[Project] = Field(default_factory=list)


def create_request(name: str, description: str) -> dict[str, Any]:
    """
    Return a checked create body: a name of 5 to 100 characters and a description of 5 to 1000.

    :param name: The project's name.
    :param description: What it is for.
    """
    for field, value, (least, most) in (
        ("project_name", name, NAME_LENGTHS),
        ("project_description", description, DESCRIPTION_LENGTHS),
    ):
        if not isinstance(value, str) or not least <= len(value.strip()) <= most:
            raise config_error(f"{field}: must be {least} to {most} characters, got {value!r}")
    return {"name": name, "description": description}


def list_projects(skip: int = 0, limit: int = PAGE_SIZE) -> Call[ProjectList]:
    """Return the call listing one page of projects."""
    return Call(LIST_PROJECTS, ProjectList, params={"skip": skip, "limit": limit})


def create(body: dict[str, Any]) -> Call[Project]:
    """Return the call creating a project from a :func:`create_request` body."""
    return Call(CREATE_PROJECT, Project, json=body)


def get(project_id: int) -> Call[Project]:
    """Return the call reading a project."""
    return Call(GET_PROJECT, Project, ids={"project_id": str(project_id)})


def find_by_name(projects: Iterable[Project], name: str) -> Project | None:
    """Return the first project named ``name``, if any (a retry finds the project its first try made)."""
    return next((project for project in projects if project.name == name), None)
