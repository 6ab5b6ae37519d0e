"""
Connection settings a user could get wrong: credentials in the host never echoed, numbers bounded.

Both are refused before any request, with an error naming the connection and the field, on the sync
and the async hook.
"""

from __future__ import annotations

import asyncio
import json

import pytest

from airflow_provider_seekrflow.client.connection_extras import MAX_RETRIES, MAX_TIMEOUT_SECONDS
from airflow_provider_seekrflow.exceptions import SeekrFlowConfigError
from airflow_provider_seekrflow.hooks.seekrflow import SeekrFlowHook
from airflow_provider_seekrflow.hooks.seekrflow_async import SeekrFlowAsyncHook

CONN_ID = "seekrflow_bounds"
SECRET = "SECRETKEY-9f3a"


def _define(monkeypatch: pytest.MonkeyPatch, host: str, key: str, **extra: object) -> None:
    value = {"conn_type": "seekrflow", "host": host, "password": key, "extra": extra}
    monkeypatch.setenv(f"AIRFLOW_CONN_{CONN_ID.upper()}", json.dumps(value))


def _errors(**hook_kwargs: object) -> list[SeekrFlowConfigError]:
    """The config errors of the sync and the async hook on ``CONN_ID``, in that order."""
    with pytest.raises(SeekrFlowConfigError) as sync_error:
        SeekrFlowHook(CONN_ID, **hook_kwargs).config  # noqa: B018 - reading it is the check

    async def lookup() -> None:
        await SeekrFlowAsyncHook(CONN_ID, **hook_kwargs).get_config()

    with pytest.raises(SeekrFlowConfigError) as async_error:
        asyncio.run(lookup())
    return [sync_error.value, async_error.value]


@pytest.mark.parametrize(
    "host",
    [
        f"ftp://bob:{SECRET}@flow.example.com",  # wrong scheme, checked after the credentials
        f"https://bob:{SECRET}@flow example.com",  # white space
        f"bob:{SECRET}@flow.example.com:99999",  # no scheme, a bad port
        f"https://bob:{SECRET}@/v1/flow",  # no host name
        f"https://bob:{SECRET}@flow.example.com/?a=1",  # a query
        f"https://bob:pa/{SECRET}@flow.example.com",  # a slash in the password hides the @ from urlsplit
        f"https://{SECRET}@flow.example.com",  # a token as the user name
    ],
)
def test_credentials_in_the_host_are_never_echoed(host, monkeypatch):
    _define(monkeypatch, host, "some-key-1")

    for error in _errors():
        message = str(error)
        assert message.startswith(f"SeekrFlow connection {CONN_ID!r}: host must not carry credentials")
        assert SECRET not in f"{message} {error!r} {error.args!r} {error.__context__!r}"


@pytest.mark.parametrize(
    ("extra", "field", "problem"),
    [
        ({"timeout": 1e10}, "timeout", f"must be at most {MAX_TIMEOUT_SECONDS:.0f} seconds"),
        ({"timeout": "86401"}, "timeout", "must be at most 86400 seconds"),
        ({"timeout": "inf"}, "timeout", "must be greater than 0"),
        ({"connect_timeout": 9.3e9}, "connect_timeout", "must be at most 86400 seconds"),
        ({"max_retries": MAX_RETRIES + 1}, "max_retries", f"must be at most {MAX_RETRIES}"),
        ({"max_retries": "9" * 5000}, "max_retries", "must be a whole number"),
        ({"max_retries": True}, "max_retries", "must be a whole number"),
    ],
)
def test_numeric_extras_are_bounded(extra, field, problem, monkeypatch):
    _define(monkeypatch, "http://127.0.0.1:9", "some-key-1", **extra)

    for error in _errors():
        message = str(error)
        assert message.startswith(f"SeekrFlow connection {CONN_ID!r}: extra {field!r}"), message
        assert problem in message
        assert len(message) < 200  # a value of thousands of digits is shown cut


def test_the_bounds_themselves_are_accepted(monkeypatch):
    _define(
        monkeypatch,
        "http://127.0.0.1:9",
        "some-key-1",
        timeout=86400,
        connect_timeout="86400",
        max_retries=100,
    )

    config = SeekrFlowHook(CONN_ID).config

    assert (config.timeout, config.connect_timeout, config.max_retries) == (86400.0, 86400.0, 100)


@pytest.mark.parametrize(
    ("hook_kwargs", "problem"),
    [
        ({"timeout": 1e12}, "the hook's timeout must be at most 86400 seconds"),
        ({"timeout": 0}, "the hook's timeout must be greater than 0"),
        ({"max_retries": 1000}, f"the hook's max_retries must be at most {MAX_RETRIES}"),
    ],
)
def test_the_hook_overrides_are_bounded_too(hook_kwargs, problem, monkeypatch):
    _define(monkeypatch, "http://127.0.0.1:9", "some-key-1")

    for error in _errors(**hook_kwargs):
        assert (
            str(error)
            == f"SeekrFlow connection {CONN_ID!r}: {problem}, got {next(iter(hook_kwargs.values()))!r}"
        )
