"""Provider metadata read by Airflow through the ``apache_airflow_provider`` entry point."""

from __future__ import annotations

from typing import Any

from airflow_provider_seekrflow import __version__

_PACKAGE = "airflow_provider_seekrflow"


def get_provider_info() -> dict[str, Any]:
    """Return the provider's name, versions, connection type and modules, as Airflow expects them."""
    return {
        "package-name": "airflow-provider-seekrflow",
        "name": "SeekrFlow",
        "description": (
            "`SeekrFlow <https://www.seekr.com/>`__: upload documents, turn them into training pairs "
            "with data jobs, fine-tune models on them, and wait on every job deferred, from Airflow."
        ),
        "versions": [__version__],
        "state": "ready",
        "integrations": [
            {
                "integration-name": "SeekrFlow",
                "external-doc-url": "https://docs.seekr.com/",
                "tags": ["ai"],
            }
        ],
        "hooks": [
            {
                "integration-name": "SeekrFlow",
                "python-modules": [f"{_PACKAGE}.hooks.seekrflow", f"{_PACKAGE}.hooks.seekrflow_async"],
            }
        ],
        "operators": [
            {
                "integration-name": "SeekrFlow",
                "python-modules": [
                    f"{_PACKAGE}.operators.files",
                    f"{_PACKAGE}.operators.data_job",
                    f"{_PACKAGE}.operators.fine_tune",
                    f"{_PACKAGE}.operators.alignment",
                ],
            }
        ],
        "sensors": [
            {
                "integration-name": "SeekrFlow",
                "python-modules": [
                    f"{_PACKAGE}.sensors.data_job",
                    f"{_PACKAGE}.sensors.fine_tune",
                    f"{_PACKAGE}.sensors.alignment",
                ],
            }
        ],
        "triggers": [
            {
                "integration-name": "SeekrFlow",
                "python-modules": [f"{_PACKAGE}.triggers.job", f"{_PACKAGE}.triggers.alignment"],
            }
        ],
        "connection-types": [
            {
                "connection-type": "seekrflow",
                "hook-class-name": f"{_PACKAGE}.hooks.seekrflow.SeekrFlowHook",
                "hook-name": "SeekrFlow",
                "ui-field-behaviour": {
                    "hidden-fields": ["schema", "port", "login"],
                    "relabeling": {"host": "API base URL", "password": "API key"},
                    "placeholders": {"host": "https://flow.seekr.com"},
                },
                "conn-fields": {
                    "team_id": {
                        "label": "Team ID",
                        "description": "Optional SeekrFlow team, sent as the x-team-id header.",
                        "schema": {"type": ["string", "null"]},
                    },
                    "timeout": {
                        "label": "Timeout (seconds)",
                        "description": "Read timeout of each request; 120 when empty.",
                        "schema": {"type": ["integer", "null"], "minimum": 1},
                    },
                    "max_retries": {
                        "label": "Max retries",
                        "description": "Retries of a request that failed on a 429, a 5xx or a lost connection; 5 when empty.",
                        "schema": {"type": ["integer", "null"], "minimum": 0},
                    },
                },
            }
        ],
    }
