"""Fixtures of the hook tests."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from airflow_provider_seekrflow.hooks.seekrflow import SeekrFlowHook


@pytest.fixture
def long_jobs(fresh_emulator_state, seekrflow_connection):
    """The emulator behind ``seekrflow_default``: no faults, empty journal, start-up config (restored after).

    Jobs stay active unless a test ends them (fail_job) or asks for short ones.
    """
    seekrflow_connection.configure(job_duration=60)
    return seekrflow_connection


@pytest.fixture
def hook(emu) -> Iterator[SeekrFlowHook]:
    """A sync hook on ``seekrflow_default`` (the connection allows 3 retries), closed after the test."""
    hook = SeekrFlowHook()
    yield hook
    hook.close()
