"""
### Fine-tune, deploy, evaluate, promote: serving a model, with a demote teardown

Uploads the sample chat training file shipped beside this DAG, fine-tunes a model on it, then
serves the model:

- `deploy` serves the fine-tune's model (`model_id` from the fine-tune's result) and waits,
  deferred, until the deployment is `Active`. A deployment of the same name and model that is not
  `Failed` is reused rather than made twice (an `Inactive` one is promoted), and a retry picks
  up its earlier try's deployment. `Failed` fails the task with
  `SeekrFlowDeploymentFailedError`, naming the deployment and what SeekrFlow said; a kill or
  timeout while it starts demotes it, if this task made it.
- `evaluate` sends the prompt set shipped beside this DAG (`data/evaluation/support_chat_prompts.jsonl`,
  questions of the training file with their expected answers) through chat completions against
  the served model, writes every answer to `{seekrflow_answers_dir}/<run id>/answers.jsonl` and
  fails below a pass rate of 0.8, so `promote` runs only on a model that passed.
- `release_instances` is the teardown: with `trigger_rule="all_done"` it demotes the deployment
  whatever happened before (a failed evaluation never leaves instances running); it succeeds
  when there is nothing to demote.
- `promote` runs only when the evaluation passed: it promotes the (now `Inactive`) deployment,
  which starts serving again, and waits until it is `Active`.

Set up the `seekrflow_default` connection first: the API key as password and, for the local
emulator, its URL as host (`SEEKRFLOW_EMULATOR_API_KEY=dev-key python -m airflow_provider_seekrflow.emulator`).
"""

from __future__ import annotations

from datetime import datetime
from pathlib import Path

from airflow.providers.common.compat.sdk import DAG

from airflow_provider_seekrflow.operators.deployment import (
    SeekrFlowDemoteDeploymentOperator,
    SeekrFlowDeployModelOperator,
    SeekrFlowPromoteDeploymentOperator,
)
from airflow_provider_seekrflow.operators.evaluate import SeekrFlowEvaluateModelOperator
from airflow_provider_seekrflow.operators.files import SeekrFlowUploadFileOperator
from airflow_provider_seekrflow.operators.fine_tune import SeekrFlowFineTuneOperator

DATA = Path(__file__).parent / "data"
TRAINING_FILE = str(DATA / "training" / "support_chat.jsonl")
PROMPTS = str(DATA / "evaluation" / "support_chat_prompts.jsonl")
ANSWERS = (
    "{{ var.value.get('seekrflow_answers_dir', '/tmp/seekrflow-answers') }}"
    "/{{ run_id | replace(':', '-') | replace('+', '-') }}/answers.jsonl"
)

with DAG(
    dag_id="example_seekrflow_deployment",
    schedule=None,
    start_date=datetime(2026, 1, 1),
    catchup=False,
    doc_md=__doc__,
    tags=["seekrflow", "example"],
) as dag:
    upload_training_data = SeekrFlowUploadFileOperator(
        task_id="upload_training_data",
        file_path=TRAINING_FILE,
        purpose="fine-tune",
        check_content=True,
    )

    fine_tune = SeekrFlowFineTuneOperator(
        task_id="fine_tune",
        project_name="Northwind support assistant",
        training_files=upload_training_data.output,
        model="meta-llama/Llama-3.1-8B-Instruct",
        n_epochs=3,
        accel_type="H100",
        n_accel=1,
        deferrable=True,
        timeout=12 * 60 * 60,
        retries=2,
    )

    deploy = SeekrFlowDeployModelOperator(
        task_id="deploy",
        model_id="{{ ti.xcom_pull(task_ids='fine_tune')['model_id'] }}",
        name="Northwind support assistant",
        description="The support assistant, fine-tuned by Airflow",
        n_instances=1,
        deferrable=True,
        timeout=60 * 60,
        retries=2,
    )
    fine_tune >> deploy

    evaluation = SeekrFlowEvaluateModelOperator(
        task_id="evaluate",
        model="{{ ti.xcom_pull(task_ids='deploy')['model_id'] }}",
        prompts=PROMPTS,
        answers=ANSWERS,
        pass_threshold=0.8,
        scorer="exact",
        temperature=0,
    )
    deploy >> evaluation

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
    evaluation >> release_instances >> promote
    evaluation >> promote
