"""The emulator's ASGI application: every path of openapi.yaml plus the ``/_emulator`` admin API.

Files and alignment jobs, data jobs (ingestion, then alignment), fine-tunes and projects,
deployments and chat completions: each group's routes are in its ``api_*`` module, its lifecycle
in a module of its own.

``create_app`` returns the app to hand to uvicorn: the fault/journal layer outermost, then the
``hostile_numbers`` rewriting of JSON answers, then the deprecation headers of the generate route,
then the API-key check (every path, the ``/_emulator`` admin API included), then FastAPI routes
named by the openapi operationIds.

Two config switches (``PUT /_emulator/config``) imitate other servers than today's:
``legacy_job_shape`` shows job ``progress``/``step_progress`` as strings (``"40%"``) and an
unknown status (``preparing``) during the queued phase; ``deprecation_headers`` adds
``Deprecation``, ``Sunset`` and ``Link`` to every answer of ``POST /v1/flow/alignment/generate``.
"""

from __future__ import annotations

from typing import Any

from fastapi import FastAPI

from airflow_provider_seekrflow.emulator.admin import add_admin_routes
from airflow_provider_seekrflow.emulator.api_alignment import add_alignment_routes
from airflow_provider_seekrflow.emulator.api_chat import add_chat_routes
from airflow_provider_seekrflow.emulator.api_data_jobs import add_data_job_routes
from airflow_provider_seekrflow.emulator.api_deployments import add_deployment_routes
from airflow_provider_seekrflow.emulator.api_files import add_file_routes
from airflow_provider_seekrflow.emulator.api_fine_tunes import add_fine_tune_routes
from airflow_provider_seekrflow.emulator.api_projects import add_project_routes
from airflow_provider_seekrflow.emulator.api_vector_databases import add_vector_database_routes
from airflow_provider_seekrflow.emulator.fault_layer import EmulatorLayer
from airflow_provider_seekrflow.emulator.gateway import (
    GENERATE_DEPRECATION,
    GENERATE_LINK,
    GENERATE_SUNSET,
    ApiKeyLayer,
    DeprecationLayer,
)
from airflow_provider_seekrflow.emulator.hostile_numbers import HostileNumbersLayer
from airflow_provider_seekrflow.emulator.state import DEFAULT_CONFIG, EmulatorState

# The names the emulator's users import from here, wherever they are defined.
__all__ = [
    "DEFAULT_CONFIG",
    "GENERATE_DEPRECATION",
    "GENERATE_LINK",
    "GENERATE_SUNSET",
    "EmulatorState",
    "create_app",
]


def create_app(state: EmulatorState) -> Any:
    """Return the full ASGI app for ``state``, the fault/journal layer outermost."""
    api = FastAPI(
        title="SeekrFlow emulator",
        docs_url="/_emulator/docs",
        redoc_url=None,
        openapi_url="/_emulator/openapi.json",
    )
    add_file_routes(api, state)
    add_alignment_routes(api, state)
    add_data_job_routes(api, state)
    add_fine_tune_routes(api, state)
    add_project_routes(api, state)
    add_deployment_routes(api, state)
    add_chat_routes(api, state)
    add_vector_database_routes(api, state)
    add_admin_routes(api, state)
    inner: Any = DeprecationLayer(ApiKeyLayer(api, state.api_key), state)
    # Hostile numbers sit inside the fault layer, so a trickle or a drop sends the rewritten body.
    inner = HostileNumbersLayer(inner, lambda: state.config)
    return EmulatorLayer(inner, state.faults, state.journal)
