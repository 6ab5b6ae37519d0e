"""SeekrFlowFineTuneOperator, run by Airflow (``dag.test()``) against the emulator over real HTTP."""

from __future__ import annotations

import uuid
from datetime import timedelta
from typing import Any

import pytest
import requests
from airflow.providers.common.compat.sdk import DAG

from airflow_provider_seekrflow.client import fine_tunes
from airflow_provider_seekrflow.emulator.fine_tunes import epoch_loss
from airflow_provider_seekrflow.exceptions import SeekrFlowConfigError
from airflow_provider_seekrflow.hooks.seekrflow import SeekrFlowHook
from airflow_provider_seekrflow.jobs.fine_tune import (
    FINE_TUNE,
    SeekrFlowFineTuneFailedError,
    SeekrFlowFineTuneTimeoutError,
)
from airflow_provider_seekrflow.operators.fine_tune import SeekrFlowFineTuneOperator
from tests.conftest import connection_json
from tests.emulator.operators import seekrflow_dag_support as dags
from tests.emulator.operators.job_kinds import MethodRefusingProxy

MODES = [pytest.param(False, id="sync"), pytest.param(True, id="deferrable")]
MODEL = "meta-llama/Llama-3.1-8B"
N_EPOCHS = 3
FINE_TUNE_SECONDS = 1.5
RESULT_KEYS = {"job_id", "status", "model_id", "project_id", "model", "inference_available", "usage"}


# ------------------------------------------------------------------------------------ helpers


def unique_name(prefix: str = "airflow project") -> str:
    """A project name no other test uses (projects outlive a test on the shared emulator)."""
    return f"{prefix} {uuid.uuid4().hex[:10]}"


def upload_training_file(tmp_path, name: str | None = None) -> str:
    """Upload a small chat JSONL with purpose ``fine-tune`` through the hook; return its id."""
    path = dags.write(tmp_path / (name or f"pairs-{uuid.uuid4().hex[:8]}.jsonl"), dags.CHAT_LINE * 3)
    return SeekrFlowHook().upload_file(path, "fine-tune").id


def service_projects(emu, name: str) -> list[dict[str, Any]]:
    """The projects named ``name`` on the service, read over HTTP."""
    response = requests.get(
        f"{emu.base_url}/v1/flow/projects",
        params={"skip": 0, "limit": 1000},
        headers={"Authorization": emu.api_key},
        timeout=30,
    )
    response.raise_for_status()
    return [project for project in response.json()["data"] if project["name"] == name]


def service_fine_tunes(training_file: str) -> list[fine_tunes.FineTune]:
    """The fine-tunes on the service that train on ``training_file``."""
    listed = SeekrFlowHook().call(fine_tunes.list_jobs()).data or []
    return [job for job in listed if job.training_files == [training_file]]


def fine_tune_status(fine_tune_id: str) -> str:
    return SeekrFlowHook().get_fine_tune(fine_tune_id).status


def event_line(fine_tune_id: str, epoch: int) -> str:
    return f"Fine-tune {fine_tune_id}: epoch {epoch}, loss {epoch_loss(epoch):.4g}"


@pytest.fixture
def training_file(emu, tmp_path):
    """A ``fine-tune`` file on the (emulated) service, fine-tunes of 1.5 s; the journal starts empty after it."""
    emu.configure(fine_tune_duration=FINE_TUNE_SECONDS)
    file_id = upload_training_file(tmp_path)
    emu.clear_journal()
    return file_id


def _fine_tune_dag(request, training_files, *, suffix="", operator_class=SeekrFlowFineTuneOperator, **kwargs):
    params: dict[str, Any] = {"model": MODEL, "n_epochs": N_EPOCHS, **dags.FAST_POLL, **kwargs}
    if "project_id" not in params and "project_name" not in params:
        params["project_name"] = unique_name()
    with DAG(dags.dag_id_for(request, suffix), schedule=None, start_date=dags.START_DATE) as dag:
        operator_class(task_id="tune", training_files=training_files, **params)
    return dag


# ---------------------------------------------------------------------------------- success


@pytest.mark.parametrize("deferrable", MODES)
def test_project_by_name_is_created_once_and_the_fine_tune_completes(
    emu, request, training_file, task_logs, deferrable
):
    name = unique_name()
    dr = dags.run_dag(_fine_tune_dag(request, [training_file], project_name=name, deferrable=deferrable))

    assert dags.states(dr) == {"tune": "success"}
    result = dags.xcom(dr, "tune")
    job_id = dags.xcom(dr, "tune", key=FINE_TUNE.job_id_xcom_key)
    assert set(result) == RESULT_KEYS
    assert result["job_id"] == job_id and job_id.startswith("ft-")
    assert result["status"] == "completed"
    assert result["model_id"]  # the emulator names no output model: the fine-tune's id stands in
    assert result["model"] == MODEL
    assert result["inference_available"] is True
    (project,) = service_projects(emu, name)
    assert result["project_id"] == project["id"]
    assert dags.count(emu, "create_project") == 1
    assert dags.count(emu, "create_fine_tune") == 1
    # Every epoch's event is in the task log exactly once (from the trigger when deferred).
    for epoch in range(1, N_EPOCHS + 1):
        assert task_logs.occurrences(event_line(job_id, epoch)) == 1, (epoch, task_logs.text()[-3000:])

    # A second run with the same name finds the project rather than making another.
    again = dags.run_dag(
        _fine_tune_dag(request, [training_file], suffix="again", project_name=name, deferrable=deferrable)
    )
    assert dags.states(again) == {"tune": "success"}
    assert dags.xcom(again, "tune")["project_id"] == project["id"]
    assert dags.xcom(again, "tune")["job_id"] != job_id
    assert len(service_projects(emu, name)) == 1
    assert dags.count(emu, "create_project") == 1
    assert dags.count(emu, "create_fine_tune") == 2


@pytest.mark.parametrize("project_id_type", [int, str], ids=["int", "templated-str"])
def test_project_id_given_creates_no_project(emu, request, training_file, project_id_type):
    project = SeekrFlowHook().ensure_project(unique_name(), "Fine-tunes of this test")
    emu.clear_journal()
    dr = dags.run_dag(_fine_tune_dag(request, [training_file], project_id=project_id_type(project.id)))

    assert dags.states(dr) == {"tune": "success"}
    result = dags.xcom(dr, "tune")
    assert result["project_id"] == project.id and result["status"] == "completed"
    assert dags.count(emu, "create_project") == 0
    assert dags.count(emu, "list_projects") == 0
    assert [job.project_id for job in service_fine_tunes(training_file)] == [project.id]


def test_training_files_as_a_single_id_string(emu, request, training_file):
    dr = dags.run_dag(_fine_tune_dag(request, training_file))
    assert dags.states(dr) == {"tune": "success"}
    assert [job.id for job in service_fine_tunes(training_file)] == [dags.xcom(dr, "tune")["job_id"]]


# ---------------------------------------------------------------------------------- failure


@pytest.mark.parametrize("deferrable", MODES)
def test_failed_fine_tune_raises_with_the_error_analysis(emu, request, training_file, deferrable):
    emu.configure(fine_tune_outcome="failed")
    recorder = dags.FailureRecorder()
    dr = dags.run_dag(
        _fine_tune_dag(request, [training_file], deferrable=deferrable, on_failure_callback=recorder)
    )

    assert dags.states(dr) == {"tune": "failed"}
    error = recorder.last
    assert type(error) is SeekrFlowFineTuneFailedError
    job_id = dags.xcom(dr, "tune", key=FINE_TUNE.job_id_xcom_key)
    analysis = SeekrFlowHook().get_fine_tune(job_id).error_analysis
    assert analysis and "loss became NaN" in analysis
    assert error.error_analysis == analysis
    assert analysis in str(error)
    assert (error.job_id, error.status) == (job_id, "failed")
    assert dags.count(emu, "create_fine_tune") == 1


BAD_ARGUMENTS = [
    pytest.param({"n_epochs": 0}, "n_epochs", id="n_epochs-0"),
    pytest.param({"accel_type": "TPU9"}, "accel_type", id="bad-accel_type"),
    pytest.param({"lora_config": {"r": 8, "bias": "some"}}, "lora_config.bias", id="bad-lora-bias"),
    pytest.param({"batch_size": 0}, "batch_size", id="batch_size-0"),
    pytest.param({"batch_size": 1025}, "batch_size", id="batch_size-1025"),
    pytest.param({"training_files": []}, "training_files", id="no-training-files"),
    pytest.param({"training_files": None}, "training_files", id="training-files-none"),
    pytest.param({"project_id": "twelve"}, "project_id", id="non-integer-project_id"),
    pytest.param({"project_id": 1.5}, "project_id", id="float-project_id"),
    pytest.param({"project_name": "abc"}, "project_name", id="short-project_name"),
]


@pytest.mark.parametrize(
    ("kwargs", "fragment", "deferrable"),
    [
        *[pytest.param(*case.values, False, id=f"sync-{case.id}") for case in BAD_ARGUMENTS],
        # The checks run before the mode matters; two cases show the deferrable task makes them too.
        *[
            pytest.param(*case.values, True, id=f"deferrable-{case.id}")
            for case in BAD_ARGUMENTS
            if case.id in ("n_epochs-0", "non-integer-project_id")
        ],
    ],
)
def test_bad_arguments_fail_before_any_request(emu, request, kwargs, fragment, deferrable):
    recorder = dags.FailureRecorder()
    params = {"training_files": ["file-x"], **kwargs}
    files = params.pop("training_files")
    dr = dags.run_dag(
        _fine_tune_dag(request, files, deferrable=deferrable, on_failure_callback=recorder, **params)
    )
    assert dags.states(dr) == {"tune": "failed"}
    assert isinstance(recorder.last, SeekrFlowConfigError), repr(recorder.last)
    assert fragment in str(recorder.last)
    assert emu.journal() == []


@pytest.mark.parametrize(
    "projects",
    [
        pytest.param({"project_id": 3, "project_name": "both given"}, id="both"),
        pytest.param({}, id="neither"),
    ],
)
def test_exactly_one_of_project_id_and_project_name_at_construction(emu, projects):
    with pytest.raises(SeekrFlowConfigError, match="project_id") as raised:
        SeekrFlowFineTuneOperator(
            task_id="tune", training_files=["file-x"], model=MODEL, n_epochs=1, **projects
        )
    assert "project_name" in str(raised.value)
    assert emu.journal() == []


# ---------------------------------------------------------------------------------- timeout


@pytest.mark.parametrize("deferrable", MODES)
def test_timeout_cancels_with_post_where_the_service_refuses_put(
    emu, request, training_file, monkeypatch, deferrable
):
    emu.configure(fine_tune_duration=60)
    recorder = dags.FailureRecorder()
    with MethodRefusingProxy(emu.base_url) as proxy, monkeypatch.context() as through_proxy:
        through_proxy.setenv(
            "AIRFLOW_CONN_SEEKRFLOW_DEFAULT", connection_json(proxy.base_url, emu.api_key, max_retries=3)
        )
        dr = dags.run_dag(
            _fine_tune_dag(
                request, [training_file], deferrable=deferrable, timeout=1.5, on_failure_callback=recorder
            )
        )

    assert dags.states(dr) == {"tune": "failed"}
    assert isinstance(recorder.last, SeekrFlowFineTuneTimeoutError), repr(recorder.last)
    job_id = dags.xcom(dr, "tune", key=FINE_TUNE.job_id_xcom_key)
    path = f"/v1/flow/fine-tunes/{job_id}/cancel"
    assert [r for r in proxy.requests if r[1] == path] == [("PUT", path, 405), ("POST", path, 200)]
    assert dags.count(emu, "cancel_fine_tune_put") == 0
    assert dags.count(emu, "cancel_fine_tune_post") == 1
    assert fine_tune_status(job_id) == "cancelled"


# ------------------------------------------------------------------------- lost answer, retry


def test_lost_answer_on_project_create_makes_one_project(emu, request, training_file, task_logs):
    name = unique_name()
    emu.set_faults([{"route": "create_project", "kind": "drop_after", "count": 1}])
    dr = dags.run_dag(_fine_tune_dag(request, [training_file], project_name=name))

    assert dags.states(dr) == {"tune": "success"}
    (project,) = service_projects(emu, name)
    assert dags.xcom(dr, "tune")["project_id"] == project["id"]
    assert dags.count(emu, "create_project") == 1
    assert "), but the service did it; using " in task_logs.text()


@pytest.mark.skipif(
    not dags.AIRFLOW_V3_3, reason="a retry finds its job through the task state store (Airflow 3.3+)"
)
def test_a_retry_that_cannot_ask_the_service_creates_nothing(emu, request, training_file, task_logs):
    # The lookup keeps failing through the first retry: that retry fails rather than create a second
    # fine-tune, and the one after finds the first.
    emu.set_faults(
        [
            {"route": "create_fine_tune", "kind": "drop_after", "count": 1},
            {"route": "list_fine_tunes", "kind": "503", "skip": 1, "count": 2},
        ]
    )
    recorder = dags.FailureRecorder()
    dr = dags.run_dag(
        _fine_tune_dag(
            request,
            [training_file],
            hook_params={"max_retries": 0},
            retries=2,
            retry_delay=timedelta(seconds=0),
            on_retry_callback=recorder,
        )
    )

    assert dags.states(dr) == {"tune": "success"}
    assert len(recorder.errors) == 2
    assert "cannot be checked now" in str(recorder.errors[1])
    (job,) = service_fine_tunes(training_file)
    assert dags.count(emu, "create_fine_tune") == 1
    assert dags.xcom(dr, "tune")["job_id"] == job.id
