"""
The ``seekrflow_usage`` run facet in what the operators' ``get_openlineage_facets_on_complete`` returns.

A fine-tune, a deployment of its model and an evaluation of that model run through ``dag.test()``
against the emulator, on the worker and deferred. Each operator asks for its lineage as it finishes
(the instance that ran, or that resumed from the triggerer, is the one Airflow's listener asks), and
the facet must hold the same usage as the task's result.
"""

from __future__ import annotations

import json
import uuid
from pathlib import Path
from typing import Any

import pytest
from airflow.providers.common.compat.sdk import DAG

from airflow_provider_seekrflow.hooks.seekrflow import SeekrFlowHook
from airflow_provider_seekrflow.operators.deployment import SeekrFlowDeployModelOperator
from airflow_provider_seekrflow.operators.evaluate import SeekrFlowEvaluateModelOperator
from airflow_provider_seekrflow.operators.fine_tune import SeekrFlowFineTuneOperator
from tests.emulator.emulator.serving_helpers import training_jsonl
from tests.emulator.operators.seekrflow_dag_support import (
    FAST_POLL,
    START_DATE,
    dag_id_for,
    run_dag,
    states,
    write,
    xcom,
)

pytest.importorskip(
    "airflow.providers.openlineage", reason="the test extra installs the OpenLineage provider"
)

PAIRS = (("What is the return window?", "Thirty days."), ("Who pays return shipping?", "The customer does."))
#: task_id -> the OperatorLineage its operator returned as it finished.
LINEAGE: dict[str, Any] = {}


class _Recorded:
    """Asks for the operator's lineage the moment its result is kept, as the listener does when the task ends."""

    def keep_result(self, result: Any) -> Any:
        result = super().keep_result(result)  # type: ignore[misc]
        LINEAGE[self.task_id] = self.get_openlineage_facets_on_complete(None)  # type: ignore[attr-defined]
        return result


class RecordedFineTune(_Recorded, SeekrFlowFineTuneOperator):
    pass


class RecordedDeploy(_Recorded, SeekrFlowDeployModelOperator):
    pass


class RecordedEvaluate(SeekrFlowEvaluateModelOperator):
    def execute(self, context: Any) -> Any:
        manifest = super().execute(context)
        LINEAGE[self.task_id] = self.get_openlineage_facets_on_complete(None)
        return manifest


def _sent(facet: Any) -> dict[str, Any]:
    """The facet as a lineage backend receives it, without what OpenLineage adds to every facet."""
    from openlineage.client.serde import Serde

    return {key: value for key, value in json.loads(Serde.to_json(facet)).items() if not key.startswith("_")}


@pytest.mark.parametrize("deferrable", [False, True], ids=["worker", "deferred"])
def test_fine_tune_deployment_and_evaluation_report_their_usage_facet(
    emu, request, tmp_path: Path, deferrable
):
    emu.configure(fine_tune_duration=1, deployment_duration=0.5)
    LINEAGE.clear()
    hook = SeekrFlowHook()
    training = hook.upload_file(write(tmp_path / "pairs.jsonl", training_jsonl(PAIRS)), "fine-tune").id
    prompts = write(
        tmp_path / "prompts.jsonl",
        "".join(
            json.dumps({"messages": [{"role": "user", "content": q}], "expected": a}) + "\n" for q, a in PAIRS
        ),
    )
    with DAG(dag_id_for(request), schedule=None, start_date=START_DATE) as dag:
        fine_tune = RecordedFineTune(
            task_id="fine_tune",
            project_name=f"usage facet {uuid.uuid4().hex[:8]}",
            training_files=[training],
            model="meta-llama/Llama-3.1-8B",
            n_epochs=1,
            accel_type="A100",
            n_accel=2,
            deferrable=deferrable,
            **FAST_POLL,
        )
        deploy = RecordedDeploy(
            task_id="deploy",
            model_id="{{ ti.xcom_pull(task_ids='fine_tune')['model_id'] }}",
            name=f"usage facet {uuid.uuid4().hex[:8]}",
            deferrable=deferrable,
            **FAST_POLL,
        )
        evaluate = RecordedEvaluate(
            task_id="evaluate",
            model="{{ ti.xcom_pull(task_ids='deploy')['model_id'] }}",
            prompts=str(prompts),
            answers=str(tmp_path / "answers.jsonl"),
            pass_threshold=1.0,
        )
        fine_tune >> deploy >> evaluate
    dr = run_dag(dag)
    assert states(dr) == dict.fromkeys(("fine_tune", "deploy", "evaluate"), "success")

    trained = xcom(dr, "fine_tune")
    assert trained["usage"]["accelerator_type"] == "A100" and trained["usage"]["accelerator_count"] == 2
    assert trained["usage"]["wall_seconds"] == pytest.approx(1.0, abs=0.01)
    assert _sent(LINEAGE["fine_tune"].run_facets["seekrflow_usage"]) == {
        "kind": "fine_tune",
        **trained["usage"],
    }

    deployed = xcom(dr, "deploy")
    assert _sent(LINEAGE["deploy"].run_facets["seekrflow_usage"]) == {
        "kind": "deployment",
        **deployed["usage"],
    }
    assert [dataset.name for dataset in LINEAGE["deploy"].inputs] == [f"models/{trained['model_id']}"]

    manifest = xcom(dr, "evaluate")
    words = sum(len(answer.split()) for _, answer in PAIRS)
    assert manifest["usage"]["output_tokens"] == words and manifest["usage"]["input_tokens"] > 0
    assert _sent(LINEAGE["evaluate"].run_facets["seekrflow_usage"]) == {
        "kind": "evaluation",
        **manifest["usage"],
    }
