"""SeekrFlowJobTrigger for alignment jobs: its serialized state, and its async generator run with asyncio against the emulator."""

from __future__ import annotations

import asyncio
import json
import re
import time

import pytest

from airflow_provider_seekrflow.jobs.alignment import ALIGNMENT
from airflow_provider_seekrflow.triggers.job import SeekrFlowJobTrigger
from tests.operators.seekrflow_dag_support import (
    job_status,
    start_job,
)

FAST = {"poll_interval": 0.5, "min_poll_interval": 0.2}


def _events(trigger, limit: float = 60.0):
    """Run the trigger to exhaustion (as the triggerer would until its first event) and return all events."""

    async def collect():
        return [event async for event in trigger.run()]

    return asyncio.run(asyncio.wait_for(collect(), limit))


def _trigger(job_id, **kwargs):
    return SeekrFlowJobTrigger(
        kind=ALIGNMENT.key, job_id=job_id, seekrflow_conn_id="seekrflow_default", **{**FAST, **kwargs}
    )


def test_serialized_kwargs_hold_no_secret(emu):
    job_id = "al-secretless"
    trigger = _trigger(job_id)
    _, kwargs = trigger.serialize()
    # Resolving the connection (as run() does) must not leave the key in the trigger's state either.
    _events(_trigger("al-does-not-exist"))
    for text in (json.dumps(kwargs), repr(kwargs), repr(trigger), repr(trigger.serialize())):
        assert emu.api_key not in text
    assert set(kwargs) == {
        "kind",
        "job_id",
        "until",
        "seekrflow_conn_id",
        "poll_interval",
        "min_poll_interval",
        "end_time",
        "cancel_on_kill",
        "hook_params",
    }


def test_completed_job_fires_one_completed_event(emu, tmp_path):
    job_id = start_job(tmp_path)
    events = _events(_trigger(job_id))
    assert len(events) == 1
    payload = events[0].payload
    assert payload["job_id"] == job_id
    assert payload["status"] == "completed"


@pytest.mark.parametrize("outcome", ["failed", "cancelled", "stopped"])
def test_unsuccessful_job_fires_one_event_with_status_message(emu, tmp_path, outcome):
    emu.configure(job_outcome=outcome, status_message=f"ended {outcome} on purpose")
    job_id = start_job(tmp_path)
    events = _events(_trigger(job_id))
    assert len(events) == 1
    assert events[0].payload["status"] == outcome
    assert events[0].payload["status_message"] == f"ended {outcome} on purpose"


def test_job_failed_while_waiting(emu, tmp_path):
    emu.configure(job_duration=60)
    job_id = start_job(tmp_path)

    async def scenario():
        task = asyncio.ensure_future(_collect(_trigger(job_id)))
        await asyncio.sleep(0.5)
        await asyncio.to_thread(emu.fail_job, job_id, "failed", "GPU on fire")
        return await asyncio.wait_for(task, 30)

    events = asyncio.run(scenario())
    assert [e.payload["status"] for e in events] == ["failed"]
    assert events[0].payload["status_message"] == "GPU on fire"


async def _collect(trigger):
    return [event async for event in trigger.run()]


def test_end_time_in_the_past_fires_one_timeout_event(emu, tmp_path):
    emu.configure(job_duration=60)
    job_id = start_job(tmp_path)
    events = _events(_trigger(job_id, end_time=time.time() - 1))
    assert [e.payload["status"] for e in events] == ["timeout"]
    assert events[0].payload["job_id"] == job_id
    assert job_status(job_id) != "cancelled"  # the trigger never cancels; the operator decides


def test_near_end_time_fires_timeout_without_overshooting(emu, tmp_path):
    emu.configure(job_duration=60)
    job_id = start_job(tmp_path)
    started = time.monotonic()
    events = _events(_trigger(job_id, poll_interval=30, end_time=time.time() + 1.5))
    elapsed = time.monotonic() - started
    assert [e.payload["status"] for e in events] == ["timeout"]
    assert 1.0 <= elapsed < 10
    assert re.search(r"still (pending|queued|running)", events[0].payload["message"])


def test_unknown_job_fires_one_error_event(emu):
    events = _events(_trigger("al-0000-does-not-exist"))
    assert len(events) == 1
    assert events[0].payload["status"] == "error"
    assert "404" in events[0].payload["message"] or "not found" in events[0].payload["message"].lower()
    assert [entry["status"] for entry in emu.journal(route="get_alignment_job")] == [404]


def test_transient_503s_while_polling_do_not_fail_the_wait(emu, tmp_path):
    emu.configure(job_duration=2)
    job_id = start_job(tmp_path)
    emu.clear_journal()
    # More 503s in a row than the hook retries (connection max_retries=3), so the trigger itself sees one.
    emu.set_faults([{"route": "get_alignment_job", "kind": "503", "count": 5}])
    events = _events(_trigger(job_id))
    assert [e.payload["status"] for e in events] == ["completed"]
    statuses = [entry["status"] for entry in emu.journal(route="get_alignment_job")]
    assert statuses.count(503) == 5
    assert statuses[-1] == 200


def test_on_kill_cancels_the_job(emu, tmp_path):
    emu.configure(job_duration=60)
    job_id = start_job(tmp_path)
    asyncio.run(_trigger(job_id).on_kill())
    assert job_status(job_id) == "cancelled"
    assert len(emu.journal(route="cancel_alignment_job")) == 1


def test_on_kill_without_cancel_on_kill_leaves_the_job(emu, tmp_path):
    emu.configure(job_duration=60)
    job_id = start_job(tmp_path)
    asyncio.run(_trigger(job_id, cancel_on_kill=False).on_kill())
    assert job_status(job_id) in ("pending", "queued", "running")
    assert emu.journal(route="cancel_alignment_job") == []
