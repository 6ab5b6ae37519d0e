"""SeekrFlowAlignmentJobSensor in poke, reschedule and deferrable modes, run by Airflow against the emulator."""

from __future__ import annotations

import time

import pytest
from airflow.providers.common.compat.sdk import DAG

from airflow_provider_seekrflow.jobs.alignment import (
    SeekrFlowAlignmentJobCancelledError,
    SeekrFlowAlignmentJobFailedError,
    SeekrFlowAlignmentJobStoppedError,
)
from airflow_provider_seekrflow.sensors.alignment import SeekrFlowAlignmentJobSensor
from tests.operators.seekrflow_dag_support import (
    START_DATE,
    FailureRecorder,
    dag_id_for,
    job_status,
    run_dag,
    start_job,
    states,
    xcom,
)

MODES = ["poke", "reschedule", "deferrable"]


def _mode_kwargs(mode: str) -> dict:
    if mode == "deferrable":
        return {"deferrable": True, "poll_interval": 0.5}
    return {"mode": mode, "deferrable": False}


def _sensor_dag(request, job_id, mode, suffix="", **kwargs):
    params = {"poke_interval": 0.5, "timeout": 60, **_mode_kwargs(mode), **kwargs}
    with DAG(dag_id_for(request, suffix), schedule=None, start_date=START_DATE) as dag:
        SeekrFlowAlignmentJobSensor(task_id="wait", job_id=job_id, **params)
    return dag


def _timeout_class_name(error: BaseException) -> str:
    return type(error).__name__


def test_modes_give_the_same_result_for_a_completed_job(emu, request, tmp_path):
    emu.configure(job_duration=1.5)
    results = {}
    for mode in MODES:
        job_id = start_job(tmp_path)
        dr = run_dag(_sensor_dag(request, job_id, mode, suffix=mode))
        assert states(dr) == {"wait": "success"}, mode
        result = xcom(dr, "wait")
        assert result["job_id"] == job_id
        assert result["status"] == "completed"
        results[mode] = [
            (o["purpose"], o["filename"].replace(job_id, "<job>")) for o in result["output_files"]
        ]
    assert results["poke"] == results["reschedule"] == results["deferrable"]
    assert ("fine-tune", "<job>-training-pairs.parquet") in results["poke"]


@pytest.mark.parametrize("mode", MODES)
def test_timeout_fails_with_sensor_timeout(emu, request, tmp_path, mode):
    emu.configure(job_duration=60)
    job_id = start_job(tmp_path)
    recorder = FailureRecorder()
    dr = run_dag(_sensor_dag(request, job_id, mode, timeout=1.5, on_failure_callback=recorder))
    assert states(dr) == {"wait": "failed"}
    assert _timeout_class_name(recorder.last) == "AirflowSensorTimeout"
    assert job_status(job_id) in ("pending", "queued", "running"), "the sensor must never cancel the job"


@pytest.mark.parametrize("mode", MODES)
def test_soft_fail_skips_on_timeout(emu, request, tmp_path, mode):
    emu.configure(job_duration=60)
    job_id = start_job(tmp_path)
    dr = run_dag(_sensor_dag(request, job_id, mode, timeout=1.5, soft_fail=True))
    assert states(dr) == {"wait": "skipped"}


@pytest.mark.parametrize("mode", MODES)
def test_soft_fail_skips_on_a_failed_job(emu, request, tmp_path, mode):
    emu.configure(job_duration=1.5, job_outcome="failed")
    job_id = start_job(tmp_path)
    started = time.monotonic()
    dr = run_dag(_sensor_dag(request, job_id, mode, timeout=120, soft_fail=True))
    assert states(dr) == {"wait": "skipped"}
    assert time.monotonic() - started < 30


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize(
    ("outcome", "error_class"),
    [
        ("failed", SeekrFlowAlignmentJobFailedError),
        ("cancelled", SeekrFlowAlignmentJobCancelledError),
        ("stopped", SeekrFlowAlignmentJobStoppedError),
    ],
)
def test_unsuccessful_job_fails_at_once(emu, request, tmp_path, mode, outcome, error_class):
    emu.configure(job_duration=1.5, job_outcome=outcome, status_message=f"{outcome}: out of quota")
    job_id = start_job(tmp_path)
    recorder = FailureRecorder()
    started = time.monotonic()
    dr = run_dag(_sensor_dag(request, job_id, mode, timeout=120, on_failure_callback=recorder))
    elapsed = time.monotonic() - started

    assert states(dr) == {"wait": "failed"}
    error = recorder.last
    assert type(error) is error_class
    assert error.status_message == f"{outcome}: out of quota"
    assert elapsed < 30, "the sensor waited for its timeout instead of failing when the job ended"


@pytest.mark.parametrize("mode", MODES)
def test_job_already_ended_fails_on_first_check(emu, request, tmp_path, mode):
    emu.configure(job_duration=60)
    job_id = start_job(tmp_path)
    emu.fail_job(job_id, "stopped", "stopped by an operator")
    recorder = FailureRecorder()
    dr = run_dag(_sensor_dag(request, job_id, mode, on_failure_callback=recorder))
    assert states(dr) == {"wait": "failed"}
    assert type(recorder.last) is SeekrFlowAlignmentJobStoppedError


def test_sensor_never_cancels_the_job_it_watches(emu, request, tmp_path):
    emu.configure(job_duration=60)
    job_id = start_job(tmp_path)
    run_dag(_sensor_dag(request, job_id, "deferrable", timeout=1))
    assert emu.journal(route="cancel_alignment_job") == []
