"""Provider metadata read by Airflow through the ``apache_airflow_provider`` entry point."""

from __future__ import annotations

from typing import Any

from airflow_provider_seekrflow import __version__
from airflow_provider_seekrflow.connection_form import HIDDEN_FIELDS, RELABELING, conn_fields, placeholders

_PACKAGE = "airflow_provider_seekrflow"
_ASSET_URIS = {
    "schemes": ["seekrflow"],
    "handler": f"{_PACKAGE}.assets.sanitize_uri",
    "factory": f"{_PACKAGE}.assets.create_asset",
    "to_openlineage_converter": f"{_PACKAGE}.assets.convert_asset_to_openlineage",
}

# The operator extra links (airflow_provider_seekrflow.links), named here so listing providers
# imports no Airflow class: Airflow 2's webserver rebuilds a task's links from these paths.
_LINKS = (
    "SeekrFlowFileLink",
    "SeekrFlowDataJobLink",
    "SeekrFlowAlignmentJobLink",
    "SeekrFlowFineTuneLink",
    "SeekrFlowDeploymentLink",
    "SeekrFlowVectorDatabaseLink",
)


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
                    f"{_PACKAGE}.operators.evaluate",
                    f"{_PACKAGE}.operators.deployment",
                    f"{_PACKAGE}.operators.vector_database",
                    f"{_PACKAGE}.operators.vector_database_sync",
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
                    f"{_PACKAGE}.sensors.deployment",
                    f"{_PACKAGE}.sensors.vector_database",
                ],
            }
        ],
        "extra-links": [f"{_PACKAGE}.links.{name}" for name in _LINKS],
        "triggers": [
            {
                "integration-name": "SeekrFlow",
                "python-modules": [f"{_PACKAGE}.triggers.job"],
            }
        ],
        # The seekrflow:// URI of training data (airflow_provider_seekrflow.assets): checked when a DAG
        # declares it, read by OpenLineage; "dataset-uris" is the same for Airflow 2.
        "asset-uris": [_ASSET_URIS],
        "dataset-uris": [_ASSET_URIS],
        "connection-types": [
            {
                "connection-type": "seekrflow",
                "hook-class-name": f"{_PACKAGE}.hooks.seekrflow.SeekrFlowHook",
                "hook-name": "SeekrFlow",
                "ui-field-behaviour": {
                    "hidden-fields": list(HIDDEN_FIELDS),
                    "relabeling": dict(RELABELING),
                    "placeholders": placeholders(),
                },
                "conn-fields": conn_fields(),
            }
        ],
    }
