"""SeekrFlowJobTrigger for data jobs and fine-tunes: serialization, and its real async hook against the emulator."""

from __future__ import annotations

import asyncio
import importlib
import json
import time
import uuid

import pytest

from airflow_provider_seekrflow.emulator.fine_tunes import epoch_loss
from airflow_provider_seekrflow.hooks.seekrflow import SeekrFlowHook
from airflow_provider_seekrflow.triggers.job import SeekrFlowJobTrigger
from tests.conftest import connection_json
from tests.emulator.operators.job_kinds import MethodRefusingProxy, trigger_events
from tests.emulator.operators.seekrflow_dag_support import CHAT_LINE, job_status, start_job, write

FAST = {"poll_interval": 0.5, "min_poll_interval": 0.2}
MODEL = "meta-llama/Llama-3.1-8B"
N_EPOCHS = 3
SYSTEM_PROMPT = "You answer questions about the store's returns policy."
REFUNDS_TXT = "Refunds are paid to the original card within five business days.\n"


# ------------------------------------------------------------------------------------ helpers


def _trigger(kind, job_id, **kwargs):
    return SeekrFlowJobTrigger(
        kind=kind, job_id=job_id, seekrflow_conn_id="seekrflow_default", **{**FAST, **kwargs}
    )


def _statuses(events):
    return [event.payload["status"] for event in events]


@pytest.fixture
def pipeline(emu):
    """The emulator with quick ingestion (1 s a file) and fine-tunes (1.5 s)."""
    emu.configure(ingestion_seconds=1.0, fine_tune_duration=1.5)
    return emu


def ingesting_data_job(tmp_path, filename: str = "refunds.txt") -> str:
    """A data job whose one text file is being ingested (``file_processing``), made through the hook."""
    hook = SeekrFlowHook()
    path = write(tmp_path / uuid.uuid4().hex[:8] / filename, REFUNDS_TXT)
    file_id = hook.upload_file(path, "alignment").id
    job = hook.create_data_job(
        f"returns {uuid.uuid4().hex[:8]}",
        "principle_files",
        system_prompt=SYSTEM_PROMPT,
        instructions="Teach the refunds policy.",
    )
    detail = hook.add_data_job_files(job.id, [file_id])
    assert detail.status == "file_processing"
    return job.id


def started_data_job(tmp_path) -> str:
    """A data job past its ingestion and started: its alignment is under way."""
    hook = SeekrFlowHook()
    job_id = ingesting_data_job(tmp_path)
    deadline = time.monotonic() + 30
    while hook.get_data_job(job_id).status == "file_processing":
        assert time.monotonic() < deadline
        time.sleep(0.1)
    assert hook.get_data_job(job_id).status == "ready_to_start"
    assert hook.start_data_job(job_id).status in ("pending", "queued", "running")
    return job_id


def started_fine_tune(tmp_path) -> str:
    """A fine-tune on an uploaded JSONL, in a new project, made through the hook."""
    hook = SeekrFlowHook()
    path = write(tmp_path / f"pairs-{uuid.uuid4().hex[:8]}.jsonl", CHAT_LINE * 3)
    file_id = hook.upload_file(path, "fine-tune").id
    project = hook.ensure_project(f"trigger project {uuid.uuid4().hex[:10]}", "Trigger tests")
    return hook.create_fine_tune(
        project_id=project.id,
        training_files=[file_id],
        model=MODEL,
        n_epochs=N_EPOCHS,
        accel_type="H100",
        n_accel=1,
    ).id


# ------------------------------------------------------------------------------ construction


@pytest.mark.parametrize(
    ("kind", "until"),
    [
        ("data_job", "ingestion"),
        ("data_job", "end_or_review"),
        ("data_job", "end"),
        ("fine_tune", "end"),
        ("alignment", "end"),
    ],
)
def test_serialize_round_trip(kind, until):
    trigger = SeekrFlowJobTrigger(
        kind=kind,
        job_id="job-123",
        seekrflow_conn_id="my_conn",
        until=until,
        poll_interval=42,
        min_poll_interval=3,
        end_time=1_900_000_000.5,
        cancel_on_kill=False,
        hook_params={"timeout": 30.0, "max_retries": 2},
    )
    classpath, kwargs = trigger.serialize()
    module_name, class_name = classpath.rsplit(".", 1)
    rebuilt_class = getattr(importlib.import_module(module_name), class_name)
    assert rebuilt_class is SeekrFlowJobTrigger
    rebuilt = rebuilt_class(**kwargs)
    assert rebuilt.serialize() == (classpath, kwargs)
    assert (rebuilt.kind, rebuilt.until, rebuilt.watcher.kind.key, rebuilt.watcher.until) == (
        kind,
        until,
        kind,
        until,
    )
    assert kwargs == {
        "kind": kind,
        "job_id": "job-123",
        "seekrflow_conn_id": "my_conn",
        "until": until,
        "poll_interval": 42.0,
        "min_poll_interval": 3.0,
        "end_time": 1_900_000_000.5,
        "cancel_on_kill": False,
        "hook_params": {"timeout": 30.0, "max_retries": 2},
    }
    assert rebuilt._hook().hook_params == {"timeout": 30.0, "max_retries": 2}
    json.dumps(kwargs)  # plain values only


@pytest.mark.parametrize(
    ("kind", "until", "fragment"),
    [
        ("training", "end", "kind"),
        ("", "end", "kind"),
        ("fine_tune", "ingestion", "until"),
        ("fine_tune", "end_or_review", "until"),
        ("alignment", "ingestion", "until"),
        ("alignment", "end_or_review", "until"),
        ("data_job", "forever", "until"),
    ],
)
def test_an_unknown_kind_or_an_until_the_kind_does_not_support_is_refused(kind, until, fragment):
    with pytest.raises(ValueError, match=fragment):
        SeekrFlowJobTrigger(kind=kind, job_id="job-1", seekrflow_conn_id="seekrflow_default", until=until)


# --------------------------------------------------------------------------------- data jobs


def test_data_job_until_ingestion_fires_when_ready_to_start(pipeline, tmp_path):
    job_id = ingesting_data_job(tmp_path)
    pipeline.clear_journal()
    events = trigger_events(_trigger("data_job", job_id, until="ingestion"))
    assert _statuses(events) == ["ready_to_start"]
    payload = events[0].payload
    assert payload["job_id"] == job_id
    assert payload["message"] == f"Data job {job_id} is ready_to_start"
    # It polled through the ingestion rather than firing at once.
    assert len(pipeline.journal(route="get_data_job")) >= 2
    assert pipeline.journal(route="start_data_job") == []


@pytest.mark.parametrize("until", ["ingestion", "end_or_review"])
def test_data_job_in_review_ends_the_wait(pipeline, tmp_path, until):
    pipeline.configure(ingestion_fail=["broken.txt"])
    job_id = ingesting_data_job(tmp_path, filename="broken.txt")
    events = trigger_events(_trigger("data_job", job_id, until=until))
    assert _statuses(events) == ["needs_review"]
    assert "broken.txt" in (events[0].payload["status_message"] or "")


def test_data_job_in_review_does_not_end_a_wait_for_the_end(pipeline, tmp_path):
    pipeline.configure(ingestion_fail=["broken.txt"])
    job_id = ingesting_data_job(tmp_path, filename="broken.txt")
    events = trigger_events(_trigger("data_job", job_id, until="end", end_time=time.time() + 3))
    assert _statuses(events) == ["timeout"]
    assert "still needs_review" in events[0].payload["message"]


def test_data_job_until_end_or_review_fires_completed_after_the_start(pipeline, tmp_path):
    job_id = started_data_job(tmp_path)
    events = trigger_events(_trigger("data_job", job_id, until="end_or_review"))
    assert _statuses(events) == ["completed"]


# --------------------------------------------------------------------------------- alignment


def test_alignment_job_failed_while_waiting_fires_failed_with_its_message(emu, tmp_path):
    """An alignment job ended by the service (the emulator's forced end) while the trigger waits."""
    emu.configure(job_duration=60)
    job_id = start_job(tmp_path)

    async def scenario():
        async def collect():
            return [event async for event in _trigger("alignment", job_id).run()]

        task = asyncio.ensure_future(collect())
        await asyncio.sleep(0.5)
        await asyncio.to_thread(emu.fail_job, job_id, "failed", "GPU on fire")
        return await asyncio.wait_for(task, 30)

    events = asyncio.run(scenario())
    assert _statuses(events) == ["failed"]
    assert events[0].payload["status_message"] == "GPU on fire"
    assert job_status(job_id) == "failed"


# -------------------------------------------------------------------------------- fine-tunes


def test_fine_tune_fires_completed_and_logs_each_event_once(pipeline, tmp_path, task_logs):
    job_id = started_fine_tune(tmp_path)
    pipeline.clear_journal()
    events = trigger_events(_trigger("fine_tune", job_id))
    assert _statuses(events) == ["completed"]
    assert events[0].payload["message"] == f"Fine-tune {job_id} ended completed"
    for epoch in range(1, N_EPOCHS + 1):
        line = f"Fine-tune {job_id}: epoch {epoch}, loss {epoch_loss(epoch):.4g}"
        assert task_logs.occurrences(line) == 1, (line, task_logs.text()[-3000:])
    assert task_logs.occurrences(f"Fine-tune {job_id}: status=completed") == 1
    # Polled while it ran, not only once at the end.
    polls = len(pipeline.journal(route="get_fine_tune"))
    assert polls >= 2
    # Every check that did not end the wait says when the next one comes, and why.
    assert task_logs.occurrences(f"Fine-tune {job_id}: next check in ") == polls - 1
    assert "the service gives no estimate" in task_logs.text()


def test_fine_tune_events_route_errors_keep_polling(pipeline, tmp_path):
    job_id = started_fine_tune(tmp_path)
    pipeline.clear_journal()
    pipeline.set_faults([{"route": "list_fine_tune_events", "kind": "502", "count": 5}])
    events = trigger_events(_trigger("fine_tune", job_id))
    assert _statuses(events) == ["completed"]
    assert [entry["status"] for entry in pipeline.journal(route="list_fine_tune_events")].count(502) == 5


def test_on_kill_cancels_a_fine_tune_with_post_where_put_is_refused(pipeline, tmp_path, monkeypatch):
    pipeline.configure(fine_tune_duration=60)
    job_id = started_fine_tune(tmp_path)
    with MethodRefusingProxy(pipeline.base_url) as proxy:
        monkeypatch.setenv(
            "AIRFLOW_CONN_SEEKRFLOW_PROXY",
            connection_json(proxy.base_url, pipeline.api_key, max_retries=3),
        )
        trigger = SeekrFlowJobTrigger(kind="fine_tune", job_id=job_id, seekrflow_conn_id="seekrflow_proxy")
        asyncio.run(trigger.on_kill())
    path = f"/v1/flow/fine-tunes/{job_id}/cancel"
    assert proxy.requests == [("PUT", path, 405), ("POST", path, 200)]
    assert len(pipeline.journal(route="cancel_fine_tune_post")) == 1
    assert SeekrFlowHook().get_fine_tune(job_id).status == "cancelled"
