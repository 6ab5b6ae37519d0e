"""On Airflow 2 a killed deferred task only cancels the trigger's coroutine: the trigger tells a kill from a move."""

# ruff: noqa: F811

from __future__ import annotations

import asyncio
from datetime import datetime

import pytest

from airflow_provider_seekrflow.triggers.alignment import _TRIGGER_HAS_ON_KILL, SeekrFlowAlignmentJobTrigger
from tests.dag_runner import run_dag
from tests.operators.seekrflow_dag_support import emu, job_status, start_job  # noqa: F401

pytestmark = pytest.mark.skipif(
    _TRIGGER_HAS_ON_KILL, reason="this Airflow calls the trigger's on_kill itself"
)


@pytest.fixture(scope="module")
def task_instance():
    """A real task instance row in the metadata database, for the trigger to look up."""
    from airflow.models.dag import DAG
    from airflow.operators.empty import EmptyOperator

    with DAG("t_trigger_kill_airflow2", schedule=None, start_date=datetime(2026, 1, 1)) as dag:
        EmptyOperator(task_id="waiting")
    (ti,) = run_dag(dag).get_task_instances()
    return ti


def _set_state(ti, state: str) -> None:
    from airflow.models.taskinstance import TaskInstance
    from airflow.utils.session import create_session

    with create_session() as session:
        session.query(TaskInstance).filter_by(dag_id=ti.dag_id, task_id=ti.task_id, run_id=ti.run_id).update(
            {"state": state}
        )


def _cancel_while_polling(job_id: str, ti) -> None:
    trigger = SeekrFlowAlignmentJobTrigger(
        job_id, "seekrflow_default", poll_interval=0.5, min_poll_interval=0.2
    )
    trigger.task_instance = ti

    async def scenario():
        consumer = asyncio.ensure_future(trigger.run().__anext__())
        await asyncio.sleep(1.0)
        consumer.cancel()
        with pytest.raises(asyncio.CancelledError):
            await consumer

    asyncio.run(scenario())


def test_user_kill_cancels_the_job(emu, tmp_path, task_instance):
    emu.configure(job_duration=60)
    job_id = start_job(tmp_path)
    _set_state(task_instance, "failed")  # what "mark failed" leaves behind
    _cancel_while_polling(job_id, task_instance)
    assert job_status(job_id) == "cancelled"
    assert len(emu.journal(route="cancel_alignment_job")) == 1


def test_triggerer_restart_leaves_the_job_running(emu, tmp_path, task_instance):
    emu.configure(job_duration=60)
    job_id = start_job(tmp_path)
    _set_state(task_instance, "deferred")  # the task still waits: the trigger is merely moving
    _cancel_while_polling(job_id, task_instance)
    assert job_status(job_id) in ("pending", "queued", "running")
    assert emu.journal(route="cancel_alignment_job") == []
