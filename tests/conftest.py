"""
Test set-up shared by the layers (tests/README.md).

- The fast layer (``tests/unit``): pure logic, no emulator, no Airflow metadata database.
- The end-to-end layer (``tests/emulator``): an isolated Airflow home with a migrated database,
  and the SeekrFlow emulator over real HTTP.
- The real-deployment suites (``tests/system``) bring their own deployment in their conftest.py.
"""

from __future__ import annotations

import json
import logging
import os
import secrets
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parent.parent
UNIT_TESTS = REPO / "tests" / "unit"

# Airflow reads its configuration at import, so the isolated home must exist before any test imports it.
if "AIRFLOW_HOME" not in os.environ:
    os.environ["AIRFLOW_HOME"] = tempfile.mkdtemp(prefix="seekrflow-airflow-home-")
os.environ.setdefault("AIRFLOW__CORE__LOAD_EXAMPLES", "False")
os.environ.setdefault("AIRFLOW__CORE__DAGS_FOLDER", str(REPO / "example_dags"))
os.environ.setdefault("AIRFLOW__CORE__UNIT_TEST_MODE", "False")
os.environ.setdefault("AIRFLOW__LOGGING__LOGGING_LEVEL", "INFO")

import pytest  # noqa: E402

API_KEY = "test-key-0d8e7f"
# Jobs of the shared emulator take this long unless a test configures otherwise.
JOB_DURATION = 3.0


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
def airflow_database(request: pytest.FixtureRequest) -> None:
    """Migrate the isolated Airflow metadata database once, unless only the fast layer runs."""
    # Session-scoped, so it runs before any module fixture that reads the database; the fast
    # layer (tests/unit) never touches it, so a run of that layer alone never pays for it.
    if any(UNIT_TESTS not in Path(str(item.path)).parents for item in request.session.items):
        _migrate_database()


def connection_json(base_url: str, api_key: str = API_KEY, **extra: object) -> str:
    """Return an ``AIRFLOW_CONN_*`` value in JSON form for the emulator."""
    payload: dict[str, object] = {"conn_type": "seekrflow", "host": base_url, "password": api_key}
    if extra:
        payload["extra"] = extra
    return json.dumps(payload)


def run_python_child(args: list[str], env: dict[str, str], timeout: float) -> subprocess.CompletedProcess:
    """Run ``python *args`` from the repository with ``env`` (the repository on ``PYTHONPATH``); it must succeed."""
    env = {**env, "PYTHONPATH": os.pathsep.join(p for p in (str(REPO), env.get("PYTHONPATH")) if p)}
    child = subprocess.run(
        [sys.executable, *args], capture_output=True, text=True, env=env, cwd=str(REPO), timeout=timeout
    )
    assert child.returncode == 0, (child.stdout + child.stderr)[-4000:]
    return child


class LogCapture(logging.Handler):
    """Collects log records from the Airflow task loggers of both major versions."""

    def __init__(self, capfd: Any = None) -> None:
        super().__init__(logging.DEBUG)
        self.messages: list[str] = []
        self._capfd = capfd
        self._captured: list[str] = []
        self._seen: set[int] = set()

    def emit(self, record: logging.LogRecord) -> None:
        # The handler sits on several loggers of one propagation chain: keep each record once.
        if id(record) in self._seen:
            return
        self._seen.add(id(record))
        try:
            self.messages.append(record.getMessage())
        except Exception:  # noqa: BLE001
            self.messages.append(str(record.msg))

    def occurrences(self, fragment: str) -> int:
        """How many times ``fragment`` was logged, each log call once.

        Airflow 2 logs through stdlib records (and may echo them on the console through several
        handlers), Airflow 3's structlog only on the console: records count when there are any.
        """
        self.text()
        records = sum(message.count(fragment) for message in self.messages)
        return records or sum(output.count(fragment) for output in self._captured)

    def text(self) -> str:
        """Everything logged so far, from stdlib logging and (Airflow 3's structlog) the process output."""
        if self._capfd is not None:
            out, err = self._capfd.readouterr()
            self._captured += [out, err]
        return "\n".join(self.messages + self._captured)


# ---------------------------------------------------------------------------------------- emulator


@pytest.fixture(scope="session")
def api_key() -> str:
    """The key the shared emulator accepts: ``$SEEKRFLOW_TEST_API_KEY`` if set, else ``API_KEY``."""
    return os.environ.get("SEEKRFLOW_TEST_API_KEY") or API_KEY


@pytest.fixture(scope="session")
def emulator(api_key: str):
    """One session-wide emulator (a thread; ``SEEKRFLOW_EMULATOR_SUBPROCESS=1`` for a child process)."""
    from airflow_provider_seekrflow.emulator import SeekrFlowEmulator

    use_process = os.environ.get("SEEKRFLOW_EMULATOR_SUBPROCESS", "") not in ("", "0", "false")
    with SeekrFlowEmulator(api_key=api_key, job_duration=JOB_DURATION, subprocess=use_process) as emu:
        yield emu


def reset_around(emulator: Any, **reset: Any) -> Iterator[Any]:
    """Yield ``emulator`` with journal, faults and config reset (``reset(**reset)``) before and after.

    It is started again first if a test stopped it.
    """
    if not emulator.running:
        emulator.start()
    emulator.reset(**reset)
    yield emulator
    if emulator.running:
        emulator.reset(**reset)


def own_emulator(name: str, api_key: str | None = None, scope: str = "module") -> Any:
    """A fixture ``name``: an emulator of its own with 1 s jobs (accepting ``api_key``, else a random key).

    Its journal and objects are the requesting tests' alone.
    """

    @pytest.fixture(scope=scope, name=name)  # type: ignore[call-overload]
    def fixture() -> Iterator[Any]:
        from airflow_provider_seekrflow.emulator import SeekrFlowEmulator

        with SeekrFlowEmulator(api_key=api_key or secrets.token_urlsafe(16), job_duration=1.0) as emu:
            yield emu

    return fixture


@pytest.fixture
def fresh_emulator_state(emulator):
    """The emulator with journal, faults and config reset before and after the test; files and jobs stay."""
    yield from reset_around(emulator)


@pytest.fixture
def emu(fresh_emulator_state, monkeypatch):
    """The emulator, reset, with 1 s jobs; ``seekrflow_default`` points at it through ``AIRFLOW_CONN_*``."""
    monkeypatch.setenv(
        "AIRFLOW_CONN_SEEKRFLOW_DEFAULT",
        connection_json(fresh_emulator_state.base_url, fresh_emulator_state.api_key, max_retries=3),
    )
    fresh_emulator_state.configure(job_duration=1.0, eta=True)
    return fresh_emulator_state


@pytest.fixture
def seekrflow_connection(emulator, monkeypatch):
    """Point ``seekrflow_default`` at the emulator through ``AIRFLOW_CONN_SEEKRFLOW_DEFAULT``, as users do."""
    monkeypatch.setenv(
        "AIRFLOW_CONN_SEEKRFLOW_DEFAULT", connection_json(emulator.base_url, emulator.api_key, max_retries=3)
    )
    return emulator


@pytest.fixture
def task_logs(capfd) -> Iterator[LogCapture]:
    """Log lines of tasks run in this process (``airflow.task``, the provider's loggers, stdout/stderr)."""
    handler = LogCapture(capfd)
    loggers = [logging.getLogger(name) for name in ("airflow.task", "airflow_provider_seekrflow", "")]
    for logger in loggers:
        logger.addHandler(handler)
    try:
        yield handler
    finally:
        for logger in loggers:
            logger.removeHandler(handler)


@pytest.fixture
def closed_port() -> int:
    """A local port nothing listens on: connecting to it is refused."""
    from tests.emulator.robustness.hostile import closed_port as pick_closed_port

    return pick_closed_port()
