"""SeekrFlowGenerateAlignmentOperator, run by Airflow (``dag.test()``) against the emulator over real HTTP."""

from __future__ import annotations

import re

import pytest
from airflow.providers.common.compat.sdk import DAG

from airflow_provider_seekrflow.assets import FINE_TUNE_FILE_XCOM_KEY
from airflow_provider_seekrflow.exceptions import (
    SeekrFlowConfigError,
)
from airflow_provider_seekrflow.hooks.seekrflow import SeekrFlowHook
from airflow_provider_seekrflow.jobs.alignment import ALIGNMENT
from airflow_provider_seekrflow.operators.alignment import SeekrFlowGenerateAlignmentOperator
from tests.emulator.operators import seekrflow_dag_support as dags

MODES = [pytest.param(False, id="sync"), pytest.param(True, id="deferrable")]


@pytest.fixture
def source_file(emu, tmp_path):
    """An alignment document already on the (emulated) service; the journal starts empty after it."""
    file_id = dags.upload_alignment_document(tmp_path)
    emu.clear_journal()
    return file_id


def _generate_dag(request, files, *, suffix="", operator_class=SeekrFlowGenerateAlignmentOperator, **kwargs):
    params = {"instructions": "Teach the returns policy, briefly.", **dags.FAST_POLL, **kwargs}
    with DAG(dags.dag_id_for(request, suffix), schedule=None, start_date=dags.START_DATE) as dag:
        operator_class(task_id="generate", files=files, **params)
    return dag


@pytest.mark.parametrize("deferrable", MODES)
def test_success_returns_result_and_pushes_xcoms(emu, request, source_file, deferrable):
    dr = dags.run_dag(_generate_dag(request, [source_file], deferrable=deferrable))

    assert dags.states(dr) == {"generate": "success"}
    result = dags.xcom(dr, "generate")
    job_id = dags.xcom(dr, "generate", key=ALIGNMENT.job_id_xcom_key)
    assert set(result) == {"job_id", "status", "output_files"}
    assert result["job_id"] == job_id and job_id.startswith("al-")
    assert result["status"] == "completed"
    fine_tune = [o for o in result["output_files"] if o["purpose"] == "fine-tune"]
    assert len(fine_tune) == 1
    assert dags.xcom(dr, "generate", key=FINE_TUNE_FILE_XCOM_KEY) == fine_tune[0]["id"]
    assert SeekrFlowHook().get_file(fine_tune[0]["id"]).purpose == "fine-tune"
    assert dags.count(emu, "alignment_generate") == 1


def test_templated_files_from_upstream_xcom(emu, request, tmp_path):
    """The usual wiring: the upload operator's output feeds ``files``."""
    from airflow_provider_seekrflow.operators.files import SeekrFlowUploadFileOperator
    from tests.emulator.operators.seekrflow_dag_support import document

    path = document(tmp_path, "wired.md")
    with DAG(dags.dag_id_for(request), schedule=None, start_date=dags.START_DATE) as dag:
        upload = SeekrFlowUploadFileOperator(task_id="upload", file_path=str(path))
        SeekrFlowGenerateAlignmentOperator(
            task_id="generate", instructions="Teach it.", files=upload.output, **dags.FAST_POLL
        )
    dr = dags.run_dag(dag)
    assert dags.states(dr) == {"upload": "success", "generate": "success"}
    assert dags.xcom(dr, "generate")["status"] == "completed"


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
    recorder = dags.FailureRecorder()
    params = {"files": ["file-x"], **kwargs}
    files = params.pop("files")
    dr = dags.run_dag(
        _generate_dag(request, files, deferrable=deferrable, on_failure_callback=recorder, **params)
    )
    assert dags.states(dr) == {"generate": "failed"}
    assert isinstance(recorder.last, SeekrFlowConfigError)
    assert fragment in str(recorder.last)
    assert emu.journal() == []


def test_system_prompt_with_context_data_warns(emu, request, source_file, task_logs):
    with pytest.warns(UserWarning, match="system_prompt is ignored"):
        dr = dags.run_dag(
            _generate_dag(
                request,
                [source_file],
                alignment_type="context_data",
                system_prompt="You are terse.",
                wait_for_completion=False,
            )
        )
    assert dags.states(dr) == {"generate": "success"}
    assert "system_prompt is ignored" in task_logs.text()


def test_polling_follows_the_eta(emu, request, source_file):
    """A job with an ETA is checked far less often than one polled at a fixed pace."""
    emu.configure(job_duration=4, eta=True)
    dr = dags.run_dag(
        _generate_dag(request, [source_file], suffix="eta", poll_interval=30, min_poll_interval=0.5)
    )
    assert dags.states(dr) == {"generate": "success"}
    eta_polls = dags.count(emu, "get_alignment_job")

    emu.clear_journal()
    emu.configure(job_duration=4, eta=False)
    dr = dags.run_dag(
        _generate_dag(request, [source_file], suffix="fixed", poll_interval=0.5, min_poll_interval=0.5)
    )
    assert dags.states(dr) == {"generate": "success"}
    fixed_polls = dags.count(emu, "get_alignment_job")

    assert eta_polls <= 3
    assert fixed_polls >= 6
    assert eta_polls < fixed_polls


def test_files_as_single_id_string(emu, request, source_file):
    dr = dags.run_dag(_generate_dag(request, source_file))
    assert dags.states(dr) == {"generate": "success"}
    assert re.match(r"al-", dags.xcom(dr, "generate")["job_id"])
