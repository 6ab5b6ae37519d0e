"""
The SeekrFlow connection form, defined once.

The provider info gives it to Airflow 3 (``ui-field-behaviour`` and ``conn-fields``), the hook to
Airflow 2 (``get_ui_field_behaviour`` and WTForms widgets). Every extra the hook reads is here, from
the one definition the hook parses them with (``client/connection_extras.py``).
Light on purpose: the provider info imports it while Airflow lists providers.
"""

from __future__ import annotations

from typing import Any

from airflow_provider_seekrflow.client.connection_extras import EXTRA_FIELDS, ExtraField
from airflow_provider_seekrflow.defaults import DEFAULT_BASE_URL

__all__ = ["EXTRA_FIELDS", "HIDDEN_FIELDS", "RELABELING", "ExtraField", "conn_fields", "placeholders"]

HIDDEN_FIELDS = ["schema", "port", "login"]
RELABELING = {"host": "API base URL", "password": "API key"}


def placeholders() -> dict[str, str]:
    """Return the placeholder of the host, the API key and every extra field."""
    return {
        "host": DEFAULT_BASE_URL,
        "password": "your SeekrFlow API key",
        **{field.name: field.placeholder for field in EXTRA_FIELDS},
    }


def conn_fields() -> dict[str, Any]:
    """Return the extra fields as Airflow 3's provider info ``conn-fields``."""
    return {
        field.name: {"label": field.label, "description": field.description, "schema": field.schema()}
        for field in EXTRA_FIELDS
    }
