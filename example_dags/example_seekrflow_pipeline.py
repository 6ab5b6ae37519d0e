"""
### The whole pipeline: documents -> training pairs -> fine-tuned model -> deployed, evaluated, promoted

Uploads the sample support documents shipped beside this DAG, turns them into instruction
fine-tuning pairs with a **data job** (SeekrFlow's current way; it replaces the deprecated
generate endpoint), fine-tunes a model on the pairs in a project found or created by name, then
serves it, evaluates it and promotes it. Every wait is deferred to the triggerer, so no worker
slot is held while SeekrFlow works; ids travel between tasks by XCom:

- `upload_documents` returns the stored file ids;
- `make_training_pairs` attaches them to a data job, waits for their ingestion, starts the
  alignment, and pushes the training file (the `fine-tune` output, a parquet file) under
  `fine_tune_file_id`;
- `fine_tune` trains on that file and returns the job with its `model_id` and its `usage`
  (accelerator type and count, wall time, accelerator-seconds); `report_model` logs it;
- `deploy` serves the model and waits until the deployment is `Active` (its result's `usage`
  holds the deployment's token counters);
- `evaluate` sends the prompt set shipped beside this DAG (`data/evaluation/support_prompts.jsonl`,
  questions the training pairs answer, each with the fact its answer must contain) to the served
  model and fails below a pass rate of 0.8; its manifest holds the pass rate and the tokens used.
  The answers go to `{seekrflow_answers_dir}/<run id>/answers.jsonl` (the Airflow Variable
  `seekrflow_answers_dir`, default `/tmp/seekrflow-answers`: set it to storage every worker shares,
  or an object-storage URI);
- `release_instances` is the teardown, as in `example_seekrflow_deployment`: with
  `trigger_rule="all_done"` it demotes the deployment whatever happened before (a failed evaluation
  never leaves instances running), and succeeds when there is nothing to demote;
- `promote` runs only when the evaluation passed: SeekrFlow promotes only an `Inactive`
  deployment, so it comes after the teardown, starts serving again and waits until `Active`.

A retry on Airflow 3.3+ picks up the data job, fine-tune or deployment of the failed try instead of
starting another; killing a task, or its timeout, cancels its job (demotes a deployment it started).

Set up the `seekrflow_default` connection first: the API key as password and, for the local
emulator, its URL as host (`SEEKRFLOW_EMULATOR_API_KEY=dev-key python -m airflow_provider_seekrflow.emulator`).
"""

from __future__ import annotations

import logging
from datetime import datetime
from pathlib import Path

from airflow.providers.common.compat.sdk import DAG, XComArg, task

from airflow_provider_seekrflow.assets import FINE_TUNE_FILE_XCOM_KEY
from airflow_provider_seekrflow.operators.data_job import SeekrFlowDataJobOperator
from airflow_provider_seekrflow.operators.deployment import (
    SeekrFlowDemoteDeploymentOperator,
    SeekrFlowDeployModelOperator,
    SeekrFlowPromoteDeploymentOperator,
)
from airflow_provider_seekrflow.operators.evaluate import SeekrFlowEvaluateModelOperator
from airflow_provider_seekrflow.operators.files import SeekrFlowUploadFileOperator
from airflow_provider_seekrflow.operators.fine_tune import SeekrFlowFineTuneOperator

DATA = Path(__file__).parent / "data"
DOCUMENTS = str(DATA / "documents" / "*")
# Questions the training pairs made from DOCUMENTS answer, each with the fact its answer must contain.
PROMPTS = str(DATA / "evaluation" / "support_prompts.jsonl")
ANSWERS = (
    "{{ var.value.get('seekrflow_answers_dir', '/tmp/seekrflow-answers') }}"
    "/{{ run_id | replace(':', '-') | replace('+', '-') }}/answers.jsonl"
)

with DAG(
    dag_id="example_seekrflow_pipeline",
    schedule=None,
    start_date=datetime(2026, 1, 1),
    catchup=False,
    doc_md=__doc__,
    tags=["seekrflow", "example"],
) as dag:
    upload_documents = SeekrFlowUploadFileOperator(
        task_id="upload_documents",
        file_path=DOCUMENTS,
        purpose="alignment",
    )

    make_training_pairs = SeekrFlowDataJobOperator(
        task_id="make_training_pairs",
        files=upload_documents.output,
        job_type="principle_files",
        instructions=(
            "Teach a support assistant Northwind Outfitters' returns, warranty and shipping rules, "
            "answering customers briefly and accurately."
        ),
        system_prompt="You are Northwind Outfitters' friendly support assistant.",
        deferrable=True,
        timeout=2 * 60 * 60,
        retries=2,
    )

    fine_tune = SeekrFlowFineTuneOperator(
        task_id="fine_tune",
        project_name="Northwind support assistant",
        training_files=XComArg(make_training_pairs, key=FINE_TUNE_FILE_XCOM_KEY),
        model="meta-llama/Llama-3.1-8B-Instruct",
        n_epochs=3,
        learning_rate=1e-5,
        lora_config={"r": 8, "alpha": 32, "dropout": 0.1, "bias": "none"},
        accel_type="H100",
        n_accel=1,
        deferrable=True,
        timeout=12 * 60 * 60,
        retries=2,
    )

    @task
    def report_model(fine_tune_result: dict) -> str:
        """Log the fine-tuned model and what training it used, for the deployment to pick up."""
        usage = fine_tune_result.get("usage") or {}
        logging.getLogger("airflow.task").info(
            "Fine-tuned model %s (fine-tune %s, project %s) is ready; it trained %s s on %s x %s",
            fine_tune_result["model_id"],
            fine_tune_result["job_id"],
            fine_tune_result["project_id"],
            usage.get("wall_seconds"),
            usage.get("accelerator_count"),
            usage.get("accelerator_type"),
        )
        return fine_tune_result["model_id"]

    model = report_model(fine_tune.output)

    deploy = SeekrFlowDeployModelOperator(
        task_id="deploy",
        model_id=model,
        name="Northwind support assistant",
        description="The support assistant, fine-tuned by Airflow",
        n_instances=1,
        deferrable=True,
        timeout=60 * 60,
        retries=2,
    )

    evaluate = SeekrFlowEvaluateModelOperator(
        task_id="evaluate",
        model="{{ ti.xcom_pull(task_ids='deploy')['model_id'] }}",
        prompts=PROMPTS,
        answers=ANSWERS,
        pass_threshold=0.8,
        # Each prompt's own check (a fact its answer must contain) takes the scorer's place.
        scorer={"type": "contains", "case_sensitive": False},
        temperature=0,
    )
    deploy >> evaluate

    release_instances = SeekrFlowDemoteDeploymentOperator(
        task_id="release_instances",
        # Pushed as soon as the deployment exists, so it is there even when `deploy` failed later.
        deployment_id="{{ ti.xcom_pull(task_ids='deploy', key='deployment_id') or '' }}",
        missing_ok=True,
        trigger_rule="all_done",
    )

    promote = SeekrFlowPromoteDeploymentOperator(
        task_id="promote",
        deployment_id="{{ ti.xcom_pull(task_ids='deploy', key='deployment_id') }}",
        deferrable=True,
        timeout=60 * 60,
    )

    # Promote only after the evaluation passed and the evaluation's instances were released.
    evaluate >> release_instances >> promote
    evaluate >> promote
