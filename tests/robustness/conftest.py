"""Fixtures of the robustness tests: a private emulator with a canary API key, and hostile servers."""

from __future__ import annotations

import json
from collections.abc import Iterator
from contextlib import ExitStack

import pytest

from airflow_provider_seekrflow.emulator import SeekrFlowEmulator
from tests.robustness.hostile import BEHAVIOURS, HostileServer

# A distinctive key: any occurrence of it in an error, a log or a table is a leak.
CANARY_KEY = "sfk-CANARY-robustness-7d1e5b9c2a"


@pytest.fixture(scope="session")
def robust_emulator() -> Iterator[SeekrFlowEmulator]:
    """An emulator of this directory's own, accepting only ``CANARY_KEY`` (its journal is ours alone)."""
    with SeekrFlowEmulator(api_key=CANARY_KEY, job_duration=1.0) as emu:
        yield emu


@pytest.fixture
def clean_emulator(robust_emulator: SeekrFlowEmulator) -> Iterator[SeekrFlowEmulator]:
    """The private emulator with journal, faults and config reset before and after the test."""
    if not robust_emulator.running:
        robust_emulator.start()
    robust_emulator.reset()
    yield robust_emulator
    if robust_emulator.running:
        robust_emulator.reset()


@pytest.fixture(scope="module")
def hostile_servers() -> Iterator[dict[str, HostileServer]]:
    """One running hostile server per behaviour of ``hostile.BEHAVIOURS``."""
    with ExitStack() as stack:
        yield {name: stack.enter_context(HostileServer(b)) for name, b in BEHAVIOURS.items()}


def conn_json(
    host: str | None, password: str | None = CANARY_KEY, port: int | None = None, **extra: object
) -> str:
    """An ``AIRFLOW_CONN_*`` value (JSON form) for a SeekrFlow connection."""
    payload: dict[str, object] = {"conn_type": "seekrflow"}
    if host is not None:
        payload["host"] = host
    if password is not None:
        payload["password"] = password
    if port is not None:
        payload["port"] = port
    if extra:
        payload["extra"] = extra
    return json.dumps(payload)
