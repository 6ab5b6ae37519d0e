"""What the sync and async SeekrFlow hooks share: the connection type, its form, and its settings."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from airflow.providers.common.compat.sdk import BaseHook

from airflow_provider_seekrflow.client.config import (
    ClientConfig,
    ConnectionSettingsError,
    build_client_config,
)
from airflow_provider_seekrflow.defaults import DEFAULT_CONN_ID
from airflow_provider_seekrflow.exceptions import SeekrFlowConfigError


def connection_config(
    conn_id: str,
    *,
    host: str | None,
    port: int | None,
    password: str | None,
    extras: dict[str, Any],
    timeout: float | None,
    max_retries: int | None,
    schema: str | None = None,
) -> ClientConfig:
    """Build client settings from connection fields, naming the connection and field when one is wrong."""
    try:
        return build_client_config(
            host=host,
            port=port,
            password=password,
            extras=extras,
            schema=schema,
            timeout=timeout,
            max_retries=max_retries,
        )
    except ConnectionSettingsError as err:
        raise SeekrFlowConfigError(f"SeekrFlow connection {conn_id!r}: {err}") from None


def _mask_secret_function() -> Callable[[str], None]:
    try:
        from airflow.providers.common.compat.sdk import mask_secret
    except ImportError:  # common-compat before 1.21 (the newest on Python 3.10 is 1.20), so Airflow 2
        from airflow.utils.log.secrets_masker import mask_secret  # type: ignore[no-redef]
    return mask_secret  # type: ignore[no-any-return]


def mask_api_key(api_key: str) -> None:
    """
    Register the API key, as it is sent, with Airflow's secrets masker.

    Airflow masks the connection's password as stored; the key sent is that password stripped of
    white space, which the masker would not know if the stored value had a trailing newline.

    :param api_key: The key, as the client sends it.
    """
    _mask_secret_function()(api_key)


async def amask_api_key(api_key: str) -> None:
    """
    Register the API key with Airflow's secrets masker without blocking the event loop.

    On Airflow 3 the masker also tells the supervisor, with a synchronous call that must not run on
    the triggerer's loop while another call is in flight there: ``amask_secret`` where Airflow has it
    (3.2 on), else the synchronous call in a thread.

    :param api_key: The key, as the client sends it.
    """
    try:
        from airflow.sdk.log import amask_secret  # type: ignore[attr-defined,unused-ignore]  # 3.2+
    except ImportError:
        from asgiref.sync import sync_to_async

        await sync_to_async(mask_api_key)(api_key)
        return
    await amask_secret(api_key)


class SeekrFlowBaseHook(BaseHook):
    """
    Hold what the sync and async SeekrFlow hooks share: the connection type, its form and the overrides.

    The connection's password is the API key, its host the API base URL (``https://flow.seekr.com``
    when empty), and its extras may set ``team_id``, ``timeout``, ``connect_timeout`` (seconds),
    ``max_retries`` and ``verify`` (false, or a CA bundle path).

    :param seekrflow_conn_id: The Airflow connection to use.
    :param timeout: Read timeout in seconds, overriding the connection's ``timeout`` extra.
    :param max_retries: Retries of a failed request, overriding the connection's ``max_retries`` extra.
    """

    conn_name_attr = "seekrflow_conn_id"
    default_conn_name = DEFAULT_CONN_ID
    conn_type = "seekrflow"
    hook_name = "SeekrFlow"

    def __init__(
        self,
        seekrflow_conn_id: str = default_conn_name,
        *,
        timeout: float | None = None,
        max_retries: int | None = None,
    ) -> None:
        super().__init__()
        self.seekrflow_conn_id = seekrflow_conn_id
        self._timeout = timeout
        self._max_retries = max_retries

    def __repr__(self) -> str:
        return f"{type(self).__name__}(seekrflow_conn_id={self.seekrflow_conn_id!r})"

    @property
    def hook_params(self) -> dict[str, Any]:
        """Return the overrides this hook was built with, to build the same hook elsewhere (never a secret)."""
        return {
            key: value
            for key, value in (("timeout", self._timeout), ("max_retries", self._max_retries))
            if value is not None
        }

    def _config_from(self, conn: Any, extras: dict[str, Any], *, mask: bool = True) -> ClientConfig:
        """
        Return the client settings of ``conn``, its API key registered with the secrets masker.

        :param conn: The Airflow connection.
        :param extras: Its extra, as a dict.
        :param mask: Whether to register the key here; the async hook does it without blocking instead.
        """
        config = connection_config(
            self.seekrflow_conn_id,
            host=conn.host,
            port=conn.port,
            schema=conn.schema,
            password=conn.password,
            extras=extras,
            timeout=self._timeout,
            max_retries=self._max_retries,
        )
        if mask:
            mask_api_key(config.api_key)
        return config

    @classmethod
    def get_ui_field_behaviour(cls) -> dict[str, Any]:
        """Return how the connection form shows the standard fields (Airflow 2; 3 reads the provider info)."""
        from airflow_provider_seekrflow.connection_form import HIDDEN_FIELDS, RELABELING, placeholders

        return {
            "hidden_fields": list(HIDDEN_FIELDS),
            "relabeling": dict(RELABELING),
            "placeholders": placeholders(),
        }

    @classmethod
    def get_connection_form_widgets(cls) -> dict[str, Any]:
        """Return the extra fields of the connection form (Airflow 2; Airflow 3 reads ``conn-fields``)."""
        from flask_appbuilder.fieldwidgets import BS3TextFieldWidget
        from flask_babel import lazy_gettext
        from wtforms import IntegerField, StringField
        from wtforms.validators import NumberRange, Optional

        from airflow_provider_seekrflow.connection_form import EXTRA_FIELDS

        # Airflow 2 takes only string, integer, password and boolean fields: a decimal number is a
        # string there, checked by the hook when it reads the connection.
        kinds = {"string": StringField, "integer": IntegerField, "number": StringField}
        widgets = {}
        for field in EXTRA_FIELDS:
            validators = [Optional()]
            if field.kind == "integer":
                # A whole number greater than n is one of n + 1 or more.
                low = (
                    field.minimum + 1 if field.above_minimum and field.minimum is not None else field.minimum
                )
                validators.append(NumberRange(min=low, max=field.maximum))
            widgets[field.name] = kinds[field.kind](
                lazy_gettext(field.label),
                description=field.description,
                validators=validators,
                widget=BS3TextFieldWidget(),
            )
        return widgets
