"""The provider against the shapes the real service may send: string progress, unknown statuses,
deprecation headers and parquet training pairs; through Airflow (``dag.test()``) and real HTTP."""

from __future__ import annotations

import json

import pytest
from airflow.providers.common.compat.sdk import DAG

from airflow_provider_seekrflow.assets import FINE_TUNE_FILE_XCOM_KEY
from airflow_provider_seekrflow.client import deprecation
from airflow_provider_seekrflow.hooks.seekrflow import SeekrFlowHook
from airflow_provider_seekrflow.jobs.alignment import ALIGNMENT
from airflow_provider_seekrflow.operators.alignment import SeekrFlowGenerateAlignmentOperator
from airflow_provider_seekrflow.sensors.alignment import SeekrFlowAlignmentJobSensor
from tests.emulator.operators.seekrflow_dag_support import (
    CHAT_LINE,
    START_DATE,
    dag_id_for,
    run_dag,
    start_job,
    states,
    upload_alignment_document,
    write,
    xcom,
)

# Long enough for polls every 0.3 s to see the queued phase, where the legacy shape answers
# with a status the provider does not know.
LEGACY_JOB_SECONDS = 6.0
QUICK_POLL = {"poll_interval": 0.3, "min_poll_interval": 0.2}
UNKNOWN_STATUS = "preparing"


@pytest.fixture
def legacy_service(emu):
    """The emulator answering like an older server: string progress and an extra status value."""
    emu.configure(job_duration=LEGACY_JOB_SECONDS, legacy_job_shape=True)
    return emu


@pytest.mark.parametrize("deferrable", [pytest.param(False, id="worker"), pytest.param(True, id="deferred")])
def test_string_progress_and_unknown_status_complete(
    legacy_service, request, tmp_path, task_logs, deferrable
):
    file_id = upload_alignment_document(tmp_path)
    with DAG(dag_id_for(request), schedule=None, start_date=START_DATE) as dag:
        SeekrFlowGenerateAlignmentOperator(
            task_id="generate",
            instructions="Teach the returns policy.",
            files=[file_id],
            deferrable=deferrable,
            **QUICK_POLL,
        )
    dr = run_dag(dag)

    assert states(dr) == {"generate": "success"}
    assert xcom(dr, "generate")["status"] == "completed"
    assert xcom(dr, "generate", key=FINE_TUNE_FILE_XCOM_KEY)
    logged = task_logs.text()
    # The unknown status was seen, named once, and the wait went on to completion.
    assert task_logs.occurrences(f"reports status {UNKNOWN_STATUS!r}, which this provider does not know") == 1
    assert "status=completed, step='Completed', progress=100%" in logged
    assert "Input should be a valid number" not in logged


def test_sensor_reads_the_legacy_shape(legacy_service, request, tmp_path, task_logs):
    # A longer job than the operators': the sensor's first poke comes later on a loaded machine,
    # and must still find the job in its queued phase (which shows the unknown status).
    legacy_service.configure(job_duration=4 * LEGACY_JOB_SECONDS)
    job_id = start_job(tmp_path)
    with DAG(dag_id_for(request), schedule=None, start_date=START_DATE) as dag:
        SeekrFlowAlignmentJobSensor(task_id="wait", job_id=job_id, poke_interval=0.3, timeout=60)
    dr = run_dag(dag)

    assert states(dr) == {"wait": "success"}
    assert xcom(dr, "wait")["status"] == "completed"
    assert task_logs.occurrences(f"reports status {UNKNOWN_STATUS!r}") == 1


def test_legacy_answers_parse_through_the_hook(legacy_service, tmp_path):
    job = SeekrFlowHook().get_alignment_job(start_job(tmp_path))
    assert isinstance(job.progress, str) and job.progress.endswith("%")
    assert isinstance(job.step_progress, str)
    assert "progress=0%" in job.describe()


def test_deprecated_generate_warns_once_naming_date_and_replacement(emu, tmp_path, task_logs, monkeypatch):
    from airflow_provider_seekrflow.emulator.app import GENERATE_LINK

    monkeypatch.setattr(deprecation, "_warned", set())
    emu.configure(deprecation_headers=True)
    hook = SeekrFlowHook()
    file_id = upload_alignment_document(tmp_path)
    hook.generate_alignment("Teach the returns policy.", [file_id])
    hook.generate_alignment("Teach the warranty rules.", [file_id])
    replacement = GENERATE_LINK.split(">")[0].lstrip("<")
    notice = (
        "SeekrFlow marks POST /v1/flow/alignment/generate as deprecated since 2026-01-01; it stops "
        f"working on 2027-06-30 (Sunset); the service names {replacement} as its replacement; "
        "details: https://docs.seekr.com/seekrflow/deprecations"
    )
    assert task_logs.occurrences(notice) == 1
    assert task_logs.occurrences("as deprecated") == 1


def test_no_deprecation_warning_without_headers(emu, tmp_path, task_logs, monkeypatch):
    monkeypatch.setattr(deprecation, "_warned", set())
    file_id = upload_alignment_document(tmp_path)
    SeekrFlowHook().generate_alignment("Teach the returns policy.", [file_id])
    assert "Started alignment job" in task_logs.text()
    assert "deprecated" not in task_logs.text()


def test_iter_conversations_reads_a_parquet_output(emu, tmp_path):
    hook = SeekrFlowHook()
    source = write(
        tmp_path / "returns.md",
        "# Returns\n\nCustomers may return unworn items within 30 days of delivery.\n\n"
        "Refunds go back to the original payment method within five business days.\n",
    )
    file_id = hook.upload_file(source, "alignment").id
    job = hook.generate_alignment("Teach the returns policy.", [file_id], system_prompt="Be kind.")
    done = hook.wait_for_job(ALIGNMENT, job.id, poll_interval=0.5, min_poll_interval=0.2, timeout=60)
    (output,) = [o for o in hook.get_alignment_outputs(done.id) if o.purpose == "fine-tune"]
    assert output.file_type == "parquet"

    rows = list(hook.iter_conversations(output.id, batch_rows=1))
    assert len(rows) == 2
    assert [m["role"] for m in rows[0]["messages"]] == ["system", "user", "assistant"]
    assert rows[0]["messages"][0]["content"] == "Be kind."
    assert rows[1]["messages"][2]["content"].startswith("Refunds go back")


def test_iter_conversations_reads_an_uploaded_jsonl_file(emu, tmp_path):
    hook = SeekrFlowHook()
    stored = hook.upload_file(write(tmp_path / "chat.jsonl", CHAT_LINE * 3), "fine-tune")
    rows = list(hook.iter_conversations(stored.id))
    assert rows == [json.loads(CHAT_LINE)] * 3
