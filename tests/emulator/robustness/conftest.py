"""Fixtures of the robustness tests: a private emulator with a canary API key, and hostile servers."""

from __future__ import annotations

import json
from collections.abc import Iterator
from contextlib import ExitStack

import pytest

from airflow_provider_seekrflow.emulator import SeekrFlowEmulator
from tests.conftest import own_emulator, reset_around
from tests.emulator.robustness.hostile import BEHAVIOURS, HostileServer

# A distinctive key: any occurrence of it in an error, a log or a table is a leak.
CANARY_KEY = "sfk-CANARY-robustness-7d1e5b9c2a"


# An emulator of this directory's own, accepting only ``CANARY_KEY`` (its journal is ours alone).
robust_emulator = own_emulator("robust_emulator", CANARY_KEY, scope="session")


@pytest.fixture
def clean_emulator(robust_emulator: SeekrFlowEmulator) -> Iterator[SeekrFlowEmulator]:
    """The private emulator with journal, faults and config reset before and after the test."""
    yield from reset_around(robust_emulator)


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
