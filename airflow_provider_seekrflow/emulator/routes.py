"""The emulator's API routes, taken from the client's endpoint declarations so a path is written once.

``resolve_route`` maps an HTTP method and path to the endpoint's openapi operationId (the name
fault rules and the journal use); ``route`` registers a FastAPI handler for an endpoint.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from airflow_provider_seekrflow.client import (
    alignment,
    chat,
    data_jobs,
    deployments,
    files,
    fine_tunes,
    projects,
    vector_databases,
)
from airflow_provider_seekrflow.client.endpoints import Endpoint

if TYPE_CHECKING:
    from fastapi import FastAPI

__all__ = ["ENDPOINTS", "OPERATION_IDS", "resolve_route", "route"]

ENDPOINTS: tuple[Endpoint, ...] = (
    files.ENDPOINTS
    + alignment.ENDPOINTS
    + data_jobs.ENDPOINTS
    + fine_tunes.ENDPOINTS
    + projects.ENDPOINTS
    + deployments.ENDPOINTS
    + chat.ENDPOINTS
    + vector_databases.ENDPOINTS
)
# One path segment: what a ``{placeholder}`` of a template stands for.
_ID = "[^/]+"
_PLACEHOLDER = re.compile(r"\{[^/{}]+\}")


def _pattern(template: str) -> re.Pattern[str]:
    """Return the regex matching a path template's paths, with or without a trailing slash."""
    # A hyphen needs no escape outside a character class; left bare, the pattern reads as its path.
    literal_parts = [re.escape(part).replace("\\-", "-") for part in _PLACEHOLDER.split(template)]
    return re.compile(f"^{_ID.join(literal_parts)}/?$")


def _specificity(endpoint: Endpoint) -> list[bool]:
    """Sort key putting a literal segment before a placeholder in the same position.

    So ``/files/validate_metadata`` is tried before ``/files/{file_id}``, as a router would.
    """
    return [segment.startswith("{") for segment in endpoint.path.split("/")]


# (method, path regex, operationId), most specific path first.
_TABLE: tuple[tuple[str, re.Pattern[str], str], ...] = tuple(
    (endpoint.method, _pattern(endpoint.path), endpoint.name)
    for endpoint in sorted(ENDPOINTS, key=_specificity)
)

OPERATION_IDS: frozenset[str] = frozenset(endpoint.name for endpoint in ENDPOINTS)


def resolve_route(method: str, path: str) -> str | None:
    """Return the operationId serving ``method path``, or None for a path outside the API."""
    for route_method, pattern, operation_id in _TABLE:
        if route_method == method and pattern.match(path):
            return operation_id
    return None


def route(api: FastAPI, endpoint: Endpoint) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
    """Return the decorator registering a handler for ``endpoint`` on ``api``, named by its operationId."""
    return api.api_route(endpoint.path, methods=[endpoint.method], operation_id=endpoint.name)
