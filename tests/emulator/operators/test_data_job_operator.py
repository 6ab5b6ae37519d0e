"""SeekrFlowDataJobOperator, run by Airflow (``dag.test()``) against the emulator over real HTTP.

Every test goes through the whole path a user's DAG takes: create the data job, attach the files,
wait for their ingestion, start the alignment and (by default) wait for it, on the worker or in the
triggerer. The emulator's switches make the service slow, refuse, lose answers or need a review.
"""

from __future__ import annotations

import re
import time
from datetime import timedelta
from typing import Any

import pytest
import requests
from airflow.providers.common.compat.sdk import DAG

from airflow_provider_seekrflow.assets import FINE_TUNE_FILE_XCOM_KEY
from airflow_provider_seekrflow.emulator.data_jobs import draft_system_prompt
from airflow_provider_seekrflow.exceptions import SeekrFlowConfigError
from airflow_provider_seekrflow.hooks.seekrflow import SeekrFlowHook
from airflow_provider_seekrflow.jobs.data_job import (
    DATA_JOB,
    SeekrFlowDataJobNeedsReviewError,
    SeekrFlowDataJobTimeoutError,
)
from airflow_provider_seekrflow.operators.data_job import SeekrFlowDataJobOperator
from tests.emulator.operators import seekrflow_dag_support as dags

MODES = [pytest.param(False, id="sync"), pytest.param(True, id="deferrable")]
TASK = "data_job"
SYSTEM_PROMPT = "You answer questions about the store's returns policy, briefly."
INSTRUCTIONS = "Teach the returns policy."
# Seconds the emulator takes to ingest each non-Markdown file (Markdown is ready at once).
INGESTION_SECONDS = 1.5
RESULT_KEYS = {"job_id", "status", "alignment_job_id", "output_files"}
STARTED = ("pending", "queued", "running")
# What dag.test() logs each time it runs a deferred task's trigger (Airflow 2 and 3 alike).
INLINE_TRIGGER = "[DAG TEST] running trigger in line"


@pytest.fixture
def documents(emu, tmp_path) -> dict[str, str]:
    """A Markdown and a plain-text document on the (emulated) service, by name; the journal starts empty."""
    emu.configure(job_duration=1.0, ingestion_seconds=INGESTION_SECONDS)
    hook = SeekrFlowHook()
    markdown = dags.document(tmp_path, "returns.md")
    text = dags.write(
        tmp_path / "refunds.txt", "Refunds are paid to the original card within five business days.\n"
    )
    ids = {path.name: hook.upload_file(path, "alignment").id for path in (markdown, text)}
    emu.clear_journal()
    return ids


def _data_job_dag(
    request, files: Any, *, suffix: str = "", operator_class=SeekrFlowDataJobOperator, **kwargs
):
    params = {"system_prompt": SYSTEM_PROMPT, "instructions": INSTRUCTIONS, **dags.FAST_POLL, **kwargs}
    with DAG(dags.dag_id_for(request, suffix), schedule=None, start_date=dags.START_DATE) as dag:
        operator_class(task_id=TASK, files=files, **params)
    return dag


def _service_jobs(emu, name_prefix: str) -> list[dict[str, Any]]:
    """The data jobs the service lists whose name starts with ``name_prefix`` (the DAG id), over raw HTTP."""
    response = requests.get(
        f"{emu.base_url}/v1/flow/data-jobs",
        params={"limit": 100, "sort_order": "desc"},
        headers={"Authorization": emu.api_key},
        timeout=30,
    )
    response.raise_for_status()
    return [job for job in response.json()["data"] if job["name"].startswith(f"{name_prefix}.")]


def _progress_lines(text: str, job_id: str) -> list[str]:
    """The distinct progress lines the task log holds for ``job_id``, in order of first appearance."""
    # A line ends where the console renderer appends the logger's name (Airflow 3), or at its end.
    pattern = rf"Data job {re.escape(job_id)}: (?:status=|alignment ).*?(?=\s+\[[\w.]+\] loc=|$)"
    return list(dict.fromkeys(line.rstrip() for line in re.findall(pattern, text, flags=re.MULTILINE)))


# ------------------------------------------------------------------------------ success


@pytest.mark.parametrize("deferrable", MODES)
def test_success_returns_result_pushes_xcoms_and_logs_progress_once(
    emu, request, documents, task_logs, deferrable
):
    # The progress line checked below needs the first check to land while refunds.txt is still being
    # ingested: a loaded CI machine (Airflow 2.11, deferred) took longer than 1.5 s to get there.
    emu.configure(ingestion_seconds=6.0)
    dr = dags.run_dag(_data_job_dag(request, list(documents.values()), deferrable=deferrable))

    assert dags.states(dr) == {TASK: "success"}
    result = dags.xcom(dr, TASK)
    job_id = dags.xcom(dr, TASK, key=DATA_JOB.job_id_xcom_key)
    assert set(result) == RESULT_KEYS
    assert result["job_id"] == job_id and job_id.startswith("dj-")
    assert result["status"] == "completed"
    hook = SeekrFlowHook()
    detail = hook.get_data_job(job_id)
    assert detail.status == "completed"
    assert result["alignment_job_id"] == detail.alignment_job_id and detail.alignment_job_id.startswith("al-")
    assert {item.file_id for item in detail.files} == set(documents.values())
    fine_tune = [o for o in result["output_files"] if o["purpose"] == "fine-tune"]
    assert len(fine_tune) == 1
    assert dags.xcom(dr, TASK, key=FINE_TUNE_FILE_XCOM_KEY) == fine_tune[0]["id"]
    assert hook.get_file(fine_tune[0]["id"]).purpose == "fine-tune"
    calls = {
        route: dags.count(emu, route)
        for route in ("submit_data_job", "add_files_to_data_job", "start_data_job")
    }
    assert calls == {"submit_data_job": 1, "add_files_to_data_job": 1, "start_data_job": 1}

    text = task_logs.text()
    lines = _progress_lines(text, job_id)
    ingestion = [line for line in lines if "file(s) done" in line]
    alignment = [line for line in lines if line.startswith(f"Data job {job_id}: alignment ")]
    assert any(
        "ingestion 1 of 2 file(s) done" in line and "refunds.txt: running" in line for line in ingestion
    ), lines
    assert any("ingestion 2 of 2 file(s) done" in line for line in ingestion), lines
    assert alignment and "status=completed" in alignment[-1], lines
    for line in lines:
        assert task_logs.occurrences(line) == 1, f"logged more than once: {line!r}"
    # The completed line names the training file (and every other output).
    completed = next(line for line in text.splitlines() if f"Data job {job_id} completed with" in line)
    assert f"completed with {len(result['output_files'])} output file(s): " in completed
    for output in result["output_files"]:
        assert f"{output['filename']} ({output['id']}, " in completed
    assert f"({fine_tune[0]['id']}, " in completed.split("; the training file, in XCom fine_tune_file_id")[0]
    # The job was read more often than its progress changed: unchanged polls logged nothing.
    assert dags.count(emu, "get_data_job") > len(lines)
    # Deferrable: both waits (ingestion, then alignment) ran in the triggerer; sync: none did.
    assert task_logs.occurrences(INLINE_TRIGGER) == (2 if deferrable else 0)


# ------------------------------------------------------------------------------ review


@pytest.mark.parametrize("deferrable", MODES)
def test_failed_ingestion_fails_in_review_naming_the_file_and_starts_nothing(
    emu, request, documents, deferrable
):
    emu.configure(ingestion_fail=["refunds.txt"])
    recorder = dags.FailureRecorder()
    dr = dags.run_dag(
        _data_job_dag(request, list(documents.values()), deferrable=deferrable, on_failure_callback=recorder)
    )

    assert dags.states(dr) == {TASK: "failed"}
    error = recorder.last
    assert type(error) is SeekrFlowDataJobNeedsReviewError
    job_id = dags.xcom(dr, TASK, key=DATA_JOB.job_id_xcom_key)
    assert error.job_id == job_id and error.status == "needs_review"
    record = next(
        record
        for run in SeekrFlowHook().get_data_job(job_id).ingestion_jobs
        for record in run.records
        if record.filename == "refunds.txt"
    )
    assert record.error_message and record.suggested_fix
    message = str(error)
    assert f"refunds.txt: {record.error_message}" in message
    assert record.suggested_fix in message
    assert "returns.md" not in message, "a file that was ingested is not at fault"
    assert len(error.problems) == 1
    assert dags.count(emu, "start_data_job") == 0
    assert SeekrFlowHook().get_data_job(job_id).status == "needs_review"


@pytest.mark.parametrize("deferrable", MODES)
def test_missing_system_prompt_fails_in_review(emu, request, documents, deferrable):
    recorder = dags.FailureRecorder()
    dr = dags.run_dag(
        _data_job_dag(
            request,
            [documents["returns.md"]],
            deferrable=deferrable,
            system_prompt=None,
            on_failure_callback=recorder,
        )
    )

    assert dags.states(dr) == {TASK: "failed"}
    error = recorder.last
    assert type(error) is SeekrFlowDataJobNeedsReviewError
    assert "system prompt" in str(error)
    assert dags.count(emu, "start_data_job") == 0
    assert dags.count(emu, "generate_data_job_system_prompt") == 0


@pytest.mark.parametrize("deferrable", MODES)
def test_generate_system_prompt_drafts_one_and_completes(emu, request, documents, deferrable):
    dr = dags.run_dag(
        _data_job_dag(
            request,
            [documents["returns.md"]],
            deferrable=deferrable,
            system_prompt=None,
            generate_system_prompt=True,
        )
    )

    assert dags.states(dr) == {TASK: "success"}
    result = dags.xcom(dr, TASK)
    assert result["status"] == "completed"
    assert dags.count(emu, "generate_data_job_system_prompt") == 1
    updates = emu.journal(route="update_data_job")
    assert [entry["path"] for entry in updates] == [f"/v1/flow/data-jobs/{result['job_id']}"]
    assert SeekrFlowHook().get_data_job(result["job_id"]).system_prompt == draft_system_prompt(INSTRUCTIONS)
    assert dags.count(emu, "start_data_job") == 1


# ------------------------------------------------------------------------------ not waiting


@pytest.mark.parametrize("deferrable", MODES)
def test_wait_for_completion_false_returns_once_started(emu, request, documents, task_logs, deferrable):
    emu.configure(job_duration=4.0)
    dr = dags.run_dag(
        _data_job_dag(request, list(documents.values()), deferrable=deferrable, wait_for_completion=False)
    )

    assert dags.states(dr) == {TASK: "success"}
    result = dags.xcom(dr, TASK)
    assert set(result) == RESULT_KEYS
    assert result["status"] in STARTED, "returned before the start, or waited for the end"
    assert result["alignment_job_id"] and result["output_files"] == []
    assert dags.xcom(dr, TASK, key=DATA_JOB.job_id_xcom_key) == result["job_id"]
    assert dags.xcom(dr, TASK, key=FINE_TUNE_FILE_XCOM_KEY) is None
    assert dags.count(emu, "start_data_job") == 1
    # Deferrable: the wait for the ingestion is in the triggerer too, not on the worker.
    assert task_logs.occurrences(INLINE_TRIGGER) == (1 if deferrable else 0)

    hook = SeekrFlowHook()
    deadline = time.monotonic() + 30
    while (status := hook.get_data_job(result["job_id"]).status) in STARTED and time.monotonic() < deadline:
        time.sleep(0.5)
    assert status == "completed", "the started job did not go on to complete on the service"


# ------------------------------------------------------------------------------ bad input


@pytest.mark.parametrize(
    ("kwargs", "fragments"),
    [
        ({"files": ["/tmp/returns.md"]}, ["files[0]", "local path"]),
        ({"files": []}, ["files", "at least one file"]),
        ({"files": None}, ["files", "at least one file"]),
        (
            {"files": ["file-x"], "job_type": "context_grounded_vector_db", "vector_database_id": "vdb-1"},
            ["files", "context_grounded_vector_db"],
        ),
        (
            {
                "files": ["file-x"],
                "system_prompt": None,
                "instructions": None,
                "generate_system_prompt": True,
            },
            ["generate_system_prompt", "instructions"],
        ),
    ],
    ids=["local-path", "empty-files", "no-files", "files-for-vector-db", "prompt-from-no-instructions"],
)
@pytest.mark.parametrize("deferrable", MODES)
def test_bad_arguments_fail_before_any_request(emu, request, kwargs, fragments, deferrable):
    recorder = dags.FailureRecorder()
    params = dict(kwargs)
    files = params.pop("files")
    dr = dags.run_dag(
        _data_job_dag(request, files, deferrable=deferrable, on_failure_callback=recorder, **params)
    )

    assert dags.states(dr) == {TASK: "failed"}
    assert isinstance(recorder.last, SeekrFlowConfigError)
    for fragment in fragments:
        assert fragment in str(recorder.last)
    assert emu.journal() == []


def test_unknown_job_type_fails_at_construction(emu, request):
    with pytest.raises(SeekrFlowConfigError, match=r"job_type: 'principles' is not one of principle_files"):
        _data_job_dag(request, ["file-x"], job_type="principles")
    assert emu.journal() == []


# ------------------------------------------------------------------------------ timeout


@pytest.mark.parametrize("deferrable", MODES)
def test_timeout_counts_ingestion_and_alignment_together(emu, request, documents, deferrable):
    """The documented limit is for the whole wait: ingestion time is not given back when the alignment starts.

    A limit per wait would cancel no sooner than ``timeout`` after the alignment started. The bound on
    the whole wait leaves room for the resume latency of ``dag.test()`` (about 2 s per deferral on 3.1,
    near 6 s in all on a loaded CI machine: 13.8 s against a limit of 8). The limit is 16 s, so that a
    restarted limit (cancelled 16 s or more after the start) stays apart from that latency.
    """
    timeout = 16.0
    emu.configure(job_duration=60, ingestion_seconds=timeout / 2)
    recorder = dags.FailureRecorder()
    dr = dags.run_dag(
        _data_job_dag(
            request,
            list(documents.values()),
            deferrable=deferrable,
            timeout=timeout,
            on_failure_callback=recorder,
        )
    )

    assert dags.states(dr) == {TASK: "failed"}
    assert isinstance(recorder.last, SeekrFlowDataJobTimeoutError)
    (submitted,) = emu.journal(route="submit_data_job")
    (started,) = emu.journal(route="start_data_job")
    (cancelled,) = emu.journal(route="cancel_data_job")
    assert started["ts"] - submitted["ts"] < timeout, "the alignment should have started within the limit"
    after_start = cancelled["ts"] - started["ts"]
    assert after_start < timeout, (
        f"cancelled {after_start:.1f} s after the alignment started: the limit of {timeout} s restarted"
    )
    waited = cancelled["ts"] - submitted["ts"]
    assert waited < timeout + 8.0, (
        f"cancelled {waited:.1f} s after the job was created; the limit is {timeout} s"
    )


# ------------------------------------------------------------------------------ lost answers


# The submission's lost answer is in the job-kind contract; these two requests are a data job's own.
@pytest.mark.parametrize("route", ["add_files_to_data_job", "start_data_job"])
def test_lost_answer_does_not_repeat_the_request(emu, request, documents, route):
    emu.set_faults([{"route": route, "kind": "drop_after", "count": 1}])
    dag = _data_job_dag(request, list(documents.values()))
    dr = dags.run_dag(dag)

    assert dags.states(dr) == {TASK: "success"}
    assert [entry["fault"] for entry in emu.journal(route=route)] == ["drop_after"], (
        "the request was sent again"
    )
    (job,) = _service_jobs(emu, dag.dag_id)
    assert dags.xcom(dr, TASK)["job_id"] == job["id"]
    assert dags.xcom(dr, TASK)["status"] == "completed"
    assert dags.count(emu, "submit_data_job") == 1
    assert dags.count(emu, "add_files_to_data_job") == 1
    assert dags.count(emu, "start_data_job") == 1
    detail = SeekrFlowHook().get_data_job(job["id"])
    assert len(detail.ingestion_jobs) == 1, "the files were attached (and ingested) twice"
    assert sorted(item.file_id for item in detail.files) == sorted(documents.values())
    assert detail.alignment_job_id == dags.xcom(dr, TASK)["alignment_job_id"]


# ------------------------------------------------------------------------------ retries


@pytest.mark.skipif(
    not dags.AIRFLOW_V3_3, reason="a retry finds its job in the task state store (Airflow 3.3+)"
)
@pytest.mark.parametrize(
    "failing_route",
    [
        # The try dies with the job created but no file attached yet.
        "add_files_to_data_job",
        # The try dies with the job created, its files attached and ingested, but not started.
        "start_data_job",
    ],
)
@pytest.mark.parametrize("deferrable", MODES)
def test_retry_reattaches_to_the_job_of_the_failed_try(
    emu, request, documents, task_logs, failing_route, deferrable
):
    # The service refuses the request once, and the hook does not retry it: the first try fails.
    emu.set_faults([{"route": failing_route, "kind": "500", "count": 1}])
    recorder = dags.FailureRecorder()
    dag = _data_job_dag(
        request,
        list(documents.values()),
        deferrable=deferrable,
        hook_params={"max_retries": 0},
        retries=1,
        retry_delay=timedelta(seconds=0),
        on_retry_callback=recorder,
    )
    dr = dags.run_dag(dag)

    assert dags.states(dr) == {TASK: "success"}
    assert len(recorder.errors) == 1, "the first try should have failed"
    assert [entry["status"] for entry in emu.journal(route=failing_route)] == [500, 200]
    jobs = _service_jobs(emu, dag.dag_id)
    assert len(jobs) == 1, f"the retry created another data job instead of reattaching: {jobs}"
    result = dags.xcom(dr, TASK)
    assert result["job_id"] == jobs[0]["id"] and result["status"] == "completed"
    assert dags.count(emu, "submit_data_job") == 1
    assert dags.count(emu, "start_data_job") == (2 if failing_route == "start_data_job" else 1)
    detail = SeekrFlowHook().get_data_job(jobs[0]["id"])
    assert sorted(item.file_id for item in detail.files) == sorted(documents.values())
    assert len(detail.ingestion_jobs) == 1, "the files were attached (and ingested) twice"
    assert f"Reattaching to job {jobs[0]['id']}" in task_logs.text()
