"""Pytest fixtures around the SeekrFlow emulator; a conftest imports them.

- ``api_key``: the key the emulator accepts: ``$SEEKRFLOW_TEST_API_KEY`` if set, else the
  ``API_KEY`` of tests/conftest.py (the key it puts in the Airflow connection), else ``"test-key"``.
- ``emulator``: one session-wide ``SeekrFlowEmulator`` (in-process thread, 3 s jobs);
  set ``SEEKRFLOW_EMULATOR_SUBPROCESS=1`` to run it as a child process instead.
- ``fresh_emulator_state``: clears journal and faults and restores the start-up config before
  and after a test (use it explicitly or ``autouse`` it from a conftest). Files and jobs stay.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Iterator

import pytest

from airflow_provider_seekrflow.emulator import SeekrFlowEmulator

API_KEY = "test-key"
JOB_DURATION = 3.0


def _api_key() -> str:
    env = os.environ.get("SEEKRFLOW_TEST_API_KEY")
    if env:
        return env
    conftest = sys.modules.get("tests.conftest") or sys.modules.get("conftest")
    return str(getattr(conftest, "API_KEY", API_KEY))


@pytest.fixture(scope="session")
def api_key() -> str:
    return _api_key()


@pytest.fixture(scope="session")
def emulator(api_key: str) -> Iterator[SeekrFlowEmulator]:
    use_process = os.environ.get("SEEKRFLOW_EMULATOR_SUBPROCESS", "") not in ("", "0", "false")
    with SeekrFlowEmulator(api_key=api_key, job_duration=JOB_DURATION, subprocess=use_process) as emu:
        yield emu


@pytest.fixture
def fresh_emulator_state(emulator: SeekrFlowEmulator) -> Iterator[SeekrFlowEmulator]:
    if not emulator.running:  # a test stopped it
        emulator.start()
    emulator.reset()
    yield emulator
    if emulator.running:
        emulator.reset()
