"""
A running wait sees a changed connection: one async hook, as a trigger holds it for hours.

The hook looks its connection up again on its first request after ``CONFIG_TTL_SECONDS``, and at
once when the service answers 401, resending the refused request once with the new key.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Iterator

import pytest

from airflow_provider_seekrflow.client import alignment, data_jobs
from airflow_provider_seekrflow.emulator import SeekrFlowEmulator
from airflow_provider_seekrflow.exceptions import SeekrFlowAuthenticationError, SeekrFlowNotFoundError
from airflow_provider_seekrflow.hooks import seekrflow_async
from airflow_provider_seekrflow.hooks.seekrflow_async import SeekrFlowAsyncHook
from tests.conftest import own_emulator, reset_around

CONN_ID = "seekrflow_rotating"
OLD_KEY = "sfk-rotation-old-3a9d17"
NEW_KEY = "sfk-rotation-new-c4e802"


# An emulator that accepts only ``NEW_KEY``: the service after the old key was revoked.
new_key_emulator = own_emulator("new_key_emulator", NEW_KEY)


@pytest.fixture
def rotated(new_key_emulator: SeekrFlowEmulator) -> Iterator[SeekrFlowEmulator]:
    yield from reset_around(new_key_emulator)


def _define(monkeypatch: pytest.MonkeyPatch, base_url: str, key: str, **extra: object) -> None:
    value = {
        "conn_type": "seekrflow",
        "host": base_url,
        "password": key,
        "extra": {"max_retries": 0, **extra},
    }
    monkeypatch.setenv(f"AIRFLOW_CONN_{CONN_ID.upper()}", json.dumps(value))


class _Clock:
    """A monotonic clock the test moves by hand, so a slow machine cannot cross the TTL early."""

    def __init__(self) -> None:
        self.now = 1000.0

    def monotonic(self) -> float:
        return self.now


def test_a_poll_after_the_ttl_uses_the_changed_connection(emu, monkeypatch):
    clock = _Clock()
    monkeypatch.setattr(seekrflow_async, "time", clock)
    _define(monkeypatch, emu.base_url, emu.api_key, team_id="team-before")

    async def wait() -> None:
        async with SeekrFlowAsyncHook(CONN_ID) as hook:
            for _ in range(2):  # the second poll is within the TTL: the settings of the first
                with pytest.raises(SeekrFlowNotFoundError):
                    await hook.call(alignment.get_job("al-missing"))
            _define(monkeypatch, emu.base_url, emu.api_key, team_id="team-after")
            clock.now += seekrflow_async.CONFIG_TTL_SECONDS - 1  # still within the TTL
            with pytest.raises(SeekrFlowNotFoundError):
                await hook.call(alignment.get_job("al-missing"))
            clock.now += 1  # the TTL is over: the next poll looks the connection up again
            with pytest.raises(SeekrFlowNotFoundError):
                await hook.call(alignment.get_job("al-missing"))

    asyncio.run(wait())

    teams = [entry["team_id"] for entry in emu.journal()]
    assert teams == ["team-before", "team-before", "team-before", "team-after"]


def test_a_401_reads_the_connection_again_and_resends_with_the_new_key(rotated, monkeypatch):
    _define(monkeypatch, rotated.base_url, OLD_KEY)

    async def wait() -> None:
        async with SeekrFlowAsyncHook(CONN_ID) as hook:
            await hook.get_config()  # the wait started before the rotation
            _define(monkeypatch, rotated.base_url, NEW_KEY)
            with pytest.raises(SeekrFlowNotFoundError):  # answered with the new key: no such job
                await hook.call(data_jobs.get("dj-missing"))
            with pytest.raises(SeekrFlowNotFoundError):  # and the next poll uses it from the start
                await hook.call(data_jobs.get("dj-missing"))

    asyncio.run(wait())

    assert [entry["status"] for entry in rotated.journal()] == [401, 404, 404]


def test_a_401_with_an_unchanged_connection_fails_after_one_request(rotated, monkeypatch):
    _define(monkeypatch, rotated.base_url, OLD_KEY)

    async def wait() -> SeekrFlowAuthenticationError:
        async with SeekrFlowAsyncHook(CONN_ID) as hook:
            with pytest.raises(SeekrFlowAuthenticationError) as caught:
                await hook.call(data_jobs.get("dj-missing"))
        return caught.value

    error = asyncio.run(wait())

    assert error.status_code == 401
    assert f"connection {CONN_ID!r}" in str(error)
    assert error.__context__ is None
    assert [entry["status"] for entry in rotated.journal()] == [401]
