"""Turn an Airflow connection into validated client settings."""

from __future__ import annotations

import ipaddress
import json
import logging
import math
import string
import threading
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import quote, urlsplit

from airflow_provider_seekrflow import __version__
from airflow_provider_seekrflow.client.connection_extras import (
    CONSOLE_PAGES,
    CONSOLE_PLACEHOLDERS,
    DEFAULT_CONNECT_TIMEOUT,
    DEFAULT_CONSOLE_PATH,
    DEFAULT_MAX_RETRIES,
    DEFAULT_TIMEOUT,
    EXTRA_FIELDS,
    EXTRAS,
    ExtraField,
)
from airflow_provider_seekrflow.defaults import DEFAULT_BASE_URL

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
    :param console_url: The template of an object's page in the web app (``{kind}``, ``{id}``);
        None for the base URL followed by ``/{kind}/{id}``.
    """

    base_url: str
    api_key: str = field(repr=False)
    team_id: str | None = None
    timeout: float = DEFAULT_TIMEOUT
    connect_timeout: float = DEFAULT_CONNECT_TIMEOUT
    max_retries: int = DEFAULT_MAX_RETRIES
    verify: bool | str = True
    console_url: str | None = None

    def headers(self) -> dict[str, str]:
        """Return the headers every request carries."""
        headers = {"Authorization": self.api_key, "User-Agent": USER_AGENT, "Accept": "application/json"}
        if self.team_id:
            headers["x-team-id"] = self.team_id
        return headers

    def url(self, path: str) -> str:
        """Return the absolute URL of an API path."""
        return self.base_url + path

    def console_link(self, kind: str, object_id: str) -> str:
        """
        Return the URL of an object's page in SeekrFlow's web app: only the template, the kind and the id go in.

        :param kind: The kind of object, a key of ``CONSOLE_PAGES`` (``fine_tune``...).
        :param object_id: Its id, quoted into one path segment.
        """
        page, quoted = CONSOLE_PAGES[kind], quote(str(object_id), safe="")
        if self.console_url is None:  # the base URL is no template: braces in it stay as they are
            return self.base_url + DEFAULT_CONSOLE_PATH.replace("{kind}", page).replace("{id}", quoted)
        return self.console_url.format(kind=page, id=quoted)


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
    # First, and without echoing the host: every later message shows it, and these are credentials.
    # No host name or SeekrFlow path holds an "@", so any is taken for userinfo.
    if "@" in raw:
        raise ConnectionSettingsError(
            "host must not carry credentials (user:password@); put the API key in the password field"
        )
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


def _shown(value: object) -> str:
    # A value pasted into the wrong field can be long: the message shows its start.
    text = repr(value)
    return text if len(text) <= 40 else text[:40] + "…"


def extra_setting(field: ExtraField, value: object, what: str) -> Any:
    """
    Return ``value`` as the extra ``field`` takes it, within its bounds, or raise naming ``what``.

    :param field: The extra's definition.
    :param value: The value as given (a number, a boolean or text); not empty.
    :param what: The setting's name in the message, e.g. ``extra 'timeout'``.
    """
    if field.kind == "string":
        if field.name == "console_url":
            return console_template(value, what)
        return _verify(value) if field.name == "verify" else _header_text(value, what)
    number: float | int
    if field.kind == "integer":
        text = str(value).strip()
        # int() would take "1_000" and ten thousand digits; a count here has at most a few.
        if isinstance(value, bool) or not (len(text) <= 12 and text.lstrip("+-").isdigit()):
            raise ConnectionSettingsError(f"{what} must be a whole number, got {_shown(value)}")
        number = int(text)
    else:
        try:
            number = float(value)  # type: ignore[arg-type]
        except (TypeError, ValueError, OverflowError):
            unit = f" of {field.unit}" if field.unit else ""
            raise ConnectionSettingsError(f"{what} must be a number{unit}, got {_shown(value)}") from None
    low, high = field.minimum, field.maximum
    # NaN and infinity fail the lower bound: neither is a usable number of anything.
    too_low = low is not None and not (number > low if field.above_minimum else number >= low)
    if too_low or not math.isfinite(number):
        lower = field.lower_bound_text() or "a finite number"
        raise ConnectionSettingsError(f"{what} must be {lower}, got {_shown(value)}")
    if high is not None and number > high:
        raise ConnectionSettingsError(f"{what} must be {field.upper_bound_text()}, got {_shown(value)}")
    return number


def seconds_setting(value: object, what: str) -> float:
    """
    Return ``value`` as a number of seconds within the ``timeout`` extra's bounds, or raise naming ``what``.

    :param value: The setting as given (a number or its text).
    :param what: The setting's name in the message, e.g. ``poll_interval``.
    """
    return float(extra_setting(EXTRAS["timeout"], value, what))


def console_template(value: object, what: str) -> str:
    """
    Return ``value`` as a web app URL template, or raise naming ``what``.

    An absolute http(s) URL without credentials whose only placeholders are ``{kind}`` and ``{id}``
    (``{id}`` required): nothing else of the connection can be formatted into it.

    :param value: The template as given.
    :param what: The setting's name in the message, e.g. ``extra 'console_url'``.
    """
    text = str(value).strip()
    if not (text.isascii() and text.isprintable()) or any(ch.isspace() for ch in text):
        raise ConnectionSettingsError(f"{what} must be a URL in printable ASCII without white space")
    try:
        fields = [
            (name, spec or "", conversion or "")
            for _, name, spec, conversion in string.Formatter().parse(text)
            if name is not None
        ]
    except ValueError as err:
        raise ConnectionSettingsError(f"{what} is not a URL template: {err}") from None
    allowed = ", ".join("{" + name + "}" for name in CONSOLE_PLACEHOLDERS)
    for name, spec, conversion in fields:
        if name not in CONSOLE_PLACEHOLDERS or spec or conversion:
            shown = "{" + name + (f"!{conversion}" if conversion else "") + (f":{spec}" if spec else "") + "}"
            raise ConnectionSettingsError(f"{what} may only hold the placeholders {allowed}, not {shown}")
    if "id" not in {name for name, _, _ in fields}:
        raise ConnectionSettingsError(f"{what} must hold the placeholder {{id}}, got {_shown(text)}")
    parts = urlsplit(text.format(kind="kind", id="id"))
    if "@" in parts.netloc:  # not echoed: a URL with userinfo carries credentials
        raise ConnectionSettingsError(f"{what} must not carry credentials (user:password@)")
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ConnectionSettingsError(f"{what} must be an absolute http or https URL, got {_shown(text)}")
    return text


def _header_text(value: object, what: str) -> str:
    text = str(value)
    # Sent as a header (team_id): a value no header can carry is a connection mistake, reported as one.
    if not (text.isascii() and text.strip().isprintable()):
        raise ConnectionSettingsError(f"{what} must be printable ASCII")
    return text.strip()


def _verify(value: object) -> bool | str:
    if isinstance(value, bool):
        return value
    text = str(value).strip()
    if text.lower() in ("true", "1", "yes"):
        return True
    if text.lower() in ("false", "0", "no"):
        return False
    return text


def read_extras(extras: dict[str, Any], overrides: dict[str, Any]) -> dict[str, Any]:
    """
    Return every extra's setting: the hook's override, else the connection's value, else the default.

    :param extras: The connection's extra fields.
    :param overrides: Values the hook was given, by extra name; None for none.
    """
    settings = {}
    for spec in EXTRA_FIELDS:
        override = overrides.get(spec.name)
        if override is not None:
            settings[spec.name] = extra_setting(spec, override, f"the hook's {spec.name}")
            continue
        value = _extra(extras, spec.name)
        settings[spec.name] = (
            spec.default if value is None else extra_setting(spec, value, f"extra {spec.name!r}")
        )
    return settings


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
    config = ClientConfig(
        base_url=normalize_base_url(host, port, schema),
        api_key=api_key,
        **read_extras(extras, {"timeout": timeout, "max_retries": max_retries}),
    )
    # Here, where the sync hook and the triggerer's async hook both read their connection.
    warn_if_insecure(config)
    return config


# Settings already warned about in this process, so a wait re-reading its connection warns once.
_WARNED: set[tuple[str, bool | str]] = set()
_WARNED_LOCK = threading.Lock()
log = logging.getLogger(__name__)


def is_loopback_host(hostname: str | None) -> bool:
    """
    Return whether ``hostname`` names this machine: ``localhost`` or a loopback address.

    :param hostname: A URL's host name, without brackets.
    """
    name = (hostname or "").lower().rstrip(".")
    if name == "localhost" or name.endswith(".localhost"):
        return True
    try:
        address = ipaddress.ip_address(name)
    except ValueError:
        return False
    mapped = getattr(address, "ipv4_mapped", None)
    return address.is_loopback or (mapped is not None and mapped.is_loopback)


def insecure_settings(config: ClientConfig) -> list[str]:
    """
    Return what about ``config`` lets someone on the network read or replace the traffic, one sentence each.

    :param config: The connection's client settings.
    """
    parts = urlsplit(config.base_url)
    found = []
    if parts.scheme == "http" and not is_loopback_host(parts.hostname):
        found.append(
            f"{config.base_url} is reached over plain http://, so the API key travels in cleartext; "
            "use https:// (plain http:// is only for a local emulator)"
        )
    if config.verify is False and parts.scheme == "https":
        found.append(
            f"TLS certificates of {config.base_url} are not verified (extra 'verify' is false), so "
            "anyone on the path can pose as the service and read the API key; set 'verify' to the "
            "path of a CA bundle instead"
        )
    return found


def warn_if_insecure(config: ClientConfig, logger: logging.Logger | None = None) -> None:
    """
    Log a warning for each insecure setting of ``config``, once per process and settings.

    :param config: The connection's client settings.
    :param logger: Where to warn; this module's logger by default.
    """
    key = (config.base_url, config.verify)
    with _WARNED_LOCK:
        if key in _WARNED:
            return
        _WARNED.add(key)
    for sentence in insecure_settings(config):
        (logger or log).warning("SeekrFlow connection: %s", sentence)
