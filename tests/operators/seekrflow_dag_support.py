"""Shared helpers for the operator, sensor, trigger and example-DAG tests: run real DAGs with ``dag.test()``.

Imported by the test modules (``from tests.operators.seekrflow_dag_support import ...``); it holds no
test of its own. Everything here drives Airflow itself; nothing of the provider is mocked.
"""

from __future__ import annotations

import logging
import re
import time
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path
from typing import Any

import airflow
import pytest
from packaging.version import Version

from tests import dag_runner
from tests.conftest import connection_json

AIRFLOW_VERSION = Version(Version(airflow.__version__).base_version)
AIRFLOW_V3 = Version("3.0") <= AIRFLOW_VERSION
AIRFLOW_V3_3 = Version("3.3") <= AIRFLOW_VERSION
START_DATE = datetime(2025, 1, 1)

# Fast waiting for every test: the operators' defaults (minutes) are far too slow here.
FAST_POLL = {"poll_interval": 0.5, "min_poll_interval": 0.2}


@pytest.fixture
def emu(emulator, monkeypatch):
    """The emulator, reset, with short jobs; ``seekrflow_default`` points at it through ``AIRFLOW_CONN_*``."""
    if not emulator.running:
        emulator.start()
    monkeypatch.setenv(
        "AIRFLOW_CONN_SEEKRFLOW_DEFAULT", connection_json(emulator.base_url, emulator.api_key, max_retries=3)
    )
    emulator.reset()
    emulator.configure(job_duration=1.0, eta=True)
    yield emulator
    if emulator.running:
        emulator.reset()


def dag_id_for(request: pytest.FixtureRequest, suffix: str = "") -> str:
    """A DAG id unique to the test (the metadata database outlives a test)."""
    base = re.sub(r"[^A-Za-z0-9_]+", "_", request.node.name).strip("_")
    return f"t_{base}{'_' + suffix if suffix else ''}"[:240]


def run_dag(dag: Any) -> Any:
    """Run one DagRun of ``dag`` through Airflow's ``dag.test()`` and return the DagRun."""
    dr = dag_runner.run_dag(dag)
    assert dr is not None, "dag.test() returned no DagRun"
    return dr


def task_instances(dr: Any) -> dict[Any, Any]:
    """``{task_id: ti}``, or ``{(task_id, map_index): ti}`` for mapped tasks."""
    out: dict[Any, Any] = {}
    for ti in dr.get_task_instances():
        out[ti.task_id if ti.map_index < 0 else (ti.task_id, ti.map_index)] = ti
    return out


def states(dr: Any) -> dict[Any, str]:
    """``{task_id: state}`` (see ``task_instances``)."""
    return {key: str(getattr(ti.state, "value", ti.state)) for key, ti in task_instances(dr).items()}


def xcom(dr: Any, task_id: str, key: str = "return_value", map_index: int = -1) -> Any:
    """An XCom the run pushed, read back from the metadata database."""
    for ti in dr.get_task_instances():
        if ti.task_id == task_id and ti.map_index == map_index:
            return ti.xcom_pull(task_ids=task_id, key=key, map_indexes=map_index if map_index >= 0 else None)
    raise AssertionError(f"no task instance {task_id}[{map_index}] in {dr}")


def ti_duration(dr: Any, task_id: str) -> float:
    ti = task_instances(dr)[task_id]
    assert ti.start_date is not None and ti.end_date is not None
    return (ti.end_date - ti.start_date).total_seconds()


class FailureRecorder:
    """An ``on_failure_callback`` that keeps the exception each failed try raised."""

    def __init__(self) -> None:
        self.errors: list[BaseException | None] = []

    def __call__(self, context: Any) -> None:
        self.errors.append(context.get("exception"))

    @property
    def last(self) -> BaseException:
        assert self.errors, "the task did not fail (no failure callback ran)"
        error = self.errors[-1]
        assert error is not None
        return error


class RetryRecorder(FailureRecorder):
    """An ``on_retry_callback`` keeping the exception of each try that will be retried."""


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


@pytest.fixture
def task_logs(capfd) -> Iterator[LogCapture]:
    """Log lines of tasks run in this process (``airflow.task``, the provider's loggers, stdout/stderr)."""
    handler = LogCapture(capfd)
    names = ["airflow.task", "airflow_provider_seekrflow", ""]
    loggers = [logging.getLogger(n) for n in names]
    for lg in loggers:
        lg.addHandler(handler)
    try:
        yield handler
    finally:
        for lg in loggers:
            lg.removeHandler(handler)


def routes(emulator: Any, route: str) -> list[dict[str, Any]]:
    return emulator.journal(route=route)


def count(emulator: Any, route: str) -> int:
    return len(emulator.journal(route=route))


def write(path: Path, text: str | bytes) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    if isinstance(text, bytes):
        path.write_bytes(text)
    else:
        path.write_text(text, encoding="utf-8")
    return path


def document(tmp_path: Path, name: str = "policy.md", text: str | None = None) -> Path:
    return write(tmp_path / name, text or f"# {name}\n\nReturns are accepted within 30 days of delivery.\n")


CHAT_LINE = (
    '{"messages": [{"role": "system", "content": "Be brief."}, {"role": "user", "content": "Hi?"},'
    ' {"role": "assistant", "content": "Hello."}]}\n'
)
BAD_ROLE_LINE = (
    '{"messages": [{"role": "robot", "content": "Hi?"}, {"role": "assistant", "content": "Hello."}]}\n'
)


def upload_alignment_document(tmp_path: Path, name: str = "source.md") -> str:
    """Upload a document straight through the hook (set-up for tests about other operators)."""
    from airflow_provider_seekrflow.hooks.seekrflow import SeekrFlowHook

    return SeekrFlowHook().upload_file(document(tmp_path, name), "alignment").id


def start_job(tmp_path: Path) -> str:
    """Start an alignment job through the hook (set-up for sensor and trigger tests)."""
    from airflow_provider_seekrflow.hooks.seekrflow import SeekrFlowHook

    hook = SeekrFlowHook()
    file_id = hook.upload_file(document(tmp_path, f"src-{time.monotonic_ns()}.md"), "alignment").id
    return hook.generate_alignment("Teach the returns policy.", [file_id]).id


def job_status(job_id: str) -> str:
    from airflow_provider_seekrflow.hooks.seekrflow import SeekrFlowHook

    return SeekrFlowHook().get_alignment_job(job_id).status
