"""Test set-up: an isolated Airflow home with a migrated database, and the SeekrFlow emulator over real HTTP."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent

# Airflow reads its configuration at import, so the isolated home must exist before any test imports it.
if "AIRFLOW_HOME" not in os.environ:
    os.environ["AIRFLOW_HOME"] = tempfile.mkdtemp(prefix="seekrflow-airflow-home-")
os.environ.setdefault("AIRFLOW__CORE__LOAD_EXAMPLES", "False")
os.environ.setdefault("AIRFLOW__CORE__DAGS_FOLDER", str(REPO / "example_dags"))
os.environ.setdefault("AIRFLOW__CORE__UNIT_TEST_MODE", "False")
os.environ.setdefault("AIRFLOW__LOGGING__LOGGING_LEVEL", "INFO")

import pytest  # noqa: E402

from tests.emulator_fixtures import *  # noqa: E402,F403

API_KEY = "test-key-0d8e7f"


def _migrate_database() -> None:
    marker = Path(os.environ["AIRFLOW_HOME"]) / ".seekrflow-db-migrated"
    if marker.exists():
        return
    subprocess.run(
        [sys.executable, "-m", "airflow", "db", "migrate"],
        check=True,
        stdout=subprocess.DEVNULL,
        env=os.environ.copy(),
    )
    marker.touch()


@pytest.fixture(scope="session", autouse=True)
def airflow_database() -> None:
    """Migrate the isolated Airflow metadata database once per session."""
    _migrate_database()


def connection_json(base_url: str, api_key: str = API_KEY, **extra: object) -> str:
    """Return an ``AIRFLOW_CONN_*`` value in JSON form for the emulator."""
    payload: dict[str, object] = {"conn_type": "seekrflow", "host": base_url, "password": api_key}
    if extra:
        payload["extra"] = extra
    return json.dumps(payload)


@pytest.fixture
def seekrflow_connection(emulator, monkeypatch):
    """Point ``seekrflow_default`` at the emulator through ``AIRFLOW_CONN_SEEKRFLOW_DEFAULT``, as users do."""
    monkeypatch.setenv(
        "AIRFLOW_CONN_SEEKRFLOW_DEFAULT", connection_json(emulator.base_url, emulator.api_key, max_retries=3)
    )
    return emulator


@pytest.fixture
def closed_port() -> int:
    """A local port nothing listens on: connecting to it is refused."""
    from tests.robustness.hostile import closed_port as pick_closed_port

    return pick_closed_port()
