"""SeekrFlowFineTuneSensor in poke, reschedule and deferrable modes, run by Airflow against the emulator."""

from __future__ import annotations

import time
import uuid

import pytest

from airflow_provider_seekrflow.emulator.fine_tunes import epoch_loss
from airflow_provider_seekrflow.hooks.seekrflow import SeekrFlowHook
from airflow_provider_seekrflow.jobs.fine_tune import (
    SeekrFlowFineTuneCancelledError,
    SeekrFlowFineTuneFailedError,
    fine_tune_result,
)
from airflow_provider_seekrflow.sensors.fine_tune import SeekrFlowFineTuneSensor
from tests.emulator.operators.job_kinds import SENSOR_MODES, sensor_dag
from tests.emulator.operators.seekrflow_dag_support import (
    CHAT_LINE,
    FailureRecorder,
    run_dag,
    states,
    write,
    xcom,
)

MODES = SENSOR_MODES
MODEL = "meta-llama/Llama-3.1-8B"
N_EPOCHS = 3
FINE_TUNE_SECONDS = 1.5
RESULT_KEYS = {"job_id", "status", "model_id", "project_id", "model", "inference_available", "usage"}


@pytest.fixture
def project_id(emu):
    """A project on the (emulated) service, fine-tunes of 1.5 s."""
    emu.configure(fine_tune_duration=FINE_TUNE_SECONDS)
    return SeekrFlowHook().ensure_project(f"sensor project {uuid.uuid4().hex[:10]}", "Sensor tests").id


def start_fine_tune(tmp_path, project_id: int, n_epochs: int = N_EPOCHS) -> str:
    """Upload a training file and start a fine-tune on it through the hook (set-up, not under test)."""
    hook = SeekrFlowHook()
    path = write(tmp_path / f"pairs-{uuid.uuid4().hex[:8]}.jsonl", CHAT_LINE * 3)
    file_id = hook.upload_file(path, "fine-tune").id
    return hook.create_fine_tune(
        project_id=project_id,
        training_files=[file_id],
        model=MODEL,
        n_epochs=n_epochs,
        accel_type="H100",
        n_accel=1,
    ).id


def event_line(fine_tune_id: str, epoch: int) -> str:
    return f"Fine-tune {fine_tune_id}: epoch {epoch}, loss {epoch_loss(epoch):.4g}"


# ---------------------------------------------------------------------------------- success


@pytest.mark.parametrize("mode", MODES)
def test_completed_fine_tune_gives_the_operators_result(emu, request, tmp_path, project_id, mode):
    job_id = start_fine_tune(tmp_path, project_id)
    dr = run_dag(sensor_dag(request, SeekrFlowFineTuneSensor, job_id, mode))

    assert states(dr) == {"wait": "success"}
    result = xcom(dr, "wait")
    assert set(result) == RESULT_KEYS
    assert result == fine_tune_result(SeekrFlowHook().get_fine_tune(job_id))
    assert result["job_id"] == job_id and result["status"] == "completed"
    assert result["model_id"] and result["inference_available"] is True
    assert (result["project_id"], result["model"]) == (project_id, MODEL)
    assert emu.journal(route="cancel_fine_tune_put") == []


@pytest.mark.parametrize("mode", MODES)
def test_each_event_is_logged_once(emu, request, tmp_path, project_id, task_logs, mode):
    job_id = start_fine_tune(tmp_path, project_id)
    dr = run_dag(sensor_dag(request, SeekrFlowFineTuneSensor, job_id, mode))
    assert states(dr) == {"wait": "success"}
    logged = {epoch: task_logs.occurrences(event_line(job_id, epoch)) for epoch in range(1, N_EPOCHS + 1)}
    assert logged == dict.fromkeys(range(1, N_EPOCHS + 1), 1)


def test_deferrable_logs_events_seen_before_deferring_once(emu, request, tmp_path, project_id, task_logs):
    """A fine-tune already past its first epoch when the sensor starts: no event is logged twice."""
    n_epochs = 10
    # Warm up: the first dag.test() of a process is seconds slower, time the fine-tune must not spend.
    run_dag(sensor_dag(request, SeekrFlowFineTuneSensor, "", "poke", suffix="warm_up"))
    # Long enough that a slow dag.test() start (Airflow 3.1 under load: several seconds) still
    # finds it running: epoch 1 ends at 15% + 85%/10 of the run (about 7 s in), the fine-tune 23 s later.
    emu.configure(fine_tune_duration=30)
    job_id = start_fine_tune(tmp_path, project_id, n_epochs=n_epochs)
    while not SeekrFlowHook().get_fine_tune_events(job_id):
        time.sleep(0.1)
    emu.clear_journal()
    dr = run_dag(sensor_dag(request, SeekrFlowFineTuneSensor, job_id, "deferrable"))
    assert states(dr) == {"wait": "success"}
    first_read = emu.journal(route="get_fine_tune")[0]
    assert first_read["ts"] < SeekrFlowHook().get_fine_tune(job_id).completed_at.timestamp(), (
        "the fine-tune had ended before the sensor's first check: nothing was deferred"
    )
    logged = {epoch: task_logs.occurrences(event_line(job_id, epoch)) for epoch in range(1, n_epochs + 1)}
    assert logged == dict.fromkeys(range(1, n_epochs + 1), 1)


# ---------------------------------------------------------------------------------- failure


@pytest.mark.parametrize("mode", MODES)
def test_failed_fine_tune_fails_at_once_with_the_error_analysis(emu, request, tmp_path, project_id, mode):
    emu.configure(fine_tune_outcome="failed")
    job_id = start_fine_tune(tmp_path, project_id)
    recorder = FailureRecorder()
    started = time.monotonic()
    dr = run_dag(
        sensor_dag(request, SeekrFlowFineTuneSensor, job_id, mode, timeout=120, on_failure_callback=recorder)
    )
    elapsed = time.monotonic() - started

    assert states(dr) == {"wait": "failed"}
    error = recorder.last
    assert type(error) is SeekrFlowFineTuneFailedError
    analysis = SeekrFlowHook().get_fine_tune(job_id).error_analysis
    assert analysis and error.error_analysis == analysis
    assert analysis in str(error)
    assert (error.job_id, error.status) == (job_id, "failed")
    assert elapsed < 30, "the sensor waited for its timeout instead of failing when the fine-tune ended"


def test_cancelled_while_deferred_fails_with_the_cancelled_error(emu, request, tmp_path, project_id):
    """Cancelled by someone else while the sensor waits in the triggerer."""
    import threading

    emu.configure(fine_tune_duration=60)
    job_id = start_fine_tune(tmp_path, project_id)
    canceller = threading.Timer(2.0, SeekrFlowHook().cancel_fine_tune, args=(job_id,))
    canceller.start()
    recorder = FailureRecorder()
    try:
        dr = run_dag(
            sensor_dag(
                request,
                SeekrFlowFineTuneSensor,
                job_id,
                "deferrable",
                timeout=60,
                on_failure_callback=recorder,
            )
        )
    finally:
        canceller.cancel()
    assert states(dr) == {"wait": "failed"}
    assert type(recorder.last) is SeekrFlowFineTuneCancelledError
