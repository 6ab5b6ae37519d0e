"""
Run the lineage test's pipeline with ``dag.test()`` in a fresh interpreter, where OpenLineage is enabled.

``python -m tests.emulator.lineage.run_lineage_dags '<spec json>'``: the spec gives the DAG id, the upload's
sources, whether the job tasks defer, a project name, and the file to write the outcome to (each
task's state and the XComs the test compares the events with). The environment (set by the test)
holds the OpenLineage file transport, the SeekrFlow and AWS connections and the Airflow home.
OpenLineage reads its settings once per process, and Airflow loads its listener plugins once, which
is why this runs apart from the test process.
"""

from __future__ import annotations

import json
import sys
from datetime import datetime
from typing import Any

from airflow.providers.common.compat.sdk import DAG

from airflow_provider_seekrflow.operators.alignment import SeekrFlowGenerateAlignmentOperator
from airflow_provider_seekrflow.operators.data_job import SeekrFlowDataJobOperator
from airflow_provider_seekrflow.operators.files import SeekrFlowUploadFileOperator
from airflow_provider_seekrflow.operators.fine_tune import SeekrFlowFineTuneOperator
from tests.emulator.dag_runner import run_dag, task_states

FAST_POLL = {"poll_interval": 0.5, "min_poll_interval": 0.2}


def build(spec: dict[str, Any]) -> DAG:
    """Upload the sources, make training data from them twice (generate, data job), fine-tune on the data job's.

    With ``with_failure``, a fine-tune on the uploaded documents fails too, as the service refuses it.
    """
    deferrable = bool(spec["deferrable"])
    with DAG(spec["dag_id"], schedule=None, start_date=datetime(2025, 1, 1), catchup=False) as dag:
        upload = SeekrFlowUploadFileOperator(task_id="upload", file_path=spec["sources"])
        SeekrFlowGenerateAlignmentOperator(
            task_id="generate",
            instructions="Teach the returns policy.",
            files=upload.output,
            deferrable=deferrable,
            # Lineage must not depend on the return value's XCom.
            do_xcom_push=False,
            **FAST_POLL,
        )
        data_job = SeekrFlowDataJobOperator(
            task_id="data_job",
            files=upload.output,
            instructions="Teach the returns policy.",
            system_prompt="You answer questions about the returns policy, briefly.",
            deferrable=deferrable,
            **FAST_POLL,
        )
        fine_tune = SeekrFlowFineTuneOperator(
            task_id="fine_tune",
            training_files="{{ ti.xcom_pull(task_ids='data_job', key='fine_tune_file_id') }}",
            model="meta-llama/Llama-3.1-8B",
            n_epochs=1,
            project_name=spec["project_name"],
            deferrable=deferrable,
            **FAST_POLL,
        )
        data_job >> fine_tune
        if spec.get("with_failure"):
            # Uploaded documents are no training data: the service refuses the fine-tune (a 422).
            SeekrFlowFineTuneOperator(
                task_id="fine_tune_refused",
                training_files=upload.output,
                model="meta-llama/Llama-3.1-8B",
                n_epochs=1,
                project_name=spec["project_name"],
                **FAST_POLL,
            )
    return dag


def xcoms(dag_run: Any) -> dict[str, Any]:
    """Return the XComs the events are compared with, read back from the metadata database."""
    tis = {ti.task_id: ti for ti in dag_run.get_task_instances()}

    def pull(task_id: str, key: str = "return_value") -> Any:
        return tis[task_id].xcom_pull(task_ids=task_id, key=key)

    return {
        "upload": pull("upload"),
        "generate": pull("generate"),
        "data_job": pull("data_job"),
        "fine_tune_file_id": pull("data_job", "fine_tune_file_id"),
        "fine_tune": pull("fine_tune"),
    }


def main() -> None:
    """Run the DAG the spec on the command line describes, and write its outcome to the spec's file."""
    spec = json.loads(sys.argv[1])
    dag_run = run_dag(build(spec))
    outcome = {"states": task_states(dag_run), "xcoms": xcoms(dag_run)}
    with open(spec["outcome_file"], "w", encoding="utf-8") as handle:
        json.dump(outcome, handle)


if __name__ == "__main__":
    main()
