"""Hostile or odd answers never crash a wait (issue 20, audit M2 and M3).

NaN, infinite or huge ``eta_minutes`` and output ``bytes`` keep a wait polling and let a finished
job succeed; deeply nested JSON error bodies and 422s with 10 000 details give bounded, mapped errors.
"""

from __future__ import annotations

import asyncio
import itertools
import json
import re
from datetime import datetime, timezone
from types import SimpleNamespace

import pytest
from airflow.providers.common.compat.sdk import DAG

from airflow_provider_seekrflow.client.alignment import AlignmentJob
from airflow_provider_seekrflow.client.config import ClientConfig
from airflow_provider_seekrflow.client.data_jobs import get as get_data_job
from airflow_provider_seekrflow.client.errors import error_for_status
from airflow_provider_seekrflow.client.multipart import human_bytes
from airflow_provider_seekrflow.client.polling import estimated_completion, plan_next_check
from airflow_provider_seekrflow.client.sync_transport import SyncTransport
from airflow_provider_seekrflow.exceptions import SeekrFlowServerError, SeekrFlowValidationError
from airflow_provider_seekrflow.hooks.seekrflow import SeekrFlowHook
from airflow_provider_seekrflow.jobs.base import run_async
from airflow_provider_seekrflow.jobs.events import job_event
from airflow_provider_seekrflow.operators.data_job import SeekrFlowDataJobOperator
from airflow_provider_seekrflow.triggers.job import SeekrFlowJobTrigger
from tests.emulator.operators.seekrflow_dag_support import (
    START_DATE,
    dag_id_for,
    document,
    run_dag,
    states,
    xcom,
)
from tests.emulator.robustness.hostile import Behaviour, HostileServer

NOW = datetime(2026, 11, 23, 12, 0, tzinfo=timezone.utc)
HOSTILE_ETAS = [float("nan"), float("inf"), float("-inf"), 1e12, -1e300, "NaN", "Infinity", "1e400", 10**400]
POLL = 0.5


# ------------------------------------------------------------------------------ the numbers themselves


@pytest.mark.parametrize("eta", HOSTILE_ETAS, ids=repr)
def test_a_hostile_eta_is_read_as_no_estimate_or_a_bounded_one_and_the_plan_is_the_poll_interval(eta):
    job = AlignmentJob.model_validate({"id": "al-1", "status": "running", "eta_minutes": eta})
    assert job.eta_minutes is None or 0 <= job.eta_minutes <= 10 * 366 * 24 * 60
    estimated_completion(job, NOW)  # never raises
    plan = plan_next_check(job, poll_interval=POLL, min_interval=0.2, now=NOW)
    # Ten years, none or "now": never a crash, never a sleep beyond poll_interval.
    assert 0.2 <= plan.seconds <= POLL
    assert plan.describe(NOW)


def test_the_same_numbers_in_json_text_are_read_too():
    for literal in ("NaN", "Infinity", "-Infinity", "1e400", "1" + "0" * 400):
        body = f'{{"id": "al-1", "status": "running", "eta_minutes": {literal}}}'
        job = AlignmentJob.model_validate_json(body)
        assert plan_next_check(job, poll_interval=POLL, min_interval=0.2, now=NOW).seconds <= POLL


@pytest.mark.parametrize("size", [10**400, float("nan"), float("inf"), -5, "12 MB", None])
def test_human_bytes_is_total(size):
    assert human_bytes(size) == "unknown size"


# ------------------------------------------------------------------------------ error bodies


def _transport(base_url: str) -> SyncTransport:
    config = ClientConfig(base_url=base_url, api_key="k-test", max_retries=2)
    return SyncTransport(config, SimpleNamespace(warning=lambda *a: None), conn_id="c")


def test_a_503_with_a_deeply_nested_json_body_is_a_retried_server_error():
    nested = Behaviour(503, "application/json", b"[" * 200_000)
    with HostileServer(nested) as server:
        transport = _transport(server.base_url)
        # Retried without pause: the backoff is not what this test is about.
        transport.retry_policy = type(transport.retry_policy)(
            max_retries=2, initial_delay=0.01, max_delay=0.01
        )
        with pytest.raises(SeekrFlowServerError) as caught:
            transport.call(get_data_job("dj-1"))
    assert server.hits == 3, "a 503 is retried whatever its body"
    assert caught.value.status_code == 503 and len(str(caught.value)) < 5000


def test_nesting_inside_a_detail_is_bounded_too():
    body = json.dumps({"detail": "x"}).replace('"x"', "[" * 900 + "]" * 900).encode()
    error = error_for_status(
        method="GET", path="/p", status=500, headers={"content-type": "application/json"}, body=body
    )
    assert isinstance(error, SeekrFlowServerError) and len(str(error)) < 5000


def test_a_422_with_10000_details_gives_a_bounded_message_naming_the_first_ones():
    detail = [{"loc": ["body", f"field_{n}"], "msg": "field required " + "y" * 50} for n in range(10_000)]
    error = error_for_status(
        method="POST",
        path="/v1/flow/data-jobs",
        status=422,
        headers={"content-type": "application/json"},
        body=json.dumps({"detail": detail}).encode(),
    )
    assert isinstance(error, SeekrFlowValidationError)
    assert len(str(error)) < 5000
    assert "field_0: field required" in str(error) and "field_9999" not in str(error)


def test_a_trigger_event_bounds_a_huge_status_message():
    event = job_event("dj-1", "failed", "m" * 1_000_000, "s" * 1_000_000)
    assert len(event["message"]) < 5000 and len(event["status_message"]) < 5000
    assert "1000000 characters in all" in event["status_message"]


# ------------------------------------------------------------------------------ real waits (emulator)


def _data_job_dag(request, file_id: str, **kwargs):
    with DAG(dag_id_for(request), schedule=None, start_date=START_DATE) as dag:
        SeekrFlowDataJobOperator(
            task_id="data_job",
            files=[file_id],
            system_prompt="You answer questions about returns.",
            poll_interval=POLL,
            min_poll_interval=0.2,
            **kwargs,
        )
    return dag


def _largest_gap(entries: list[dict]) -> float:
    stamps = [entry["ts"] for entry in entries]
    return max((b - a for a, b in itertools.pairwise(stamps)), default=0.0)


@pytest.mark.parametrize("eta", ["NaN", "Infinity", 1e12], ids=str)
@pytest.mark.parametrize("deferrable", [False, True], ids=["sync", "deferrable"])
def test_a_data_job_with_a_hostile_eta_keeps_polling_and_completes(emu, request, tmp_path, eta, deferrable):
    emu.configure(job_duration=3.0, eta=True, hostile_numbers={"eta_minutes": eta})
    file_id = SeekrFlowHook().upload_file(document(tmp_path), "alignment").id
    emu.clear_journal()
    dr = run_dag(_data_job_dag(request, file_id, deferrable=deferrable))
    assert states(dr) == {"data_job": "success"}
    assert xcom(dr, "data_job")["status"] == "completed"
    (started,) = emu.journal(route="start_data_job")
    reads = [entry for entry in emu.journal(route="get_data_job") if entry["ts"] > started["ts"]]
    assert len(reads) >= 3, "the wait should have checked the running job several times"
    # Polled on at a short pace, never the minute a wait may sleep, and no crash. The slack is for
    # dag.test()'s resume of a deferred task on a loaded machine (6.4 s seen under the 5-run matrix).
    assert _largest_gap(reads) < POLL + 15.0


def test_an_output_of_a_400_digit_size_succeeds_and_logs_an_unknown_size(emu, request, tmp_path, task_logs):
    file_id = SeekrFlowHook().upload_file(document(tmp_path), "alignment").id
    emu.configure(hostile_numbers={"bytes": 10**400})
    dr = run_dag(_data_job_dag(request, file_id))
    assert states(dr) == {"data_job": "success"}
    assert re.search(r"completed with \d+ output file\(s\): .*unknown size", task_logs.text())


def test_the_trigger_keeps_polling_a_job_whose_estimate_cannot_be_planned(monkeypatch):
    """A watcher whose plan raises (a number no code foresaw) costs a poll_interval, not the wait."""
    statuses = iter(["running", "running", "completed"])

    class Hook:
        async def __aenter__(self):
            return self

        async def __aexit__(self, *exc):
            return None

        async def get_config(self):
            return None

        async def call(self, call):
            if call.endpoint.name == "get_alignment_outputs":
                return []
            return AlignmentJob(id="al-1", status=next(statuses))

        async def run(self, operation):
            return await run_async(operation, self.call)

    trigger = SeekrFlowJobTrigger(
        kind="alignment", job_id="al-1", seekrflow_conn_id="c", poll_interval=0.05, min_poll_interval=0.01
    )
    monkeypatch.setattr(trigger, "_hook", Hook)

    def broken(*args, **kwargs):
        raise OverflowError("date value out of range")

    monkeypatch.setattr(trigger.watcher, "next_check", broken)

    async def collect():
        return [event async for event in trigger.run()]

    events = asyncio.run(asyncio.wait_for(collect(), 30))
    assert [event.payload["status"] for event in events] == ["completed"]
