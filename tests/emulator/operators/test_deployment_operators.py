"""What only the deployment operators and sensor do, run by Airflow (``dag.test()``) against the emulator.

The contract suites (``job_kinds.DEPLOYMENT``) cover what every kind does: one create, reattach,
lost answers, each failure, timeout, cancel on kill. Here: a fine-tune's model deployed from the
fine-tune task's result, reuse of a deployment of the same name and model, promote and demote
(out of turn, idempotent), and that a kill or timeout demotes only what the task itself started.
"""

from __future__ import annotations

import time
import uuid
from datetime import timedelta

import pytest
from airflow.providers.common.compat.sdk import DAG

from airflow_provider_seekrflow.client import chat, deployments
from airflow_provider_seekrflow.client.endpoints import Call
from airflow_provider_seekrflow.hooks.seekrflow import SeekrFlowHook
from airflow_provider_seekrflow.jobs.deployment import (
    SeekrFlowDeploymentFailedError,
    SeekrFlowDeploymentTimeoutError,
)
from airflow_provider_seekrflow.operators.deployment import (
    SeekrFlowDemoteDeploymentOperator,
    SeekrFlowDeployModelOperator,
    SeekrFlowPromoteDeploymentOperator,
)
from airflow_provider_seekrflow.operators.fine_tune import SeekrFlowFineTuneOperator
from airflow_provider_seekrflow.sensors.deployment import SeekrFlowDeploymentSensor
from tests.emulator.operators import seekrflow_dag_support as dags
from tests.emulator.operators.job_kinds import DEPLOYMENT as KIND
from tests.emulator.operators.job_kinds import MODEL

MODES = [pytest.param(False, id="worker"), pytest.param(True, id="deferred")]
BASE = {"model_id": MODEL, "model_type": "Base Model"}


def _hook() -> SeekrFlowHook:
    return SeekrFlowHook()


def _name() -> str:
    return f"deploy test {uuid.uuid4().hex[:10]}"


def _create(name: str, model_id: str = MODEL, model_type: str = "Base Model") -> str:
    """Create a deployment through the hook, as another DAG or a person would."""
    body = deployments.create_request(
        name=name, model_id=model_id, model_type=model_type, description="Made by the deployment tests"
    )
    return str(_hook().call(deployments.create(body)).id)


def _status(deployment_id: str) -> str:
    return _hook().call(deployments.get(deployment_id)).status


def _until(deployment_id: str, status: str, limit: float = 20.0) -> None:
    deadline = time.monotonic() + limit
    while _status(deployment_id) != status:
        assert time.monotonic() < deadline, f"{deployment_id} never became {status}"
        time.sleep(0.2)


def _dag(request, operator_class, suffix="", **kwargs):
    # Only the operators that wait take poll intervals.
    fast = (
        dags.FAST_POLL
        if operator_class in (SeekrFlowDeployModelOperator, SeekrFlowPromoteDeploymentOperator)
        else {}
    )
    with DAG(dags.dag_id_for(request, suffix), schedule=None, start_date=dags.START_DATE) as dag:
        operator_class(task_id="task", **{**fast, **kwargs})
    return dag


def _killed_by_execution_timeout(dag):
    """Run ``dag`` whose task Airflow kills (execution_timeout); return the DagRun on both majors."""
    try:
        return dags.run_dag(dag)
    except BaseException as err:  # Airflow 2's AirflowTaskTimeout is a BaseException dag.test() lets out
        if dags.AIRFLOW_V3 or "Timeout" not in type(err).__name__:
            raise
        from airflow.models.dagrun import DagRun

        (dr,) = DagRun.find(dag_id=dag.dag_id)
        return dr


# ------------------------------------------------------------------------ a fine-tune's model


def test_a_fine_tunes_model_is_deployed_from_the_fine_tune_tasks_result(emu, request, tmp_path, task_logs):
    emu.configure(fine_tune_duration=1.0)
    hook = _hook()
    file_id = hook.upload_file(dags.write(tmp_path / "pairs.jsonl", dags.CHAT_LINE * 3), "fine-tune").id
    project = hook.ensure_project(f"deploy project {uuid.uuid4().hex[:8]}", "Deployment tests")
    name = _name()
    with DAG(dags.dag_id_for(request), schedule=None, start_date=dags.START_DATE) as dag:
        fine_tune = SeekrFlowFineTuneOperator(
            task_id="fine_tune",
            training_files=[file_id],
            model=MODEL,
            n_epochs=1,
            project_id=project.id,
            **dags.FAST_POLL,
        )
        deploy = SeekrFlowDeployModelOperator(
            task_id="deploy",
            model_id="{{ ti.xcom_pull(task_ids='fine_tune')['model_id'] }}",
            name=name,
            n_instances=2,
            **dags.FAST_POLL,
        )
        fine_tune >> deploy
    dr = dags.run_dag(dag)

    assert dags.states(dr) == {"fine_tune": "success", "deploy": "success"}
    model_id = dags.xcom(dr, "fine_tune")["model_id"]
    result = dags.xcom(dr, "deploy")
    assert result == {
        "job_id": dags.xcom(dr, "deploy", key="deployment_id"),
        "status": "Active",
        "model_id": model_id,
        "model_type": "Fine-tuned Run",
        "n_instances": 2,
        "total_input_tokens": 0,
        "total_output_tokens": 0,
        "usage": {"input_tokens": 0, "output_tokens": 0},
    }
    assert dags.count(emu, "create_deployment") == 1
    assert (
        f"Deployment {result['job_id']} is Active: Fine-tuned Run {model_id} on 2 instance(s); "
        "0 tokens in, 0 out so far" in task_logs.text()
    )


def test_the_token_counters_reach_the_result(emu, request):
    name = _name()
    deployment_id = _create(name)
    _until(deployment_id, "Active")
    asked = {"model": MODEL, "messages": [{"role": "user", "content": "How do returns work?"}]}
    _hook().call(Call(chat.CHAT_COMPLETION, dict, json=asked))
    dr = dags.run_dag(
        _dag(request, SeekrFlowDeploymentSensor, deployment_id=deployment_id, poke_interval=0.5)
    )
    result = dags.xcom(dr, "task")
    assert result["job_id"] == deployment_id
    assert result["total_input_tokens"] > 0 and result["total_output_tokens"] > 0


# ------------------------------------------------------------------------------------ reuse


@pytest.mark.parametrize("deferrable", MODES)
def test_a_deployment_of_the_same_name_and_model_is_reused_never_a_second_made(
    emu, request, task_logs, deferrable
):
    name = _name()
    first = dags.run_dag(_dag(request, SeekrFlowDeployModelOperator, "first", name=name, **BASE))
    second = dags.run_dag(
        _dag(request, SeekrFlowDeployModelOperator, "second", name=name, deferrable=deferrable, **BASE)
    )

    deployment_id = dags.xcom(first, "task")["job_id"]
    assert dags.xcom(second, "task")["job_id"] == deployment_id
    assert dags.xcom(second, "task", key="deployment_id") == deployment_id
    assert dags.count(emu, "create_deployment") == 1
    assert f"Reusing deployment {deployment_id}" in task_logs.text()
    assert emu.journal(route="demote_deployment") == []


def test_an_inactive_deployment_of_the_same_name_is_promoted_not_duplicated(emu, request):
    name = _name()
    deployment_id = _create(name)
    _hook().call(deployments.demote(deployment_id))
    emu.clear_journal()
    dr = dags.run_dag(_dag(request, SeekrFlowDeployModelOperator, name=name, **BASE))

    assert dags.states(dr) == {"task": "success"}
    assert dags.xcom(dr, "task")["job_id"] == deployment_id
    assert (dags.count(emu, "create_deployment"), dags.count(emu, "promote_deployment")) == (0, 1)
    assert _status(deployment_id) == "Active"


def test_a_failed_deployment_of_the_same_name_is_not_reused(emu, request):
    name = _name()
    emu.configure(deployment_outcome="Failed", deployment_duration=0)
    failed_id = _create(name)
    emu.configure(deployment_outcome="Active", deployment_duration=1)
    dr = dags.run_dag(_dag(request, SeekrFlowDeployModelOperator, name=name, **BASE))

    assert dags.states(dr) == {"task": "success"}
    assert dags.xcom(dr, "task")["job_id"] != failed_id
    assert dags.count(emu, "create_deployment") == 2


class _RivalCreatesMeanwhile(SeekrFlowDeployModelOperator):
    """Another task's create of the same name and model lands between this task's listing and its own create."""

    def snapshot_before_submit(self, context):
        snapshot = super().snapshot_before_submit(context)
        _create(self.name)
        return snapshot


def test_two_creates_at_once_settle_on_the_oldest_and_the_newer_is_demoted(emu, request, task_logs):
    name = _name()
    dr = dags.run_dag(_dag(request, _RivalCreatesMeanwhile, name=name, **BASE))

    made = [d for d in _hook().run(deployments.list_all())[0] if d.name == name]
    rival, own = sorted(made, key=lambda d: d.created_at)
    assert dags.states(dr) == {"task": "success"}
    assert dags.xcom(dr, "task")["job_id"] == rival.id
    assert dags.count(emu, "create_deployment") == 2
    assert _status(own.id) == "Inactive"
    assert _status(rival.id) == "Active"
    assert f"demoting {own.id} and reusing {rival.id}" in task_logs.text()


def test_reuse_existing_false_always_creates(emu, request):
    name = _name()
    _create(name)
    dr = dags.run_dag(_dag(request, SeekrFlowDeployModelOperator, name=name, reuse_existing=False, **BASE))
    assert dags.states(dr) == {"task": "success"}
    assert dags.count(emu, "create_deployment") == 2


def test_a_bad_request_fails_before_anything_is_sent(emu, request):
    recorder = dags.FailureRecorder()
    dr = dags.run_dag(
        _dag(request, SeekrFlowDeployModelOperator, name="tiny", on_failure_callback=recorder, **BASE)
    )
    assert dags.states(dr) == {"task": "failed"}
    assert str(recorder.last).startswith("name: ")
    assert emu.journal() == []


# -------------------------------------------------------------- what a kill or timeout demotes


@pytest.mark.parametrize("deferrable", MODES)
def test_a_kill_while_pending_demotes_the_deployment_this_task_created_once(emu, request, deferrable):
    emu.configure(deployment_duration=60)
    dag = _dag(
        request,
        SeekrFlowDeployModelOperator,
        name=_name(),
        deferrable=deferrable,
        execution_timeout=timedelta(seconds=4),
        **BASE,
    )
    dr = _killed_by_execution_timeout(dag)

    assert dags.states(dr) == {"task": "failed"}
    deployment_id = dags.xcom(dr, "task", key="deployment_id")
    demotes = emu.journal(route="demote_deployment")
    assert [(deployment_id in entry["path"], entry["status"]) for entry in demotes] == [(True, 200)]
    assert _status(deployment_id) == "Inactive"
    assert dags.count(emu, "create_deployment") == 1


@pytest.mark.parametrize("deferrable", MODES)
def test_a_timeout_never_demotes_a_reused_deployment_another_party_started(emu, request, deferrable):
    emu.configure(deployment_duration=60)
    name = _name()
    theirs = _create(name)
    emu.clear_journal()
    recorder = dags.FailureRecorder()
    dr = dags.run_dag(
        _dag(
            request,
            SeekrFlowDeployModelOperator,
            name=name,
            deferrable=deferrable,
            timeout=2.0,
            on_failure_callback=recorder,
            **BASE,
        )
    )

    assert dags.states(dr) == {"task": "failed"}
    assert isinstance(recorder.last, SeekrFlowDeploymentTimeoutError), repr(recorder.last)
    assert dags.xcom(dr, "task", key="deployment_id") == theirs
    assert emu.journal(route="demote_deployment") == []
    assert _status(theirs) == "Pending"
    assert dags.count(emu, "create_deployment") == 0


def test_a_kill_never_demotes_a_reused_active_deployment(emu, request):
    name = _name()
    theirs = _create(name)
    _until(theirs, "Active")
    dr = dags.run_dag(_dag(request, SeekrFlowDeployModelOperator, name=name, **BASE))
    assert dags.xcom(dr, "task")["job_id"] == theirs
    # The task's operator, as Airflow holds it when it kills the task: it reused the deployment.
    operator = SeekrFlowDeployModelOperator(task_id="again", name=name, **BASE)
    operator.job_id = operator.reused_id = theirs
    operator.on_kill()
    assert emu.journal(route="demote_deployment") == []
    assert _status(theirs) == "Active"


# ---------------------------------------------------------------------------- promote, demote


@pytest.mark.parametrize("deferrable", MODES)
def test_promote_starts_an_inactive_deployment_and_waits_until_active(emu, request, deferrable):
    deployment_id = _create(_name())
    _hook().call(deployments.demote(deployment_id))
    emu.clear_journal()
    dr = dags.run_dag(
        _dag(request, SeekrFlowPromoteDeploymentOperator, deployment_id=deployment_id, deferrable=deferrable)
    )
    assert dags.states(dr) == {"task": "success"}
    assert (dags.xcom(dr, "task")["job_id"], dags.xcom(dr, "task")["status"]) == (deployment_id, "Active")
    assert dags.count(emu, "promote_deployment") == 1


def test_promote_of_an_active_deployment_sends_nothing_and_succeeds(emu, request, task_logs):
    deployment_id = _create(_name())
    _until(deployment_id, "Active")
    emu.clear_journal()
    dr = dags.run_dag(
        _dag(request, SeekrFlowPromoteDeploymentOperator, deployment_id={"job_id": deployment_id})
    )
    assert dags.states(dr) == {"task": "success"}
    assert dags.count(emu, "promote_deployment") == 0
    assert f"Deployment {deployment_id} is already Active: nothing to promote" in task_logs.text()


def test_promote_of_a_failed_deployment_fails_with_its_reason(emu, request):
    emu.configure(deployment_outcome="Failed", deployment_duration=0, deployment_status_message="GPU lost")
    deployment_id = _create(_name())
    recorder = dags.FailureRecorder()
    dr = dags.run_dag(
        _dag(
            request,
            SeekrFlowPromoteDeploymentOperator,
            deployment_id=deployment_id,
            on_failure_callback=recorder,
        )
    )
    assert dags.states(dr) == {"task": "failed"}
    assert type(recorder.last) is SeekrFlowDeploymentFailedError
    assert deployment_id in str(recorder.last) and "GPU lost" in str(recorder.last)
    assert dags.count(emu, "promote_deployment") == 0


def test_a_kill_while_a_promote_is_pending_demotes_it_once(emu, request):
    deployment_id = _create(_name())
    _hook().call(deployments.demote(deployment_id))
    emu.configure(deployment_duration=60)
    emu.clear_journal()
    dag = _dag(
        request,
        SeekrFlowPromoteDeploymentOperator,
        deployment_id=deployment_id,
        execution_timeout=timedelta(seconds=4),
    )
    dr = _killed_by_execution_timeout(dag)
    assert dags.states(dr) == {"task": "failed"}
    assert (dags.count(emu, "promote_deployment"), dags.count(emu, "demote_deployment")) == (1, 1)
    assert _status(deployment_id) == "Inactive"


def test_demote_stops_a_deployment_and_is_idempotent(emu, request, task_logs):
    deployment_id = _create(_name())
    _until(deployment_id, "Active")
    emu.clear_journal()
    first = dags.run_dag(
        _dag(request, SeekrFlowDemoteDeploymentOperator, "first", deployment_id=deployment_id)
    )
    second = dags.run_dag(
        _dag(request, SeekrFlowDemoteDeploymentOperator, "second", deployment_id=deployment_id)
    )

    assert dags.states(first) == dags.states(second) == {"task": "success"}
    assert dags.xcom(first, "task")["status"] == dags.xcom(second, "task")["status"] == "Inactive"
    # The second demote is out of turn (409): an already Inactive deployment is success.
    assert [entry["status"] for entry in emu.journal(route="demote_deployment")] == [200, 409]
    assert f"Deployment {deployment_id} is already Inactive: nothing to demote" in task_logs.text()


def test_demote_with_missing_ok_and_no_deployment_sends_nothing(emu, request):
    dr = dags.run_dag(_dag(request, SeekrFlowDemoteDeploymentOperator, deployment_id=None, missing_ok=True))
    assert dags.states(dr) == {"task": "success"}
    assert emu.journal() == []


def test_demote_of_an_unknown_deployment_fails(emu, request):
    dr = dags.run_dag(_dag(request, SeekrFlowDemoteDeploymentOperator, deployment_id="dep-0000-not-there"))
    assert dags.states(dr) == {"task": "failed"}


# ---------------------------------------------------------------------------------- the sensor


def test_the_sensor_takes_the_deploy_tasks_result_as_deployment_id(emu, request):
    with DAG(dags.dag_id_for(request), schedule=None, start_date=dags.START_DATE) as dag:
        deploy = SeekrFlowDeployModelOperator(
            task_id="deploy", name=_name(), wait_for_completion=False, **{**BASE, **dags.FAST_POLL}
        )
        SeekrFlowDeploymentSensor(
            task_id="wait", deployment_id=deploy.output, poke_interval=0.5, mode="reschedule"
        )
    dr = dags.run_dag(dag)
    assert dags.states(dr) == {"deploy": "success", "wait": "success"}
    assert dags.xcom(dr, "deploy")["status"] == "Pending"
    assert dags.xcom(dr, "wait")["status"] == "Active"
    assert set(dags.xcom(dr, "wait")) == KIND.result_keys


def test_the_sensor_takes_exactly_one_id():
    from airflow_provider_seekrflow.exceptions import SeekrFlowConfigError

    with pytest.raises(SeekrFlowConfigError, match="exactly one"):
        SeekrFlowDeploymentSensor(task_id="wait", deployment_id="dep-1", job_id="dep-1")
    with pytest.raises(SeekrFlowConfigError, match="exactly one"):
        SeekrFlowDeploymentSensor(task_id="wait")
