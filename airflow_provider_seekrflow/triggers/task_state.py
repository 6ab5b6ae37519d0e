"""Read a deferred task's state from a trigger, so a cancelled trigger can tell a user's kill from a restart."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable
from typing import Any, TypeVar

# Tasks of shielded(), referenced until done: one may outlive its trigger's coroutine.
_SHIELDED: set[asyncio.Future[Any]] = set()
_T = TypeVar("_T")


def shielded(awaitable: Awaitable[_T]) -> Awaitable[_T]:
    """
    Run ``awaitable`` in a task of its own, which cancelling the caller does not cancel.

    The triggerer cancels a trigger on each of its loops until it ends, and before Airflow 3.3 a request
    to the triggerer's supervisor cancelled in flight leaves its answer to the next request, whose
    "Response read out of order!" kills the trigger runner (apache/airflow#64620).

    :param awaitable: What to run to its end.
    """
    task = asyncio.ensure_future(awaitable)
    _SHIELDED.add(task)
    task.add_done_callback(_SHIELDED.discard)
    return asyncio.shield(task)


async def task_state(ti: Any) -> str | None:
    """
    Return the task instance's state, read the way this Airflow lets a trigger read it, off the event loop.

    :param ti: The trigger's task instance.
    """
    from asgiref.sync import sync_to_async

    dag_id, task_id, run_id, map_index = ti.dag_id, ti.task_id, ti.run_id, ti.map_index
    try:
        from airflow.sdk.execution_time.task_runner import RuntimeTaskInstance
    except ImportError:  # Airflow 2: the triggerer has the database; the query runs in a thread.
        return await sync_to_async(task_state_from_db)(dag_id, task_id, run_id, map_index)
    # Airflow 3.0-3.2: the Task SDK asks the triggerer's supervisor (bridging back into this loop, hence
    # the thread); the answer is {run_id: {task_id, or f"{task_id}_{map_index}" if mapped: state}}.
    states = await sync_to_async(RuntimeTaskInstance.get_task_states)(
        dag_id=dag_id, task_ids=[task_id], run_ids=[run_id], map_index=map_index
    )
    key = task_id if map_index is None or map_index < 0 else f"{task_id}_{map_index}"
    return states[run_id][key]  # a KeyError fails the lookup, like any other error


def task_state_from_db(dag_id: str, task_id: str, run_id: str, map_index: int) -> str | None:
    """Return a task instance's state from the metadata database (Airflow 2's triggerer has it)."""
    from airflow.models.taskinstance import TaskInstance
    from airflow.utils.session import create_session

    with create_session() as session:
        where = dict(dag_id=dag_id, task_id=task_id, run_id=run_id, map_index=map_index)
        return session.query(TaskInstance.state).filter_by(**where).one()[0]  # no row: NoResultFound
