"""SeekrFlowGenerateAlignmentOperator, run by Airflow (``dag.test()``) against the emulator over real HTTP."""

from __future__ import annotations

import re
import time
from datetime import timedelta

import pytest
from airflow.providers.common.compat.sdk import DAG

from airflow_provider_seekrflow.exceptions import (
    SeekrFlowAlignmentJobCancelledError,
    SeekrFlowAlignmentJobFailedError,
    SeekrFlowAlignmentJobStoppedError,
    SeekrFlowAlignmentJobTimeoutError,
    SeekrFlowConfigError,
)
from airflow_provider_seekrflow.hooks.seekrflow import SeekrFlowHook
from airflow_provider_seekrflow.operators.alignment import (
    JOB_ID_XCOM_KEY,
    SeekrFlowGenerateAlignmentOperator,
)
from airflow_provider_seekrflow.operators.job_base import FINE_TUNE_FILE_XCOM_KEY
from tests.operators.seekrflow_dag_support import (
    AIRFLOW_V3,
    AIRFLOW_V3_3,
    FAST_POLL,
    START_DATE,
    FailureRecorder,
    count,
    dag_id_for,
    job_status,
    run_dag,
    states,
    upload_alignment_document,
    xcom,
)

MODES = [pytest.param(False, id="sync"), pytest.param(True, id="deferrable")]


@pytest.fixture
def source_file(emu, tmp_path):
    """An alignment document already on the (emulated) service; the journal starts empty after it."""
    file_id = upload_alignment_document(tmp_path)
    emu.clear_journal()
    return file_id


def _generate_dag(request, files, *, suffix="", operator_class=SeekrFlowGenerateAlignmentOperator, **kwargs):
    params = {"instructions": "Teach the returns policy, briefly.", **FAST_POLL, **kwargs}
    with DAG(dag_id_for(request, suffix), schedule=None, start_date=START_DATE) as dag:
        operator_class(task_id="generate", files=files, **params)
    return dag


def _normalised(result, job_id):
    """The result with ids blanked, so two runs' results can be compared."""
    outputs = [
        {**output, "id": "<id>", "filename": output["filename"].replace(job_id, "<job>"), "bytes": "<n>"}
        for output in result["output_files"]
    ]
    return {"job_id": "<job>", "status": result["status"], "output_files": outputs}


@pytest.mark.parametrize("deferrable", MODES)
def test_success_returns_result_and_pushes_xcoms(emu, request, source_file, deferrable):
    dr = run_dag(_generate_dag(request, [source_file], deferrable=deferrable))

    assert states(dr) == {"generate": "success"}
    result = xcom(dr, "generate")
    job_id = xcom(dr, "generate", key=JOB_ID_XCOM_KEY)
    assert set(result) == {"job_id", "status", "output_files"}
    assert result["job_id"] == job_id and job_id.startswith("al-")
    assert result["status"] == "completed"
    fine_tune = [o for o in result["output_files"] if o["purpose"] == "fine-tune"]
    assert len(fine_tune) == 1
    assert xcom(dr, "generate", key=FINE_TUNE_FILE_XCOM_KEY) == fine_tune[0]["id"]
    assert SeekrFlowHook().get_file(fine_tune[0]["id"]).purpose == "fine-tune"
    assert count(emu, "alignment_generate") == 1


def test_sync_and_deferrable_give_the_same_result(emu, request, source_file):
    results = []
    for deferrable in (False, True):
        dr = run_dag(_generate_dag(request, [source_file], suffix=str(deferrable), deferrable=deferrable))
        assert states(dr) == {"generate": "success"}
        result = xcom(dr, "generate")
        results.append(_normalised(result, result["job_id"]))
    assert results[0] == results[1]


def test_templated_files_from_upstream_xcom(emu, request, tmp_path):
    """The usual wiring: the upload operator's output feeds ``files``."""
    from airflow_provider_seekrflow.operators.files import SeekrFlowUploadFileOperator
    from tests.operators.seekrflow_dag_support import document

    path = document(tmp_path, "wired.md")
    with DAG(dag_id_for(request), schedule=None, start_date=START_DATE) as dag:
        upload = SeekrFlowUploadFileOperator(task_id="upload", file_path=str(path))
        SeekrFlowGenerateAlignmentOperator(
            task_id="generate", instructions="Teach it.", files=upload.output, **FAST_POLL
        )
    dr = run_dag(dag)
    assert states(dr) == {"upload": "success", "generate": "success"}
    assert xcom(dr, "generate")["status"] == "completed"


@pytest.mark.parametrize("deferrable", MODES)
@pytest.mark.parametrize(
    ("outcome", "error_class"),
    [
        ("failed", SeekrFlowAlignmentJobFailedError),
        ("cancelled", SeekrFlowAlignmentJobCancelledError),
        ("stopped", SeekrFlowAlignmentJobStoppedError),
    ],
)
def test_unsuccessful_job_raises_its_distinct_error(
    emu, request, source_file, outcome, error_class, deferrable
):
    message = f"emulated {outcome} because the documents were unreadable"
    emu.configure(job_outcome=outcome, status_message=message)
    recorder = FailureRecorder()
    dr = run_dag(_generate_dag(request, [source_file], deferrable=deferrable, on_failure_callback=recorder))

    assert states(dr) == {"generate": "failed"}
    error = recorder.last
    assert type(error) is error_class
    assert error.status == outcome
    assert error.status_message == message
    assert message in str(error)
    assert error.job_id == xcom(dr, "generate", key=JOB_ID_XCOM_KEY)
    assert count(emu, "alignment_generate") == 1


@pytest.mark.parametrize(
    ("kwargs", "fragment"),
    [
        ({"instructions": "   "}, "instructions"),
        ({"files": []}, "files"),
        ({"files": None}, "files"),
    ],
    ids=["blank-instructions", "empty-files", "no-files"],
)
@pytest.mark.parametrize("deferrable", MODES)
def test_bad_arguments_fail_before_any_request(emu, request, kwargs, fragment, deferrable):
    recorder = FailureRecorder()
    params = {"files": ["file-x"], **kwargs}
    files = params.pop("files")
    dr = run_dag(_generate_dag(request, files, deferrable=deferrable, on_failure_callback=recorder, **params))
    assert states(dr) == {"generate": "failed"}
    assert isinstance(recorder.last, SeekrFlowConfigError)
    assert fragment in str(recorder.last)
    assert emu.journal() == []


def test_system_prompt_with_context_data_warns(emu, request, source_file, task_logs):
    with pytest.warns(UserWarning, match="system_prompt is ignored"):
        dr = run_dag(
            _generate_dag(
                request,
                [source_file],
                alignment_type="context_data",
                system_prompt="You are terse.",
                wait_for_completion=False,
            )
        )
    assert states(dr) == {"generate": "success"}
    assert "system_prompt is ignored" in task_logs.text()


@pytest.mark.parametrize("deferrable", MODES)
def test_timeout_fails_and_cancels_the_job(emu, request, source_file, deferrable):
    emu.configure(job_duration=60)
    recorder = FailureRecorder()
    started = time.monotonic()
    dr = run_dag(
        _generate_dag(
            request, [source_file], deferrable=deferrable, timeout=1.5, on_failure_callback=recorder
        )
    )
    elapsed = time.monotonic() - started

    assert states(dr) == {"generate": "failed"}
    error = recorder.last
    assert isinstance(error, SeekrFlowAlignmentJobTimeoutError)
    job_id = xcom(dr, "generate", key=JOB_ID_XCOM_KEY)
    assert error.job_id == job_id
    cancels = emu.journal(route="cancel_alignment_job")
    assert [c["path"] for c in cancels] == [f"/v1/flow/alignment/{job_id}/cancel"]
    assert job_status(job_id) == "cancelled"
    assert elapsed < 30


def test_execution_timeout_kills_the_task_and_on_kill_cancels(emu, request, source_file):
    """Airflow's own kill path: execution_timeout interrupts the sync wait and calls on_kill."""
    emu.configure(job_duration=60)
    dag = _generate_dag(
        request,
        [source_file],
        deferrable=False,
        poll_interval=0.5,
        min_poll_interval=0.5,
        execution_timeout=timedelta(seconds=3),
    )
    try:
        dr = run_dag(dag)
    except BaseException as err:  # Airflow 2's AirflowTaskTimeout is a BaseException dag.test() lets out
        if AIRFLOW_V3 or "Timeout" not in type(err).__name__:
            raise
        from airflow.models.dagrun import DagRun

        (dr,) = DagRun.find(dag_id=dag.dag_id)
    assert states(dr) == {"generate": "failed"}
    job_id = xcom(dr, "generate", key=JOB_ID_XCOM_KEY)
    assert count(emu, "cancel_alignment_job") == 1
    assert job_status(job_id) == "cancelled"


def test_on_kill_cancels_the_submitted_job(emu, request, source_file):
    """``on_kill`` of an operator whose job is running (submitted by a real task run) cancels it."""
    emu.configure(job_duration=60)
    dr = run_dag(_generate_dag(request, [source_file], wait_for_completion=False))
    job_id = xcom(dr, "generate")["job_id"]

    operator = SeekrFlowGenerateAlignmentOperator(
        task_id="generate", instructions="Teach it.", files=[source_file]
    )
    operator.job_id = job_id
    operator.on_kill()
    assert job_status(job_id) == "cancelled"
    assert [c["path"] for c in emu.journal(route="cancel_alignment_job")] == [
        f"/v1/flow/alignment/{job_id}/cancel"
    ]


def test_on_kill_without_cancel_on_kill_leaves_the_job(emu, request, source_file):
    emu.configure(job_duration=60)
    dr = run_dag(_generate_dag(request, [source_file], wait_for_completion=False))
    job_id = xcom(dr, "generate")["job_id"]
    operator = SeekrFlowGenerateAlignmentOperator(
        task_id="generate", instructions="Teach it.", files=[source_file], cancel_on_kill=False
    )
    operator.job_id = job_id
    operator.on_kill()
    assert count(emu, "cancel_alignment_job") == 0
    assert job_status(job_id) in ("pending", "queued", "running")


def test_wait_for_completion_false_returns_the_job_at_once(emu, request, source_file):
    emu.configure(job_duration=60)
    started = time.monotonic()
    dr = run_dag(_generate_dag(request, [source_file], wait_for_completion=False))

    assert states(dr) == {"generate": "success"}
    # The same return type as when waiting: the job as it is, just submitted.
    result = xcom(dr, "generate")
    assert set(result) == {"job_id", "status", "output_files"}
    job_id = result["job_id"]
    assert isinstance(job_id, str) and job_id.startswith("al-")
    assert result["status"] in ("pending", "queued", "running") and result["output_files"] == []
    assert xcom(dr, "generate", key=JOB_ID_XCOM_KEY) == job_id
    assert job_status(job_id) in ("pending", "queued", "running")
    assert count(emu, "alignment_generate") == 1
    assert time.monotonic() - started < 30


class CrashOnceAfterSubmit(SeekrFlowGenerateAlignmentOperator):
    """Test double of a worker crash: the first try dies right after the job was submitted."""

    def poll_until_complete(self, external_id, context):
        if context["ti"].try_number == 1:
            raise RuntimeError(f"simulated worker crash while waiting for {external_id}")
        return super().poll_until_complete(external_id, context)


def test_retry_after_crash_reattaches_or_resubmits(emu, request, source_file, task_logs):
    emu.configure(job_duration=2)
    dr = run_dag(
        _generate_dag(
            request,
            [source_file],
            operator_class=CrashOnceAfterSubmit,
            deferrable=False,
            retries=1,
            retry_delay=timedelta(seconds=0),
        )
    )
    assert states(dr) == {"generate": "success"}
    generates = count(emu, "alignment_generate")
    result = xcom(dr, "generate")
    assert result["status"] == "completed"
    if AIRFLOW_V3_3:
        assert generates == 1, "the retry submitted a second alignment job instead of reattaching"
        assert "no task state store" not in task_logs.text()
    else:
        # Documented: without a task state store every try submits its own job, and the task says so.
        assert generates == 2
        assert "no task state store" in task_logs.text()


def test_polling_follows_the_eta(emu, request, source_file):
    """A job with an ETA is checked far less often than one polled at a fixed pace."""
    emu.configure(job_duration=4, eta=True)
    dr = run_dag(_generate_dag(request, [source_file], suffix="eta", poll_interval=30, min_poll_interval=0.5))
    assert states(dr) == {"generate": "success"}
    eta_polls = count(emu, "get_alignment_job")

    emu.clear_journal()
    emu.configure(job_duration=4, eta=False)
    dr = run_dag(
        _generate_dag(request, [source_file], suffix="fixed", poll_interval=0.5, min_poll_interval=0.5)
    )
    assert states(dr) == {"generate": "success"}
    fixed_polls = count(emu, "get_alignment_job")

    assert eta_polls <= 3
    assert fixed_polls >= 6
    assert eta_polls < fixed_polls


def test_files_as_single_id_string(emu, request, source_file):
    dr = run_dag(_generate_dag(request, source_file))
    assert states(dr) == {"generate": "success"}
    assert re.match(r"al-", xcom(dr, "generate")["job_id"])
