"""What every job operator must do, whatever its kind, run by Airflow (``dag.test()``) against the emulator.

One suite, parametrised over the kinds of ``tests/emulator/operators/job_kinds.py`` (alignment, data job,
fine-tune, deployment, vector ingestion) and, where it matters, over the wait's place (on the worker or deferred to the
triggerer): submit once, reattach on a retry, adopt the job of a lost answer, log progress, push
the result, raise the kind's own error for each unsuccessful end and for a timeout (cancelling the
job), cancel on kill, refuse a strange event. What only one kind does stays in its own test file.
"""

from __future__ import annotations

import json
import re
import time
from datetime import timedelta

import pytest
from airflow.providers.common.compat.sdk import DAG, TaskDeferred

from airflow_provider_seekrflow.exceptions import SeekrFlowError, SeekrFlowServerError
from tests.emulator.operators import job_kinds
from tests.emulator.operators import seekrflow_dag_support as dags
from tests.emulator.operators.job_kinds import (
    BY_CANCEL,
    END_PARAMS,
    KIND_PARAMS,
    UNKNOWN_STATUS,
    ending_in,
)

MODES = [pytest.param(False, id="worker"), pytest.param(True, id="deferred")]
TASK = "job"
# What dag.test() logs each time it runs a deferred task's trigger (Airflow 2 and 3 alike).
INLINE_TRIGGER = "[DAG TEST] running trigger in line"
ONLY_3_3 = pytest.mark.skipif(
    not dags.AIRFLOW_V3_3, reason="a retry finds its job in the task state store (3.3+)"
)


def _dag(request, kind, inputs, *, suffix="", operator_class=None, **kwargs):
    with DAG(dags.dag_id_for(request, suffix), schedule=None, start_date=dags.START_DATE) as dag:
        (operator_class or kind.operator_class)(task_id=TASK, **{**inputs, **dags.FAST_POLL, **kwargs})
    return dag


def _crash_once_after_submit(operator_class):
    """Test double of a worker crash: the first try dies right after its job was submitted."""

    def poll_until_complete(self, job_id, context):
        if context["ti"].try_number == 1:
            raise RuntimeError(f"simulated worker crash while waiting for {job_id}")
        return operator_class.poll_until_complete(self, job_id, context)

    name = f"CrashOnce{operator_class.__name__}"
    crashing = type(name, (operator_class,), {"poll_until_complete": poll_until_complete})
    crashing.__module__, crashing.__qualname__ = __name__, name
    globals()[name] = crashing
    return crashing


CRASHING = {kind.key: _crash_once_after_submit(kind.operator_class) for kind in job_kinds.ALL}


def _normalised(result):
    """The result with ids and sizes blanked, so two runs' results can be compared."""
    text = re.sub(r"\b[a-z]+-[0-9a-f][0-9a-f-]{7,}", "<id>", json.dumps(result, sort_keys=True))
    return re.sub(r'"bytes": \d+', '"bytes": "<n>"', text)


# ---------------------------------------------------------------------------------- success


@pytest.mark.parametrize("deferrable", MODES)
@pytest.mark.parametrize("kind", KIND_PARAMS)
def test_success_submits_once_logs_progress_and_pushes_the_result(
    emu, request, kind, inputs, task_logs, deferrable
):
    dr = dags.run_dag(_dag(request, kind, inputs, deferrable=deferrable))

    assert dags.states(dr) == {TASK: "success"}
    result = dags.xcom(dr, TASK)
    job_id = dags.xcom(dr, TASK, key=kind.xcom_key)
    assert set(result) == kind.result_keys
    assert result["job_id"] == job_id and job_id.startswith(kind.prefix)
    assert result["status"] == kind.success == kind.status(job_id)
    assert dags.count(emu, kind.submit_route) == 1
    assert emu.journal(route=kind.cancel_route) == []
    assert task_logs.occurrences(f"{kind.job_kind.label} {job_id}: ") >= 1, task_logs.text()[-3000:]
    # Deferred, the wait ran in the triggerer; on the worker, no trigger ran.
    assert (task_logs.occurrences(INLINE_TRIGGER) > 0) is deferrable


@pytest.mark.parametrize("kind", KIND_PARAMS)
def test_worker_and_deferred_give_the_same_result(emu, request, kind, inputs):
    results = []
    for deferrable in (False, True):
        dr = dags.run_dag(_dag(request, kind, inputs, suffix=str(deferrable), deferrable=deferrable))
        assert dags.states(dr) == {TASK: "success"}
        results.append(_normalised(dags.xcom(dr, TASK)))
    assert results[0] == results[1]
    assert dags.count(emu, kind.submit_route) == 2


@pytest.mark.parametrize("kind", KIND_PARAMS)
def test_wait_for_completion_false_returns_the_job_once_submitted(emu, request, kind, inputs):
    emu.configure(**kind.slow)
    started = time.monotonic()
    dr = dags.run_dag(_dag(request, kind, inputs, wait_for_completion=False))

    assert dags.states(dr) == {TASK: "success"}
    result = dags.xcom(dr, TASK)
    assert set(result) == kind.result_keys
    assert result["status"] in kind.started, "returned before the start, or waited for the end"
    assert dags.xcom(dr, TASK, key=kind.xcom_key) == result["job_id"]
    assert kind.status(result["job_id"]) in kind.started
    assert dags.count(emu, kind.submit_route) == 1
    assert time.monotonic() - started < 30


@pytest.mark.parametrize("deferrable", MODES)
@pytest.mark.parametrize("kind", KIND_PARAMS)
def test_do_xcom_push_false_pushes_nothing(emu, request, kind, inputs, deferrable):
    dr = dags.run_dag(_dag(request, kind, inputs, deferrable=deferrable, do_xcom_push=False))
    assert dags.states(dr) == {TASK: "success"}
    assert dags.count(emu, kind.submit_route) == 1
    for key in ("return_value", kind.xcom_key, "fine_tune_file_id"):
        assert dags.xcom(dr, TASK, key=key) is None, key


@pytest.mark.parametrize("deferrable", MODES)
@pytest.mark.parametrize("kind", KIND_PARAMS)
def test_hook_params_reach_the_hook(emu, request, kind, inputs, deferrable):
    # One 503 on the submission: the connection's 3 retries would absorb it; hook_params turn them off.
    emu.set_faults([{"route": kind.submit_route, "kind": "503", "count": 1}])
    recorder = dags.FailureRecorder()
    dr = dags.run_dag(
        _dag(
            request,
            kind,
            inputs,
            deferrable=deferrable,
            hook_params={"max_retries": 0},
            on_failure_callback=recorder,
        )
    )
    assert dags.states(dr) == {TASK: "failed"}
    assert isinstance(recorder.last, SeekrFlowServerError), repr(recorder.last)
    assert dags.count(emu, kind.submit_route) == 1


# ------------------------------------------------------------------------ unsuccessful ends


@pytest.mark.parametrize("deferrable", MODES)
@pytest.mark.parametrize(("kind", "status"), END_PARAMS)
def test_each_unsuccessful_end_raises_the_kinds_error(emu, request, kind, inputs, status, deferrable):
    recorder = dags.FailureRecorder()
    with ending_in(kind, emu, status):
        dr = dags.run_dag(_dag(request, kind, inputs, deferrable=deferrable, on_failure_callback=recorder))

    assert dags.states(dr) == {TASK: "failed"}
    error = recorder.last
    assert type(error) is kind.job_kind.errors[status], repr(error)
    job_id = dags.xcom(dr, TASK, key=kind.xcom_key)
    assert (error.job_id, error.status) == (job_id, status)
    if kind.status_message and kind.ends[status] != BY_CANCEL:
        assert error.status_message == f"{status}: out of quota"
        assert error.status_message in str(error)
    assert dags.count(emu, kind.submit_route) == 1


@pytest.mark.parametrize("deferrable", MODES)
@pytest.mark.parametrize("kind", KIND_PARAMS)
def test_timeout_raises_the_kinds_timeout_error_and_cancels_the_job(emu, request, kind, inputs, deferrable):
    emu.configure(**kind.slow)
    recorder = dags.FailureRecorder()
    started = time.monotonic()
    dr = dags.run_dag(
        _dag(request, kind, inputs, deferrable=deferrable, timeout=2.0, on_failure_callback=recorder)
    )
    elapsed = time.monotonic() - started

    assert dags.states(dr) == {TASK: "failed"}
    error = recorder.last
    assert isinstance(error, kind.job_kind.timeout_error), repr(error)
    job_id = dags.xcom(dr, TASK, key=kind.xcom_key)
    assert error.job_id == job_id
    cancels = emu.journal(route=kind.cancel_route)
    assert len(cancels) == 1 and kind.cancel_mark(job_id) in cancels[0]["path"]
    assert cancels[0]["status"] == kind.cancel_status
    assert kind.status(job_id) == kind.cancelled
    assert elapsed < 40


# ------------------------------------------------------------------------------------- kill


@pytest.mark.parametrize("cancel_on_kill", [True, False], ids=["cancels", "leaves"])
@pytest.mark.parametrize("kind", KIND_PARAMS)
def test_on_kill_cancels_the_submitted_job_unless_told_not_to(emu, request, kind, inputs, cancel_on_kill):
    emu.configure(**kind.slow)
    dr = dags.run_dag(_dag(request, kind, inputs, wait_for_completion=False))
    job_id = dags.xcom(dr, TASK)["job_id"]

    operator = kind.operator(inputs, cancel_on_kill=cancel_on_kill)
    operator.job_id = job_id
    operator.on_kill()
    if cancel_on_kill:
        assert kind.status(job_id) == kind.cancelled
        assert [
            kind.cancel_mark(job_id) in entry["path"] for entry in emu.journal(route=kind.cancel_route)
        ] == [True]
    else:
        assert kind.status(job_id) in kind.started
        assert emu.journal(route=kind.cancel_route) == []


@pytest.mark.parametrize("kind", KIND_PARAMS)
def test_execution_timeout_kills_the_task_and_the_job_is_cancelled(emu, request, kind, inputs):
    """Airflow's own kill path: execution_timeout ends the wait on the worker, and the job is cancelled."""
    emu.configure(**kind.slow)
    dag = _dag(
        request,
        kind,
        inputs,
        deferrable=False,
        poll_interval=0.5,
        min_poll_interval=0.5,
        # Long enough for the submission (a data job: create, attach, ingest, start) on a loaded machine,
        # so the kill lands in the wait, where the job can be cancelled: 3 s was crossed before the start.
        execution_timeout=timedelta(seconds=6),
    )
    try:
        dr = dags.run_dag(dag)
    except BaseException as err:  # Airflow 2's AirflowTaskTimeout is a BaseException dag.test() lets out
        if dags.AIRFLOW_V3 or "Timeout" not in type(err).__name__:
            raise
        from airflow.models.dagrun import DagRun

        (dr,) = DagRun.find(dag_id=dag.dag_id)
    assert dags.states(dr) == {TASK: "failed"}
    job_id = dags.xcom(dr, TASK, key=kind.xcom_key)
    assert dags.count(emu, kind.cancel_route) == 1
    assert kind.status(job_id) == kind.cancelled


# ---------------------------------------------------------------------- lost answers, retries


@pytest.mark.parametrize("deferrable", MODES)
@pytest.mark.parametrize("kind", KIND_PARAMS)
def test_a_lost_answer_to_the_submission_adopts_the_job_made(emu, request, kind, inputs, deferrable):
    # The service makes the job, then the connection drops before its answer is sent.
    before = kind.job_ids()
    emu.set_faults([{"route": kind.submit_route, "kind": "drop_after", "count": 1}])
    dr = dags.run_dag(_dag(request, kind, inputs, deferrable=deferrable))

    assert dags.states(dr) == {TASK: "success"}
    result = dags.xcom(dr, TASK)
    assert kind.job_ids() - before == {result["job_id"]}, "a second job was made, or none adopted"
    assert result["status"] == kind.success
    assert dags.xcom(dr, TASK, key=kind.xcom_key) == result["job_id"]
    assert [entry["fault"] for entry in emu.journal(route=kind.submit_route)] == ["drop_after"]


@pytest.mark.parametrize("kind", KIND_PARAMS)
def test_a_retry_after_a_crash_reattaches_to_its_job(emu, request, kind, inputs, task_logs):
    emu.configure(**kind.quick)
    dr = dags.run_dag(
        _dag(
            request,
            kind,
            inputs,
            operator_class=CRASHING[kind.key],
            deferrable=False,
            retries=1,
            retry_delay=timedelta(seconds=0),
        )
    )
    assert dags.states(dr) == {TASK: "success"}
    result = dags.xcom(dr, TASK)
    assert result["status"] == kind.success
    if dags.AIRFLOW_V3_3:
        assert dags.count(emu, kind.submit_route) == 1, (
            "the retry submitted a second job instead of reattaching"
        )
        assert f"Reattaching to job {result['job_id']}" in task_logs.text()
    elif kind.reuses_existing:
        # No task state store, but the retry finds the first try's job by its request and reuses it.
        assert dags.count(emu, kind.submit_route) == 1
        assert "no task state store" in task_logs.text()
        assert f"Reusing {kind.job_kind.label.lower()} {result['job_id']}" in task_logs.text()
    else:
        # Documented: without a task state store every try submits its own job, and the task says so.
        assert dags.count(emu, kind.submit_route) == 2
        assert "no task state store" in task_logs.text()


@ONLY_3_3
@pytest.mark.parametrize(("durable", "submits"), [(True, 1), (False, 2)], ids=["durable", "not-durable"])
@pytest.mark.parametrize("kind", KIND_PARAMS)
def test_durable_decides_whether_a_retry_reattaches(emu, request, kind, inputs, durable, submits):
    emu.configure(**kind.quick)
    dr = dags.run_dag(
        _dag(
            request,
            kind,
            inputs,
            operator_class=CRASHING[kind.key],
            durable=durable,
            retries=1,
            retry_delay=timedelta(seconds=0),
        )
    )
    assert dags.states(dr) == {TASK: "success"}
    # A kind that reuses a job of the same request makes no second one, durable or not.
    assert dags.count(emu, kind.submit_route) == (1 if kind.reuses_existing else submits)


@ONLY_3_3
@pytest.mark.parametrize(
    ("submit_fault", "made"),
    [
        # The service makes the job, then the connection drops before its answer.
        pytest.param("drop_after", True, id="made"),
        # The connection drops before the service acts: it made nothing.
        pytest.param("drop_before", False, id="not-made"),
    ],
)
@pytest.mark.parametrize("kind", KIND_PARAMS)
def test_a_retry_asks_the_service_about_a_submission_whose_answer_and_lookup_failed(
    emu, request, kind, inputs, task_logs, submit_fault, made
):
    # The first try cannot tell whether its submission made a job (the lookup fails too), so it
    # fails without resending; the retry asks the service before submitting anything.
    before = kind.job_ids()  # before the faults: this listing would use up the lookup's
    emu.set_faults(
        [
            {"route": kind.submit_route, "kind": submit_fault, "count": 1},
            # The snapshot before the submission lists; the lookup after the lost answer fails.
            {"route": kind.list_route, "kind": "503", "skip": kind.list_requests(), "count": 1},
        ]
    )
    recorder = dags.RetryRecorder()
    dr = dags.run_dag(
        _dag(
            request,
            kind,
            inputs,
            hook_params={"max_retries": 0},
            retries=1,
            retry_delay=timedelta(seconds=0),
            on_retry_callback=recorder,
        )
    )

    assert dags.states(dr) == {TASK: "success"}
    assert len(recorder.errors) == 1, "the first try should have failed"
    job_id = dags.xcom(dr, TASK)["job_id"]
    assert kind.job_ids() - before == {job_id}
    assert dags.count(emu, kind.submit_route) == (1 if made else 2)
    if made:
        assert f"lost its answer, but the service made job {job_id}" in task_logs.text()
    else:
        assert "made no job; submitting" in task_logs.text()


# --------------------------------------------------------------------------- event validation


def _waiter(kind, inputs, task):
    if task == "operator":
        return kind.operator(inputs)
    return kind.sensor_class(task_id="wait", job_id="unused", poke_interval=0.5, timeout=60)


@pytest.mark.parametrize("task", ["operator", "sensor"])
@pytest.mark.parametrize("kind", KIND_PARAMS)
def test_an_event_for_another_job_is_refused(emu, kind, inputs, task):
    waiter = _waiter(kind, inputs, task)
    event = {"job_id": f"{kind.prefix}someone-else", "status": "completed", "message": "done"}
    with pytest.raises(SeekrFlowError, match=f"{kind.prefix}someone-else"):
        waiter.execute_complete({}, event, f"{kind.prefix}mine")
    assert emu.journal() == [], "the event's job was read, or the task's"


@pytest.mark.parametrize("task", ["operator", "sensor"])
@pytest.mark.parametrize("kind", KIND_PARAMS)
def test_an_event_with_an_unknown_status_never_ends_the_wait_well(emu, kind, inputs, task):
    emu.configure(**kind.slow)
    job_id = kind.start(inputs)
    emu.clear_journal()
    waiter = _waiter(kind, inputs, task)
    event = {"job_id": job_id, "status": UNKNOWN_STATUS, "message": "?", "status_message": None}
    if kind.refuses_unknown_status:
        with pytest.raises(SeekrFlowError, match=f"unknown status '{UNKNOWN_STATUS}'"):
            waiter.execute_complete({}, event, job_id)
        assert emu.journal(route=kind.read_route) == []
    else:
        # A wait that also ends before the job's end reads the job itself, and waits on.
        with pytest.raises(TaskDeferred):
            waiter.execute_complete({}, event, job_id)
        assert dags.count(emu, kind.read_route) >= 1
    assert kind.status(job_id) in kind.started
