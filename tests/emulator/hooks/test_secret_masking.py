"""
Both hooks register the API key, as they send it, with Airflow's secrets masker.

Airflow masks a connection's password as stored; stored with a trailing newline, the key the
client sends (stripped) would not be masked. Each test uses a key of its own, so only the hook under
test can have registered it.
"""

from __future__ import annotations

import asyncio
import json
import uuid

import pytest

from airflow_provider_seekrflow.hooks.seekrflow import SeekrFlowHook
from airflow_provider_seekrflow.hooks.seekrflow_async import SeekrFlowAsyncHook

CONN_ID = "seekrflow_masked"


def _redact(text: str) -> str:
    try:
        from airflow.sdk.log import redact
    except ImportError:  # Airflow 2
        from airflow.utils.log.secrets_masker import redact
    return str(redact(text))


@pytest.fixture
def stored_key(monkeypatch: pytest.MonkeyPatch) -> str:
    """A fresh key, stored in the connection with a trailing newline; the stripped key is returned."""
    key = f"sfk-masked-{uuid.uuid4().hex}"
    value = {"conn_type": "seekrflow", "host": "http://127.0.0.1:9", "password": key + "\n"}
    monkeypatch.setenv(f"AIRFLOW_CONN_{CONN_ID.upper()}", json.dumps(value))
    return key


def test_the_sync_hook_registers_the_key_it_sends(stored_key):
    line = f"GET /v1/flow/files with Authorization: {stored_key}"
    assert stored_key in _redact(line)  # nothing registered it yet: the check below means something

    assert SeekrFlowHook(CONN_ID).config.api_key == stored_key

    assert _redact(line) == "GET /v1/flow/files with Authorization: ***"


def test_the_async_hook_registers_the_key_it_sends(stored_key):
    line = f"polling with {stored_key}"
    assert stored_key in _redact(line)

    config = asyncio.run(SeekrFlowAsyncHook(CONN_ID).get_config())

    assert config.api_key == stored_key
    assert _redact(line) == "polling with ***"
