"""Turn an Airflow connection into validated client settings."""

from __future__ import annotations

import json
import math
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit

from airflow_provider_seekrflow import __version__

DEFAULT_BASE_URL = "https://flow.seekr.com"
DEFAULT_TIMEOUT = 120.0
DEFAULT_CONNECT_TIMEOUT = 10.0
DEFAULT_MAX_RETRIES = 5
USER_AGENT = f"airflow-provider-seekrflow/{__version__}"

_API_PREFIX = "/v1/flow"


class ConnectionSettingsError(ValueError):
    """A connection field is unusable; the message names the field."""


@dataclass(frozen=True)
class ClientConfig:
    """
    Everything a client needs to talk to SeekrFlow.

    :param base_url: Scheme, host and optional port and path prefix, without a trailing slash.
    :param api_key: The API key, sent bare in the ``Authorization`` header.
    :param team_id: Optional team, sent as ``x-team-id``.
    :param timeout: Read timeout in seconds.
    :param connect_timeout: Connect timeout in seconds.
    :param max_retries: How many times a retryable failure is retried.
    :param verify: Whether to verify TLS certificates, or the path of a CA bundle to verify them with.
    """

    base_url: str
    api_key: str = field(repr=False)
    team_id: str | None = None
    timeout: float = DEFAULT_TIMEOUT
    connect_timeout: float = DEFAULT_CONNECT_TIMEOUT
    max_retries: int = DEFAULT_MAX_RETRIES
    verify: bool | str = True

    def headers(self) -> dict[str, str]:
        """Return the headers every request carries."""
        headers = {"Authorization": self.api_key, "User-Agent": USER_AGENT, "Accept": "application/json"}
        if self.team_id:
            headers["x-team-id"] = self.team_id
        return headers

    def url(self, path: str) -> str:
        """Return the absolute URL of an API path."""
        return self.base_url + path


def normalize_base_url(host: str | None, port: int | None = None, schema: str | None = None) -> str:
    """
    Return a usable base URL from the connection's host field.

    Accepts ``flow.seekr.com``, ``https://flow.seekr.com/`` or ``http://127.0.0.1:8080``; a
    missing scheme means https. A trailing ``/v1/flow`` is dropped since every path adds it.

    :param host: The connection's host field; empty means the public service.
    :param port: The connection's port field, used when the host names none.
    :param schema: The connection's schema field: the path of a URI-form connection
        (``seekrflow://:KEY@gateway/prefix``), used as a path prefix when the host has none.
    """
    raw = (host or "").strip()
    if not raw:
        return DEFAULT_BASE_URL
    if any(ch.isspace() for ch in raw):
        raise ConnectionSettingsError(f"host {raw!r} is not a URL: it contains white space")
    if "://" not in raw:
        raw = "https://" + raw
    try:
        parts = urlsplit(raw)
    except ValueError as err:
        raise ConnectionSettingsError(f"host {host!r} is not a URL: {err}") from None
    if parts.scheme not in ("http", "https"):
        raise ConnectionSettingsError(f"host {host!r} must be an http or https URL, not {parts.scheme}://")
    if not parts.hostname:
        raise ConnectionSettingsError(f"host {host!r} names no host name")
    if parts.username or parts.password:
        raise ConnectionSettingsError(
            "host must not carry credentials; put the API key in the password field"
        )
    if parts.query or parts.fragment:
        raise ConnectionSettingsError(f"host {host!r} must not have a query or fragment")
    try:
        explicit_port = parts.port
    except ValueError as err:
        raise ConnectionSettingsError(f"host {host!r} has an invalid port") from err
    netloc = parts.netloc
    if explicit_port is None and port:
        if not 1 <= int(port) <= 65535:
            raise ConnectionSettingsError(f"port {port!r} must be between 1 and 65535")
        netloc = f"{netloc}:{int(port)}"
    path = parts.path.rstrip("/")
    if not path and schema and schema.strip("/"):
        path = "/" + schema.strip("/")
    if path.endswith(_API_PREFIX):
        path = path[: -len(_API_PREFIX)]
    return f"{parts.scheme}://{netloc}{path}"


def _extra(extras: dict[str, Any], name: str) -> Any:
    # Airflow 2 forms stored custom fields as extra__<conn_type>__<name>.
    for key in (name, f"extra__seekrflow__{name}"):
        value = extras.get(key)
        if value not in (None, ""):
            return value
    return None


def _positive_number(extras: dict[str, Any], name: str, default: float) -> float:
    value = _extra(extras, name)
    if value is None:
        return default
    try:
        number = float(value)
    except (TypeError, ValueError, OverflowError):
        raise ConnectionSettingsError(f"extra {name!r} must be a number of seconds, got {value!r}") from None
    if not (number > 0 and math.isfinite(number)):
        raise ConnectionSettingsError(f"extra {name!r} must be greater than 0, got {value!r}")
    return number


def _retry_count(extras: dict[str, Any], default: int) -> int:
    value = _extra(extras, "max_retries")
    if value is None:
        return default
    try:
        number = int(str(value))
    except ValueError:
        raise ConnectionSettingsError(f"extra 'max_retries' must be a whole number, got {value!r}") from None
    if number < 0:
        raise ConnectionSettingsError(f"extra 'max_retries' must be 0 or more, got {value!r}")
    return number


def _verify(extras: dict[str, Any]) -> bool | str:
    value = _extra(extras, "verify")
    if value is None:
        return True
    if isinstance(value, bool):
        return value
    text = str(value).strip()
    if text.lower() in ("true", "1", "yes"):
        return True
    if text.lower() in ("false", "0", "no"):
        return False
    return text


def parse_extras(extra: str | dict[str, Any] | None) -> dict[str, Any]:
    """Return the connection's extra as a dict, with a clear error for malformed JSON."""
    if not extra:
        return {}
    if isinstance(extra, dict):
        return extra
    try:
        value = json.loads(extra)
    except json.JSONDecodeError as err:
        raise ConnectionSettingsError(f"extra is not valid JSON: {err.msg} at position {err.pos}") from None
    except RecursionError:
        raise ConnectionSettingsError("extra is not valid JSON: nested too deeply") from None
    if not isinstance(value, dict):
        raise ConnectionSettingsError("extra must be a JSON object")
    return value


def build_client_config(
    *,
    host: str | None,
    port: int | None,
    password: str | None,
    extras: dict[str, Any],
    schema: str | None = None,
    timeout: float | None = None,
    max_retries: int | None = None,
) -> ClientConfig:
    """
    Validate connection fields and return the client settings.

    :param host: The connection's host field (the API base URL).
    :param port: The connection's port field.
    :param password: The connection's password field (the API key).
    :param schema: The connection's schema field (a URI connection's path).
    :param extras: The connection's extra fields.
    :param timeout: Read timeout overriding the connection's ``timeout`` extra.
    :param max_retries: Retry count overriding the connection's ``max_retries`` extra.
    """
    api_key = (password or "").strip()
    if not api_key:
        raise ConnectionSettingsError("password (the SeekrFlow API key) is empty")
    if not (api_key.isascii() and api_key.isprintable()):
        raise ConnectionSettingsError(
            "password (the SeekrFlow API key) must be printable ASCII on a single line"
        )
    team_id = _extra(extras, "team_id")
    if team_id is not None and not (str(team_id).isascii() and str(team_id).strip().isprintable()):
        raise ConnectionSettingsError("extra 'team_id' must be printable ASCII")
    return ClientConfig(
        base_url=normalize_base_url(host, port, schema),
        api_key=api_key,
        team_id=str(team_id).strip() if team_id is not None else None,
        timeout=timeout if timeout is not None else _positive_number(extras, "timeout", DEFAULT_TIMEOUT),
        connect_timeout=_positive_number(extras, "connect_timeout", DEFAULT_CONNECT_TIMEOUT),
        max_retries=max_retries if max_retries is not None else _retry_count(extras, DEFAULT_MAX_RETRIES),
        verify=_verify(extras),
    )
