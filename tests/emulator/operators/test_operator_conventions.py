"""Airflow conventions of the job operators: templated connection, hook_params, do_xcom_push, durable."""

from __future__ import annotations

from datetime import timedelta

import pytest
from airflow.providers.common.compat.sdk import DAG

from airflow_provider_seekrflow.assets import FINE_TUNE_FILE_XCOM_KEY
from airflow_provider_seekrflow.exceptions import SeekrFlowServerError
from airflow_provider_seekrflow.jobs.alignment import ALIGNMENT
from airflow_provider_seekrflow.operators.alignment import SeekrFlowGenerateAlignmentOperator
from tests.conftest import connection_json
from tests.emulator.operators import seekrflow_dag_support as dags

MODES = [pytest.param(False, id="worker"), pytest.param(True, id="deferred")]


def _dag(request, files, **kwargs):
    with DAG(
        dags.dag_id_for(request),
        schedule=None,
        start_date=dags.START_DATE,
        params={"conn": "seekrflow_default"},
    ) as dag:
        SeekrFlowGenerateAlignmentOperator(
            task_id="generate",
            instructions="Teach the returns policy.",
            files=files,
            **{**dags.FAST_POLL, **kwargs},
        )
    return dag


def test_connection_id_is_templated(emu, request, tmp_path, monkeypatch):
    monkeypatch.setenv("AIRFLOW_CONN_SEEKRFLOW_TEAM_B", connection_json(emu.base_url, emu.api_key))
    file_id = dags.upload_alignment_document(tmp_path)
    assert "seekrflow_conn_id" in SeekrFlowGenerateAlignmentOperator.template_fields
    dr = dags.run_dag(_dag(request, [file_id], seekrflow_conn_id="{{ 'seekrflow_team_b' }}"))
    assert dags.states(dr) == {"generate": "success"}


@pytest.mark.parametrize("deferrable", MODES)
def test_hook_params_reach_the_hook(emu, request, tmp_path, deferrable):
    file_id = dags.upload_alignment_document(tmp_path)
    emu.clear_journal()
    # One 503 on generate: the connection's 3 retries would absorb it; hook_params turn them off.
    emu.set_faults([{"route": "alignment_generate", "kind": "503", "count": 1}])
    failures = dags.FailureRecorder()
    dr = dags.run_dag(
        _dag(
            request,
            [file_id],
            deferrable=deferrable,
            hook_params={"max_retries": 0},
            on_failure_callback=failures,
        )
    )
    assert dags.states(dr) == {"generate": "failed"}
    assert isinstance(failures.last, SeekrFlowServerError)
    assert dags.count(emu, "alignment_generate") == 1


def test_hook_params_reach_the_trigger():
    operator = SeekrFlowGenerateAlignmentOperator(
        task_id="generate", instructions="x", files=["f"], hook_params={"timeout": 9.0, "max_retries": 1}
    )
    assert operator.hook.hook_params == {"timeout": 9.0, "max_retries": 1}
    _, kwargs = operator.build_trigger("al-1", None).serialize()
    assert kwargs["hook_params"] == {"timeout": 9.0, "max_retries": 1}


@pytest.mark.parametrize("deferrable", MODES)
def test_extra_xcoms_follow_do_xcom_push(emu, request, tmp_path, deferrable):
    file_id = dags.upload_alignment_document(tmp_path)
    dr = dags.run_dag(_dag(request, [file_id], deferrable=deferrable, do_xcom_push=False))
    assert dags.states(dr) == {"generate": "success"}
    assert dags.count(emu, "alignment_generate") == 1
    for key in ("return_value", ALIGNMENT.job_id_xcom_key, FINE_TUNE_FILE_XCOM_KEY):
        assert dags.xcom(dr, "generate", key=key) is None


class CrashOnceAfterSubmit(SeekrFlowGenerateAlignmentOperator):
    """Test double of a worker crash: the first try dies right after the job was submitted."""

    def poll_until_complete(self, job_id, context):
        if context["ti"].try_number == 1:
            raise RuntimeError(f"simulated worker crash while waiting for {job_id}")
        return super().poll_until_complete(job_id, context)


@pytest.mark.skipif(not dags.AIRFLOW_V3_3, reason="the task state store arrives in Airflow 3.3")
@pytest.mark.parametrize(("durable", "generates"), [(True, 1), (False, 2)])
def test_durable_decides_whether_a_retry_reattaches(emu, request, tmp_path, durable, generates):
    emu.configure(job_duration=2)
    file_id = dags.upload_alignment_document(tmp_path)
    emu.clear_journal()
    with DAG(dags.dag_id_for(request), schedule=None, start_date=dags.START_DATE) as dag:
        CrashOnceAfterSubmit(
            task_id="generate",
            instructions="Teach the returns policy.",
            files=[file_id],
            durable=durable,
            retries=1,
            retry_delay=timedelta(seconds=0),
            **dags.FAST_POLL,
        )
    dr = dags.run_dag(dag)
    assert dags.states(dr) == {"generate": "success"}
    assert dags.count(emu, "alignment_generate") == generates
