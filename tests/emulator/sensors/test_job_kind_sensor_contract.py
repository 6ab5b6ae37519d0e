"""What every job sensor must do, whatever its kind, in poke, reschedule and deferrable modes, against the emulator.

Parametrised over the kinds of ``tests/emulator/operators/job_kinds.py``. The jobs a sensor watches are made
beforehand through the hook (or by an operator upstream), as another DAG or a person would. A sensor
gives the job's result when it completed, fails at once with the kind's own error when it ended
otherwise, skips instead with ``soft_fail``, times out as a sensor, and never cancels the job.
"""

from __future__ import annotations

import time

import pytest
from airflow.providers.common.compat.sdk import DAG

from airflow_provider_seekrflow.exceptions import SeekrFlowConfigError
from tests.emulator.operators import seekrflow_dag_support as dags
from tests.emulator.operators.job_kinds import (
    BY_CANCEL,
    END_PARAMS,
    KIND_PARAMS,
    SENSOR_MODES,
    ended_job,
    sensor_dag,
    sensor_mode_kwargs,
)

MODES = SENSOR_MODES


def _never_touched(emu, kind) -> None:
    """The sensor neither submitted nor cancelled anything."""
    assert emu.journal(route=kind.submit_route) == []
    assert emu.journal(route=kind.cancel_route) == []


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("kind", KIND_PARAMS)
def test_a_completed_job_gives_its_result(emu, request, kind, inputs, mode):
    job_id = kind.start(inputs)
    emu.clear_journal()
    dr = dags.run_dag(sensor_dag(request, kind.sensor_class, job_id, mode))

    assert dags.states(dr) == {"wait": "success"}
    result = dags.xcom(dr, "wait")
    assert set(result) == kind.result_keys
    assert (result["job_id"], result["status"]) == (job_id, kind.success)
    _never_touched(emu, kind)


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize(("kind", "status"), END_PARAMS)
def test_each_unsuccessful_end_fails_at_once_with_the_kinds_error(emu, request, kind, inputs, status, mode):
    job_id = ended_job(kind, inputs, emu, status)
    recorder = dags.FailureRecorder()
    started = time.monotonic()
    dr = dags.run_dag(
        sensor_dag(request, kind.sensor_class, job_id, mode, timeout=120, on_failure_callback=recorder)
    )
    elapsed = time.monotonic() - started

    assert dags.states(dr) == {"wait": "failed"}
    error = recorder.last
    assert type(error) is kind.job_kind.errors[status], repr(error)
    assert (error.job_id, error.status) == (job_id, status)
    if kind.status_message and kind.ends[status] != BY_CANCEL:
        assert error.status_message == f"{status}: out of quota"
    assert elapsed < 30, "the sensor waited for its timeout instead of failing when the job ended"


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("kind", KIND_PARAMS)
def test_a_job_cancelled_before_the_sensor_fails_on_the_first_check(emu, request, kind, inputs, mode):
    if not kind.cancel_ends_job:
        pytest.skip(f"the service cannot cancel a {kind.key} job: it runs on, and ends as it would have")
    emu.configure(**kind.slow)
    job_id = kind.start(inputs)
    kind.cancel(job_id)
    assert kind.status(job_id) == kind.cancelled
    recorder = dags.FailureRecorder()
    started = time.monotonic()
    dr = dags.run_dag(
        sensor_dag(request, kind.sensor_class, job_id, mode, timeout=120, on_failure_callback=recorder)
    )

    assert dags.states(dr) == {"wait": "failed"}
    assert type(recorder.last) is kind.job_kind.errors[kind.cancelled], repr(recorder.last)
    assert time.monotonic() - started < 30


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("kind", KIND_PARAMS)
def test_a_timeout_fails_as_a_sensor_timeout_and_never_cancels_the_job(emu, request, kind, inputs, mode):
    emu.configure(**kind.slow)
    job_id = kind.start(inputs)
    emu.clear_journal()
    recorder = dags.FailureRecorder()
    dr = dags.run_dag(
        sensor_dag(request, kind.sensor_class, job_id, mode, timeout=1.5, on_failure_callback=recorder)
    )

    assert dags.states(dr) == {"wait": "failed"}
    assert type(recorder.last).__name__ == "AirflowSensorTimeout", repr(recorder.last)
    assert kind.status(job_id) in kind.started, "the sensor must never cancel the job"
    _never_touched(emu, kind)


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("kind", KIND_PARAMS)
def test_soft_fail_skips_on_a_timeout(emu, request, kind, inputs, mode):
    emu.configure(**kind.slow)
    job_id = kind.start(inputs)
    dr = dags.run_dag(sensor_dag(request, kind.sensor_class, job_id, mode, timeout=1.5, soft_fail=True))
    assert dags.states(dr) == {"wait": "skipped"}
    assert kind.status(job_id) in kind.started


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("kind", KIND_PARAMS)
def test_soft_fail_skips_on_an_unsuccessful_end(emu, request, kind, inputs, mode):
    job_id = ended_job(kind, inputs, emu, kind.failed)
    started = time.monotonic()
    dr = dags.run_dag(sensor_dag(request, kind.sensor_class, job_id, mode, timeout=120, soft_fail=True))
    assert dags.states(dr) == {"wait": "skipped"}
    assert time.monotonic() - started < 30
    assert kind.status(job_id) == kind.failed


@pytest.mark.parametrize(
    "job_id", ["", "   ", {"status": "completed"}, {"job_id": None}], ids=["empty", "blank", "no-id", "none"]
)
@pytest.mark.parametrize("kind", KIND_PARAMS)
def test_a_job_id_that_names_no_job_fails_before_any_request(emu, request, kind, job_id):
    recorder = dags.FailureRecorder()
    dr = dags.run_dag(sensor_dag(request, kind.sensor_class, job_id, "poke", on_failure_callback=recorder))
    assert dags.states(dr) == {"wait": "failed"}
    assert isinstance(recorder.last, SeekrFlowConfigError), repr(recorder.last)
    assert "job_id" in str(recorder.last)
    assert emu.journal() == []


@pytest.mark.parametrize("kind", KIND_PARAMS)
def test_the_operators_result_is_the_sensors_job_id(emu, request, kind, inputs):
    """The usual wiring: the operator submits without waiting, the deferred sensor waits on its result."""
    with DAG(dags.dag_id_for(request), schedule=None, start_date=dags.START_DATE) as dag:
        submit = kind.operator_class(
            task_id="submit", wait_for_completion=False, **{**inputs, **dags.FAST_POLL}
        )
        kind.sensor_class(
            task_id="wait", job_id=submit.output, poke_interval=0.5, **sensor_mode_kwargs("deferrable")
        )
    dr = dags.run_dag(dag)

    assert dags.states(dr) == {"submit": "success", "wait": "success"}
    submitted, waited = dags.xcom(dr, "submit"), dags.xcom(dr, "wait")
    assert submitted["status"] in kind.started
    assert (waited["job_id"], waited["status"]) == (submitted["job_id"], kind.success)
    assert set(waited) == kind.result_keys
