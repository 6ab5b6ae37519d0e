"""The operator extra links, run by Airflow (``dag.test()``) against the emulator.

After a run, each task's link (``operator_extra_links[0].get_link``, what Airflow 2's webserver
calls; on Airflow 3 also the ``_link_*`` XCom its task runner stores for the UI) is the page of the
task's own object; a deferrable task's link is persisted before it defers.
"""

from __future__ import annotations

import uuid
from typing import Any

import pytest
from airflow.providers.common.compat.sdk import DAG

from airflow_provider_seekrflow.hooks.seekrflow import SeekrFlowHook
from airflow_provider_seekrflow.links import SeekrFlowLink
from airflow_provider_seekrflow.operators.data_job import SeekrFlowDataJobOperator
from airflow_provider_seekrflow.operators.deployment import SeekrFlowDeployModelOperator
from airflow_provider_seekrflow.operators.files import SeekrFlowUploadFileOperator
from airflow_provider_seekrflow.operators.fine_tune import SeekrFlowFineTuneOperator
from airflow_provider_seekrflow.sensors.fine_tune import SeekrFlowFineTuneSensor
from tests.conftest import connection_json
from tests.emulator.operators import seekrflow_dag_support as dags
from tests.emulator.operators.job_kinds import MODEL

CONSOLE = "https://console.example.test/app/{kind}/{id}?from=airflow"
#: The link each deferrable task had persisted when it called ``defer``, by task id.
AT_DEFERRAL: dict[str, Any] = {}


class _RecordsLinkAtDeferral:
    """Mixed into an operator: keeps what its link's XCom holds at the moment it defers."""

    def execute(self, context: Any, **kwargs: Any) -> Any:
        # (Airflow 2 hands execute a sentinel keyword of its own.)
        self._context = context
        return super().execute(context, **kwargs)  # type: ignore[misc]

    def defer(self, **kwargs: Any) -> Any:
        context = getattr(self, "_context", None)
        if context is not None and self.task_id not in AT_DEFERRAL:  # type: ignore[attr-defined]
            link = self.operator_extra_links[0]  # type: ignore[attr-defined]
            AT_DEFERRAL[self.task_id] = context["ti"].xcom_pull(  # type: ignore[attr-defined]
                task_ids=self.task_id,  # type: ignore[attr-defined]
                key=link.xcom_key_of(),
            )
        return super().defer(**kwargs)  # type: ignore[misc]


class RecordingFineTune(_RecordsLinkAtDeferral, SeekrFlowFineTuneOperator):
    """The fine-tune operator, keeping its link as it was when it deferred."""


class RecordingDataJob(_RecordsLinkAtDeferral, SeekrFlowDataJobOperator):
    """The data job operator, keeping its link as it was when it deferred."""


def link_of(dr: Any, dag: Any, task_id: str) -> str:
    """Return the task's link after the run, as Airflow computes it for the task's page."""
    ti = dags.task_instances(dr)[task_id]
    task = dag.get_task(task_id)
    (link,) = task.operator_extra_links
    if dags.AIRFLOW_V3:
        # Airflow 3's UI reads what the task runner stored at the task's end (``get_link`` run on
        # the worker, where the Task SDK's XCom reads through the supervisor).
        # (Called here, outside a task, the Task SDK's XCom has no supervisor to ask.)
        return str(dags.xcom(dr, task_id, key=link.xcom_key))
    return str(link.get_link(task, ti_key=ti.key))


def persisted(dr: Any, task_id: str, link: type[SeekrFlowLink]) -> Any:
    """Return the link's parameters the task persisted."""
    return dags.xcom(dr, task_id, key=link.xcom_key_of())


@pytest.fixture
def console(emu, monkeypatch):
    """``seekrflow_default`` on the emulator with a ``console_url`` template."""
    monkeypatch.setenv(
        "AIRFLOW_CONN_SEEKRFLOW_DEFAULT",
        connection_json(emu.base_url, emu.api_key, max_retries=3, console_url=CONSOLE),
    )
    emu.configure(job_duration=1.0, fine_tune_duration=1.0)
    AT_DEFERRAL.clear()
    return emu


def _url(page: str, object_id: str) -> str:
    return CONSOLE.format(kind=page, id=object_id)


def test_each_task_links_to_its_own_object_persisted_before_it_defers(console, request, tmp_path):
    hook = SeekrFlowHook()
    document = hook.upload_file(dags.document(tmp_path, "returns.md"), "alignment").id
    training = hook.upload_file(dags.write(tmp_path / "pairs.jsonl", dags.CHAT_LINE * 3), "fine-tune").id
    files = [dags.document(tmp_path, "first.md"), dags.document(tmp_path, "second.md")]
    with DAG(dags.dag_id_for(request), schedule=None, start_date=dags.START_DATE) as dag:
        SeekrFlowUploadFileOperator(task_id="upload", file_path=[str(path) for path in files])
        RecordingDataJob(
            task_id="data_job",
            files=[document],
            system_prompt="You answer questions about returns, briefly.",
            instructions="Teach the returns policy.",
            deferrable=True,
            **dags.FAST_POLL,
        )
        fine_tune = RecordingFineTune(
            task_id="fine_tune",
            training_files=[training],
            model=MODEL,
            n_epochs=1,
            project_name=f"links {uuid.uuid4().hex[:10]}",
            deferrable=True,
            **dags.FAST_POLL,
        )
        SeekrFlowFineTuneSensor(task_id="wait", job_id=fine_tune.output, poke_interval=0.5)
        SeekrFlowDeployModelOperator(
            task_id="deploy",
            model_id=MODEL,
            model_type="Base Model",
            name=f"links {uuid.uuid4().hex[:10]}",
            **dags.FAST_POLL,
        )
    dr = dags.run_dag(dag)

    assert set(dags.states(dr).values()) == {"success"}, dags.states(dr)
    first_file = dags.xcom(dr, "upload")[0]
    fine_tune_id = dags.xcom(dr, "fine_tune", key="fine_tune_id")
    expected = {
        "upload": _url("files", first_file),  # an upload of several files links to the first
        "data_job": _url("data-jobs", dags.xcom(dr, "data_job", key="data_job_id")),
        "fine_tune": _url("fine-tunes", fine_tune_id),
        "wait": _url("fine-tunes", fine_tune_id),
        "deploy": _url("deployments", dags.xcom(dr, "deploy", key="deployment_id")),
    }
    assert {task_id: link_of(dr, dag, task_id) for task_id in expected} == expected
    # Persisted before the deferral: the page links to the job while the task waits on it.
    for task_id in ("data_job", "fine_tune"):
        link = dag.get_task(task_id).operator_extra_links[0]
        assert AT_DEFERRAL[task_id] == persisted(dr, task_id, type(link)), task_id
        assert AT_DEFERRAL[task_id]["url"] == expected[task_id]
    # Only the link's parameters: no API key anywhere in them.
    for task_id in expected:
        link = dag.get_task(task_id).operator_extra_links[0]
        value = persisted(dr, task_id, type(link))
        assert set(value) == {"kind", "id", "url"} and console.api_key not in str(value)


def test_without_console_url_the_link_is_the_api_hosts_page(emu, request, tmp_path):
    with DAG(dags.dag_id_for(request), schedule=None, start_date=dags.START_DATE) as dag:
        SeekrFlowUploadFileOperator(task_id="upload", file_path=str(dags.document(tmp_path, "only.md")))
    dr = dags.run_dag(dag)

    assert dags.states(dr) == {"upload": "success"}
    assert link_of(dr, dag, "upload") == f"{emu.base_url}/files/{dags.xcom(dr, 'upload')}"


def test_a_bad_console_url_fails_the_task_before_anything_is_sent(emu, request, monkeypatch, tmp_path):
    monkeypatch.setenv(
        "AIRFLOW_CONN_SEEKRFLOW_DEFAULT",
        connection_json(emu.base_url, emu.api_key, console_url="https://console.example.test/{password}"),
    )
    emu.clear_journal()
    with DAG(dags.dag_id_for(request), schedule=None, start_date=dags.START_DATE) as dag:
        SeekrFlowUploadFileOperator(task_id="upload", file_path=str(dags.document(tmp_path, "never.md")))
    dr = dags.run_dag(dag)

    assert dags.states(dr) == {"upload": "failed"}
    assert emu.journal() == []
