"""
The SeekrFlow connection form, defined once.

The provider info gives it to Airflow 3 (``ui-field-behaviour`` and ``conn-fields``), the hook to
Airflow 2 (``get_ui_field_behaviour`` and WTForms widgets). Every extra the hook reads is here.
Light on purpose: the provider info imports it while Airflow lists providers.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from airflow_provider_seekrflow._client.config import (
    DEFAULT_BASE_URL,
    DEFAULT_CONNECT_TIMEOUT,
    DEFAULT_MAX_RETRIES,
    DEFAULT_TIMEOUT,
)

HIDDEN_FIELDS = ["schema", "port", "login"]
RELABELING = {"host": "API base URL", "password": "API key"}


@dataclass(frozen=True)
class ExtraField:
    """
    One field of the connection's extra, as the form shows it.

    :param name: The key in the connection's extra.
    :param label: The form's label.
    :param description: The help text under the field.
    :param kind: Its JSON type: ``string``, ``integer`` or ``number``.
    :param minimum: The smallest value a number may take, if any.
    :param placeholder: The example shown in the empty field.
    """

    name: str
    label: str
    description: str
    kind: str
    placeholder: str
    minimum: float | None = None


EXTRA_FIELDS: tuple[ExtraField, ...] = (
    ExtraField(
        "team_id", "Team ID", "Optional SeekrFlow team, sent as the x-team-id header.", "string", "team-1"
    ),
    ExtraField(
        "timeout",
        "Timeout (seconds)",
        f"Read timeout of each request; {DEFAULT_TIMEOUT:g} when empty.",
        "integer",
        f"{DEFAULT_TIMEOUT:g}",
        minimum=1,
    ),
    ExtraField(
        "connect_timeout",
        "Connect timeout (seconds)",
        f"How long to wait for a connection to the host; {DEFAULT_CONNECT_TIMEOUT:g} when empty.",
        "number",
        f"{DEFAULT_CONNECT_TIMEOUT:g}",
        minimum=0.1,
    ),
    ExtraField(
        "max_retries",
        "Max retries",
        f"Retries of a request that failed on a 429, a 5xx or a lost connection; {DEFAULT_MAX_RETRIES} when empty.",
        "integer",
        str(DEFAULT_MAX_RETRIES),
        minimum=0,
    ),
    ExtraField(
        "verify",
        "Verify TLS",
        "true (the default) to verify the host's certificate with the system's CAs, false not to "
        "verify it, or the path of a CA bundle (PEM) to verify it with.",
        "string",
        "/etc/ssl/certs/company-ca.pem",
    ),
)


def placeholders() -> dict[str, str]:
    """Return the placeholder of the host, the API key and every extra field."""
    return {
        "host": DEFAULT_BASE_URL,
        "password": "your SeekrFlow API key",
        **{field.name: field.placeholder for field in EXTRA_FIELDS},
    }


def conn_fields() -> dict[str, Any]:
    """Return the extra fields as Airflow 3's provider info ``conn-fields``."""
    fields: dict[str, Any] = {}
    for field in EXTRA_FIELDS:
        schema: dict[str, Any] = {"type": [field.kind, "null"]}
        if field.minimum is not None:
            schema["minimum"] = field.minimum
        fields[field.name] = {"label": field.label, "description": field.description, "schema": schema}
    return fields
