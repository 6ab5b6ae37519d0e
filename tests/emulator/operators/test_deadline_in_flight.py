"""A task's timeout holds while a status check is in flight (issue 20, audit M4), run by ``dag.test()``.

The emulator holds every status read of the data job (a 60 s ``delay``, or a body trickled one byte
every 100 s); the operator's ``timeout`` of 20 s must still end the task within 25 s, as a timeout,
with the job cancelled, on the worker and in the triggerer alike.
"""

from __future__ import annotations

import time

import pytest
from airflow.providers.common.compat.sdk import DAG

from airflow_provider_seekrflow.hooks.seekrflow import SeekrFlowHook
from airflow_provider_seekrflow.jobs.data_job import DATA_JOB, SeekrFlowDataJobTimeoutError
from airflow_provider_seekrflow.operators.data_job import SeekrFlowDataJobOperator
from tests.emulator.operators import seekrflow_dag_support as dags

MODES = [pytest.param(False, id="sync"), pytest.param(True, id="deferrable")]
TASK = "data_job"
TIMEOUT = 20.0
# The task ends (job cancelled) within this long of the job's creation: far below the held
# request's 60 s and 100 s, so a deadline that did not hold in flight fails; the 15 s over the
# timeout are for a loaded CI machine (five suites on two CPUs: 27.8 s seen), where setting up
# the first deferral and resuming the task after the trigger each take seconds.
ENDED_WITHIN = TIMEOUT + 15.0
# Whole-run bound, DAG set-up and the failure's handling included, roomy for a loaded machine.
RUN_WITHIN = 55.0  # still under the 60 s hold: a deadline that did not hold in flight fails it
# The reads of the job let through before the alignment's wait, so the held one is a status check
# of a started job (which the service can cancel): the submission's (it attaches only the files the
# job lacks), the ingestion wait's (Markdown is ingested at once), the start's (it starts only a job
# not started yet) and, deferred, the resumed task's. The journal check below fails if this drifts.
READS_BEFORE_THE_ALIGNMENT = {False: 3, True: 4}
HOLDS = {
    "delay": {"route": "get_data_job", "kind": "delay", "delay": 60},
    "trickle": {"route": "get_data_job", "kind": "trickle", "delay": 100},
}


@pytest.fixture
def document_id(emu, tmp_path) -> str:
    """A Markdown document on the (emulated) service, ingested at once; the journal starts empty."""
    emu.configure(job_duration=60.0)
    file_id = SeekrFlowHook().upload_file(dags.document(tmp_path, "returns.md"), "alignment").id
    emu.clear_journal()
    return file_id


@pytest.mark.parametrize("hold", sorted(HOLDS))
@pytest.mark.parametrize("deferrable", MODES)
def test_a_held_status_check_ends_the_task_at_its_timeout_and_cancels_the_job(
    emu, request, document_id, deferrable, hold
):
    emu.set_faults([{**HOLDS[hold], "skip": READS_BEFORE_THE_ALIGNMENT[deferrable]}])
    recorder = dags.FailureRecorder()
    with DAG(dags.dag_id_for(request), schedule=None, start_date=dags.START_DATE) as dag:
        SeekrFlowDataJobOperator(
            task_id=TASK,
            files=[document_id],
            system_prompt="You answer questions about returns.",
            deferrable=deferrable,
            timeout=TIMEOUT,
            on_failure_callback=recorder,
            **dags.FAST_POLL,
        )
    started = time.monotonic()
    dr = dags.run_dag(dag)
    elapsed = time.monotonic() - started
    emu.set_faults([])

    assert dags.states(dr) == {TASK: "failed"}
    error = recorder.last
    assert isinstance(error, SeekrFlowDataJobTimeoutError), repr(error)
    job_id = dags.xcom(dr, TASK, key=DATA_JOB.job_id_xcom_key)
    (submitted,) = emu.journal(route="submit_data_job")
    (started,) = emu.journal(route="start_data_job")
    held = [entry for entry in emu.journal(route="get_data_job") if entry.get("fault") == hold]
    assert held and held[0]["ts"] >= started["ts"], "no status check of the alignment's wait was held"
    (cancelled,) = emu.journal(route="cancel_data_job")
    assert cancelled["path"] == f"/v1/flow/data-jobs/{job_id}/cancel"
    waited = cancelled["ts"] - submitted["ts"]
    assert waited < ENDED_WITHIN, f"cancelled {waited:.1f} s after the job was created; timeout {TIMEOUT} s"
    assert SeekrFlowHook().get_data_job(job_id).status == "cancelled"
    assert elapsed < RUN_WITHIN, f"the run took {elapsed:.1f} s"


def test_a_timeout_from_a_triggerer_clock_ahead_waits_the_rest_once_then_ends():
    # The triggerer's clock runs 100 s ahead: its timeout event comes 100 s early by the worker's
    # clock. The worker waits the rest, deferred, keeping its own deadline; when the moved trigger
    # fires (its event names the moved time), the worker's deadline has passed and the wait ends,
    # instead of being moved again for ever.
    from airflow.exceptions import TaskDeferred

    from airflow_provider_seekrflow.jobs.events import job_event

    operator = SeekrFlowDataJobOperator(task_id=TASK, files=["file-1"], cancel_on_kill=False)
    deadline = time.time() + 100
    with pytest.raises(TaskDeferred) as deferred:
        operator.execute_complete(
            {}, job_event("dj-1", "timeout", "ran out", None, deadline), "dj-1", deadline
        )
    moved = deferred.value.trigger.end_time
    assert moved == pytest.approx(deadline + 100, abs=2)
    assert deferred.value.kwargs["end_time"] == deadline

    passed = time.time() - 1  # the worker's deadline, reached when the moved trigger fires
    with pytest.raises(SeekrFlowDataJobTimeoutError):
        operator.execute_complete(
            {}, job_event("dj-1", "timeout", "ran out", None, passed + 100), "dj-1", passed
        )
