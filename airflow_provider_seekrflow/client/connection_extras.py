"""
The SeekrFlow connection's extras, each defined once: name, JSON type, bounds, default, label and help.

``connection_form`` shows them (Airflow 3's ``conn-fields``, Airflow 2's widgets, the reference docs)
and ``config`` reads them with the same bounds and defaults, so the form cannot promise what the hook
refuses. Free of Airflow, like both.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

DEFAULT_TIMEOUT = 120.0
DEFAULT_CONNECT_TIMEOUT = 10.0
DEFAULT_MAX_RETRIES = 5
# Bounds of the numeric extras: beyond them a value is a typo, and a socket timeout past ~9e9 s, or
# millions of retries, would fail on every request instead of here.
MAX_TIMEOUT_SECONDS = 24 * 60 * 60.0
MAX_RETRIES = 100

#: The placeholders a ``console_url`` template may hold: the page of the object's kind and its id.
CONSOLE_PLACEHOLDERS = ("kind", "id")
#: What ``{kind}`` becomes, by the kind of object linked to: the API's own path segment of each.
CONSOLE_PAGES = {
    "file": "files",
    "data_job": "data-jobs",
    "fine_tune": "fine-tunes",
    "alignment": "alignment",
    "deployment": "deployments",
    "vector_database": "vector-databases",
}
#: The ``console_url`` used when the extra is empty: the connection's base URL (its host, port and
#: path prefix) followed by this. SeekrFlow documents no URL scheme for its web app's pages
#: (``/work/shared/seekrflow/API.md``), so the default assumes the web app is served from the API's
#: host under the API's own names for each kind; set ``console_url`` where it is not.
DEFAULT_CONSOLE_PATH = "/{kind}/{id}"


def shown_value(value: object) -> str:
    """
    Return a default or bound as the form and messages write it: ``120``, ``0.5``, ``true``.

    :param value: A number or a boolean.
    """
    if isinstance(value, bool):
        return str(value).lower()
    return f"{value:g}" if isinstance(value, float) else str(value)


@dataclass(frozen=True)
class ExtraField:
    """
    One extra of the connection: how the form shows it and what the hook accepts in it.

    :param name: The key in the connection's extra.
    :param label: The form's label.
    :param help: What it is, the start of the form's help text (which adds the default).
    :param kind: Its JSON type: ``string``, ``integer`` or ``number``.
    :param example: The placeholder of the empty field; the default when not given.
    :param default: The value the hook uses when the extra is empty; None for none.
    :param minimum: The lower bound of a number, if any.
    :param above_minimum: Whether a number must be greater than ``minimum``, not merely equal to it.
    :param maximum: The upper bound of a number, if any.
    :param unit: What a number counts, as messages say it (``seconds``).
    """

    name: str
    label: str
    help: str
    kind: str
    example: str | None = None
    default: float | bool | None = None
    minimum: float | None = None
    above_minimum: bool = False
    maximum: float | None = None
    unit: str = ""

    @property
    def description(self) -> str:
        """Return the form's help text: what the extra is, and its value when empty."""
        if self.default is None:
            return f"{self.help}."
        return f"{self.help}; {shown_value(self.default)} when empty."

    @property
    def placeholder(self) -> str:
        """Return the example shown in the empty field."""
        return self.example if self.example is not None else shown_value(self.default)

    def schema(self) -> dict[str, Any]:
        """Return the JSON schema of the extra's value, bounds included (empty is allowed)."""
        schema: dict[str, Any] = {"type": [self.kind, "null"]}
        if self.minimum is not None:
            schema["exclusiveMinimum" if self.above_minimum else "minimum"] = self.minimum
        if self.maximum is not None:
            schema["maximum"] = self.maximum
        return schema

    def lower_bound_text(self) -> str:
        """Return the lower bound as a message says it: ``greater than 0``, ``0 or more``; empty for none."""
        if self.minimum is None:
            return ""
        bound = shown_value(self.minimum)
        return f"greater than {bound}" if self.above_minimum else f"{bound} or more"

    def upper_bound_text(self) -> str:
        """Return the upper bound as a message says it: ``at most 86400 seconds``; empty for none."""
        if self.maximum is None:
            return ""
        return " ".join(filter(None, ("at most", shown_value(self.maximum), self.unit)))


#: Every extra the hook reads, in the form's order.
EXTRA_FIELDS: tuple[ExtraField, ...] = (
    ExtraField(
        "team_id",
        "Team ID",
        "Optional SeekrFlow team, sent as the x-team-id header",
        "string",
        example="team-1",
    ),
    ExtraField(
        "timeout",
        "Timeout (seconds)",
        "Read timeout of each request",
        "number",
        default=DEFAULT_TIMEOUT,
        minimum=0,
        above_minimum=True,
        maximum=MAX_TIMEOUT_SECONDS,
        unit="seconds",
    ),
    ExtraField(
        "connect_timeout",
        "Connect timeout (seconds)",
        "How long to wait for a connection to the host",
        "number",
        default=DEFAULT_CONNECT_TIMEOUT,
        minimum=0,
        above_minimum=True,
        maximum=MAX_TIMEOUT_SECONDS,
        unit="seconds",
    ),
    ExtraField(
        "max_retries",
        "Max retries",
        "Retries of a request that failed on a 429, a 5xx or a lost connection",
        "integer",
        default=DEFAULT_MAX_RETRIES,
        minimum=0,
        maximum=MAX_RETRIES,
    ),
    ExtraField(
        "verify",
        "Verify TLS",
        "true to verify the host's certificate with the system's CAs, false not to verify it, or the "
        "path of a CA bundle (PEM) to verify it with",
        "string",
        example="/etc/ssl/certs/company-ca.pem",
        default=True,
    ),
    ExtraField(
        "console_url",
        "Web app URL template",
        "URL of an object's page in SeekrFlow's web app, shown as the task's SeekrFlow link: "
        "{kind} becomes files, data-jobs, fine-tunes, alignment or deployments, {id} the object's id; "
        "when empty, the API base URL followed by /{kind}/{id}",
        "string",
        example="https://flow.seekr.com/{kind}/{id}",
    ),
)

#: The extras by name.
EXTRAS: dict[str, ExtraField] = {field.name: field for field in EXTRA_FIELDS}
