"""SeekrFlowDataJobSensor in poke, reschedule and deferrable modes, run by Airflow against the emulator.

The jobs it watches are made beforehand with the sync hook, as another DAG or a person would.
"""

from __future__ import annotations

import time
import uuid
from pathlib import Path

import pytest
from airflow.providers.common.compat.sdk import DAG

from airflow_provider_seekrflow.assets import FINE_TUNE_FILE_XCOM_KEY
from airflow_provider_seekrflow.client.alignment import describe_outputs
from airflow_provider_seekrflow.hooks.seekrflow import SeekrFlowHook
from airflow_provider_seekrflow.jobs.data_job import SeekrFlowDataJobNeedsReviewError
from airflow_provider_seekrflow.operators.data_job import SeekrFlowDataJobOperator
from airflow_provider_seekrflow.sensors.data_job import SeekrFlowDataJobSensor
from tests.emulator.operators import seekrflow_dag_support as dags
from tests.emulator.operators.job_kinds import SENSOR_MODES, sensor_dag, sensor_mode_kwargs

MODES = SENSOR_MODES
SYSTEM_PROMPT = "You answer questions about the store's returns policy, briefly."
INSTRUCTIONS = "Teach the returns policy."
RESULT_KEYS = {"job_id", "status", "alignment_job_id", "output_files"}
BROKEN = "broken-scan.txt"


def _data_job(tmp_path: Path, *, broken: bool = False, start: bool = True) -> str:
    """Create a data job through the hook with one document; start it unless told not to."""
    hook = SeekrFlowHook()
    if broken:  # plain text is ingested in the background, then fails (the ingestion_fail switch)
        path = dags.write(tmp_path / BROKEN, "Scanned page without any text layer.\n")
    else:  # Markdown is ingested at once, so the job can start right away
        path = dags.document(tmp_path, f"src-{time.monotonic_ns()}.md")
    file_id = hook.upload_file(path, "alignment").id
    job = hook.create_data_job(
        f"sensor-test-{uuid.uuid4().hex[:8]}",
        "principle_files",
        system_prompt=SYSTEM_PROMPT,
        instructions=INSTRUCTIONS,
    )
    hook.add_data_job_files(job.id, [file_id])
    if start:
        hook.start_data_job(job.id)
    return job.id


def _data_job_status(job_id: str) -> str:
    return SeekrFlowHook().get_data_job(job_id).status


# ------------------------------------------------------------------------------ success


def test_modes_give_the_operator_result_for_a_completed_job(emu, request, tmp_path):
    emu.configure(job_duration=1.5)
    hook = SeekrFlowHook()
    results = {}
    for mode in MODES:
        job_id = _data_job(tmp_path)
        emu.clear_journal()
        dr = dags.run_dag(sensor_dag(request, SeekrFlowDataJobSensor, job_id, mode, suffix=mode))

        assert dags.states(dr) == {"wait": "success"}, mode
        assert emu.journal(route="start_data_job") == [] and emu.journal(route="cancel_data_job") == []
        result = dags.xcom(dr, "wait")
        detail = hook.get_data_job(job_id)
        outputs = hook.get_alignment_outputs(detail.alignment_job_id)
        assert result == {
            "job_id": job_id,
            "status": "completed",
            "alignment_job_id": detail.alignment_job_id,
            "output_files": describe_outputs(outputs),
        }, mode
        fine_tune = [o for o in result["output_files"] if o["purpose"] == "fine-tune"]
        assert len(fine_tune) == 1, mode
        assert dags.xcom(dr, "wait", key=FINE_TUNE_FILE_XCOM_KEY) == fine_tune[0]["id"], mode
        results[mode] = sorted(
            (o["purpose"], o["filename"].replace(detail.alignment_job_id, "<job>"))
            for o in result["output_files"]
        )
    assert results["poke"] == results["reschedule"] == results["deferrable"]


@pytest.mark.parametrize(
    ("wait_for_completion", "mode"),
    [
        pytest.param(True, "poke", id="after-a-waiting-operator"),
        pytest.param(False, "deferrable", id="after-start"),
    ],
)
def test_job_id_as_the_operator_result(emu, request, tmp_path, wait_for_completion, mode):
    """The usual wiring: the operator's result (a dict) is the sensor's ``job_id``; both give the same result."""
    emu.configure(job_duration=1.5)
    file_id = SeekrFlowHook().upload_file(dags.document(tmp_path, "wired.md"), "alignment").id
    with DAG(dags.dag_id_for(request), schedule=None, start_date=dags.START_DATE) as dag:
        make = SeekrFlowDataJobOperator(
            task_id="make",
            files=[file_id],
            system_prompt=SYSTEM_PROMPT,
            instructions=INSTRUCTIONS,
            wait_for_completion=wait_for_completion,
            **dags.FAST_POLL,
        )
        SeekrFlowDataJobSensor(
            task_id="wait", job_id=make.output, poke_interval=0.5, timeout=60, **sensor_mode_kwargs(mode)
        )
    dr = dags.run_dag(dag)

    assert dags.states(dr) == {"make": "success", "wait": "success"}
    made, waited = dags.xcom(dr, "make"), dags.xcom(dr, "wait")
    assert set(waited) == RESULT_KEYS
    assert waited["job_id"] == made["job_id"] and waited["status"] == "completed"
    assert waited["alignment_job_id"] == made["alignment_job_id"]
    if wait_for_completion:
        assert waited == made
        assert dags.xcom(dr, "wait", key=FINE_TUNE_FILE_XCOM_KEY) == dags.xcom(
            dr, "make", key=FINE_TUNE_FILE_XCOM_KEY
        )
    else:
        assert made["status"] in ("pending", "queued", "running") and made["output_files"] == []
        fine_tune = [o for o in waited["output_files"] if o["purpose"] == "fine-tune"]
        assert dags.xcom(dr, "wait", key=FINE_TUNE_FILE_XCOM_KEY) == fine_tune[0]["id"]


# ------------------------------------------------------------------------------ unsuccessful ends


# ------------------------------------------------------------------------------ review


@pytest.mark.parametrize("mode", MODES)
def test_job_in_review_fails_naming_the_file(emu, request, tmp_path, mode):
    emu.configure(ingestion_seconds=1.0, ingestion_fail=[BROKEN])
    job_id = _data_job(tmp_path, broken=True, start=False)
    assert _data_job_status(job_id) == "file_processing"
    emu.clear_journal()
    recorder = dags.FailureRecorder()
    started = time.monotonic()
    dr = dags.run_dag(
        sensor_dag(request, SeekrFlowDataJobSensor, job_id, mode, timeout=120, on_failure_callback=recorder)
    )

    assert dags.states(dr) == {"wait": "failed"}
    error = recorder.last
    assert type(error) is SeekrFlowDataJobNeedsReviewError
    assert error.job_id == job_id and error.status == "needs_review"
    (record,) = SeekrFlowHook().get_data_job(job_id).ingestion_jobs[0].records
    assert record.error_message and record.suggested_fix
    assert f"{BROKEN}: {record.error_message}" in str(error)
    assert record.suggested_fix in str(error)
    assert time.monotonic() - started < 30, "the sensor waited for its timeout instead of failing on review"
    assert emu.journal(route="start_data_job") == [] and emu.journal(route="cancel_data_job") == []


@pytest.mark.parametrize("mode", MODES)
def test_job_in_review_is_waited_on_without_fail_on_review(emu, request, tmp_path, task_logs, mode):
    emu.configure(ingestion_fail=[BROKEN], ingestion_seconds=0.2)
    job_id = _data_job(tmp_path, broken=True, start=False)
    recorder = dags.FailureRecorder()
    started = time.monotonic()
    dr = dags.run_dag(
        sensor_dag(
            request,
            SeekrFlowDataJobSensor,
            job_id,
            mode,
            timeout=3,
            fail_on_review=False,
            on_failure_callback=recorder,
        )
    )
    elapsed = time.monotonic() - started

    assert dags.states(dr) == {"wait": "failed"}
    assert type(recorder.last).__name__ == "AirflowSensorTimeout"
    assert elapsed >= 3, "the sensor gave up before its timeout"
    assert _data_job_status(job_id) == "needs_review"
    if mode == "poke":  # one sensor instance: the problems are reported once, not on every poke
        assert task_logs.occurrences("Waiting for it to be fixed and started") == 1
        assert task_logs.occurrences(f"{BROKEN}: Could not convert") == 1


# ------------------------------------------------------------------------------ soft_fail


@pytest.mark.parametrize("mode", MODES)
def test_soft_fail_skips_a_job_in_review(emu, request, tmp_path, mode):
    # soft_fail on an unsuccessful end is in the job-kind contract; review is a data job's own.
    emu.configure(ingestion_fail=[BROKEN], ingestion_seconds=0.2)
    job_id = _data_job(tmp_path, broken=True, start=False)
    started = time.monotonic()
    dr = dags.run_dag(sensor_dag(request, SeekrFlowDataJobSensor, job_id, mode, timeout=120, soft_fail=True))

    assert dags.states(dr) == {"wait": "skipped"}
    assert time.monotonic() - started < 30
