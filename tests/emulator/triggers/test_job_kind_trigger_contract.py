"""What the one job trigger must do for every kind: its async generator run with asyncio against the emulator.

Parametrised over the kinds of ``tests/emulator/operators/job_kinds.py``. The trigger fires exactly one event:
the job's end, a timeout (never cancelling: the task decides) or an error; it keeps polling through
transient failures, logs progress, cancels on kill unless told not to, and serializes no secret.
"""

from __future__ import annotations

import asyncio
import json
import re
import time

import pytest

from airflow_provider_seekrflow.triggers.job import SeekrFlowJobTrigger
from tests.emulator.operators.job_kinds import (
    BY_CANCEL,
    END_PARAMS,
    KIND_PARAMS,
    ended_job,
    trigger_events,
)

FAST = {"poll_interval": 0.5, "min_poll_interval": 0.2}


def _trigger(kind, job_id, **kwargs):
    return SeekrFlowJobTrigger(
        kind=kind.key, job_id=job_id, seekrflow_conn_id="seekrflow_default", **{**FAST, **kwargs}
    )


@pytest.mark.parametrize("kind", KIND_PARAMS)
def test_a_completed_job_fires_one_completed_event_and_logs_progress(emu, kind, inputs, task_logs):
    job_id = kind.start(inputs)
    emu.clear_journal()
    events = trigger_events(_trigger(kind, job_id))

    assert [event.payload["status"] for event in events] == [kind.success]
    payload = events[0].payload
    assert payload["job_id"] == job_id
    assert payload["message"].startswith(f"{kind.job_kind.label} {job_id} ")
    # It read the job over HTTP and said how it went.
    assert emu.journal(route=kind.read_route)
    assert task_logs.occurrences(f"{kind.job_kind.label} {job_id}: ") >= 1
    assert emu.journal(route=kind.cancel_route) == []


@pytest.mark.parametrize(("kind", "status"), END_PARAMS)
def test_each_unsuccessful_end_fires_one_event_with_that_status(emu, kind, inputs, status):
    job_id = ended_job(kind, inputs, emu, status)
    events = trigger_events(_trigger(kind, job_id))

    assert [event.payload["status"] for event in events] == [status]
    assert events[0].payload["job_id"] == job_id
    if kind.status_message and kind.ends[status] != BY_CANCEL:
        assert events[0].payload["status_message"] == f"{status}: out of quota"


@pytest.mark.parametrize("kind", KIND_PARAMS)
def test_an_end_time_in_the_past_fires_one_timeout_event_and_never_cancels(emu, kind, inputs):
    emu.configure(**kind.slow)
    job_id = kind.start(inputs)
    events = trigger_events(_trigger(kind, job_id, end_time=time.time() - 1))
    assert [event.payload["status"] for event in events] == ["timeout"]
    assert events[0].payload["job_id"] == job_id
    assert kind.status(job_id) in kind.started  # the trigger never cancels; the task decides
    assert emu.journal(route=kind.cancel_route) == []


@pytest.mark.parametrize("kind", KIND_PARAMS)
def test_a_near_end_time_fires_a_timeout_without_overshooting(emu, kind, inputs):
    emu.configure(**kind.slow)
    job_id = kind.start(inputs)
    started = time.monotonic()
    events = trigger_events(_trigger(kind, job_id, poll_interval=30, end_time=time.time() + 1.5))
    elapsed = time.monotonic() - started
    assert [event.payload["status"] for event in events] == ["timeout"]
    assert 1.0 <= elapsed < 10
    assert re.search(f"still ({'|'.join(kind.started)})", events[0].payload["message"])


@pytest.mark.parametrize("kind", KIND_PARAMS)
def test_an_unknown_job_fires_one_error_event(emu, kind):
    events = trigger_events(_trigger(kind, kind.missing_id))
    assert [event.payload["status"] for event in events] == ["error"]
    message = events[0].payload["message"]
    assert "404" in message or "not found" in message.lower()
    assert [entry["status"] for entry in emu.journal(route=kind.read_route)] == [404]


@pytest.mark.parametrize("kind", KIND_PARAMS)
def test_transient_5xx_while_polling_do_not_fail_the_wait(emu, kind, inputs):
    job_id = kind.start(inputs)
    emu.clear_journal()
    # More 503s in a row than the hook retries (connection max_retries=3), so the trigger itself sees one.
    emu.set_faults([{"route": kind.read_route, "kind": "503", "count": 5}])
    events = trigger_events(_trigger(kind, job_id))
    assert [event.payload["status"] for event in events] == [kind.success]
    statuses = [entry["status"] for entry in emu.journal(route=kind.read_route)]
    assert statuses.count(503) == 5 and statuses[-1] == 200


@pytest.mark.parametrize("cancel_on_kill", [True, False], ids=["cancels", "leaves"])
@pytest.mark.parametrize("kind", KIND_PARAMS)
def test_on_kill_cancels_the_job_unless_told_not_to(emu, kind, inputs, cancel_on_kill):
    emu.configure(**kind.slow)
    job_id = kind.start(inputs)
    asyncio.run(_trigger(kind, job_id, cancel_on_kill=cancel_on_kill).on_kill())
    if cancel_on_kill:
        assert kind.status(job_id) == kind.cancelled
        assert len(emu.journal(route=kind.cancel_route)) == 1
    else:
        assert kind.status(job_id) in kind.started
        assert emu.journal(route=kind.cancel_route) == []


@pytest.mark.parametrize("kind", KIND_PARAMS)
def test_the_serialized_trigger_holds_no_secret(emu, kind):
    trigger = _trigger(kind, f"{kind.prefix}secretless")
    _, kwargs = trigger.serialize()
    # Resolving the connection (as run() does) must not leave the key in the trigger's state either.
    trigger_events(_trigger(kind, f"{kind.prefix}does-not-exist"))
    for text in (json.dumps(kwargs), repr(kwargs), repr(trigger), repr(trigger.serialize())):
        assert emu.api_key not in text
    assert kwargs["kind"] == kind.key
