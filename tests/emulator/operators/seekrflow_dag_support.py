"""Shared helpers for the operator, sensor, trigger and example-DAG tests: run real DAGs with ``dag.test()``.

Imported by the test modules (``from tests.emulator.operators.seekrflow_dag_support import ...``); it holds no
test and no fixture of its own (fixtures live in ``tests/conftest.py``). Everything here drives
Airflow itself; nothing of the provider is mocked.
"""

from __future__ import annotations

import re
import time
from datetime import datetime
from pathlib import Path
from typing import Any

import airflow
import pytest
from packaging.version import Version

from tests.emulator import dag_runner

AIRFLOW_VERSION = Version(Version(airflow.__version__).base_version)
AIRFLOW_V3 = Version("3.0") <= AIRFLOW_VERSION
AIRFLOW_V3_3 = Version("3.3") <= AIRFLOW_VERSION
START_DATE = datetime(2025, 1, 1)

# Fast waiting for every test: the operators' defaults (minutes) are far too slow here.
FAST_POLL = {"poll_interval": 0.5, "min_poll_interval": 0.2}


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


class _FailedTaskErrors:
    """
    A listener keeping the error of the last failed task instance.

    Airflow 3.1's ``dag.test()`` leaves the exception out of the failure callback's context (only
    its task runner's ``main`` puts it there), but hands it to listeners right after the callback.
    """

    def __init__(self) -> None:
        self.last: BaseException | None = None
        self.by_task: dict[str, BaseException] = {}

    def on_task_instance_failed(self, previous_state: Any, task_instance: Any, error: Any = None) -> None:
        self.last = error if isinstance(error, BaseException) else None
        if self.last is not None:
            self.by_task[task_instance.task_id] = self.last


def failed_task_error(task_id: str) -> BaseException | None:
    """The exception the last failed try of ``task_id`` raised, as Airflow's listeners saw it."""
    return _FAILED_TASK_ERRORS.by_task.get(task_id)


_FAILED_TASK_ERRORS = _FailedTaskErrors()
if AIRFLOW_V3:
    from airflow.listeners import hookimpl
    from airflow.listeners.listener import get_listener_manager

    _FailedTaskErrors.on_task_instance_failed = hookimpl(_FailedTaskErrors.on_task_instance_failed)  # type: ignore[method-assign]
    get_listener_manager().add_listener(_FAILED_TASK_ERRORS)


class FailureRecorder:
    """An ``on_failure_callback`` that keeps the exception each failed try raised."""

    def __init__(self) -> None:
        self.errors: list[BaseException | None] = []

    def __call__(self, context: Any) -> None:
        _FAILED_TASK_ERRORS.last = None
        self.errors.append(context.get("exception"))

    @property
    def last(self) -> BaseException:
        assert self.errors, "the task did not fail (no failure callback ran)"
        error = self.errors[-1] or _FAILED_TASK_ERRORS.last
        assert error is not None
        return error


class RetryRecorder(FailureRecorder):
    """An ``on_retry_callback`` keeping the exception of each try that will be retried."""


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


def asset_events(dr: Any) -> list[tuple[str, dict[str, Any]]]:
    """The ``(uri, extra)`` of every asset event the run's tasks emitted, from the metadata database."""
    from airflow.utils.session import create_session

    if AIRFLOW_V3:
        from airflow.models.asset import AssetEvent as Event
    else:
        from airflow.models.dataset import DatasetEvent as Event
    with create_session() as session:
        rows = (
            session.query(Event)
            .filter(Event.source_dag_id == dr.dag_id, Event.source_run_id == dr.run_id)
            .order_by(Event.id)
            .all()
        )
        return [((row.asset if AIRFLOW_V3 else row.dataset).uri, dict(row.extra or {})) for row in rows]


def run_announcing(dag: Any) -> Any:
    """Run ``dag``; on Airflow 2 first write it to the database as the DAG processor would, outlets included.

    Airflow 2 records a Dataset event only for a Dataset it knows, and its ``dag.test()`` writes none
    (Airflow 3's test runner registers the DAG with its assets already).
    """
    if not AIRFLOW_V3:
        dag.sync_to_db()
    return run_dag(dag)
