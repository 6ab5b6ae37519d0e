"""The whole pipeline for the integration harness: upload documents -> data job -> fine-tune (project by name).

``it_pipeline_serve_soak`` goes on: deploy the fine-tune's model -> evaluate it -> demote it (teardown).

Written as a user would write it (see example_dags/example_seekrflow_pipeline.py): every wait
deferred to the triggerer, ids passed by XCom, retries on every task. Run-scoped inputs come from
``dag_run.conf`` as in seekrflow_integration_dags.py:

- ``tag``: a name unique to the run; it goes into the data job's instructions (so its alignment job
  is attributed to the run, ``[run <tag>]``) and into the project's name (one project per run);
- ``docs_dir``: a folder holding this run's source documents (file names prefixed with the tag);
- ``prompts``, ``answers`` (the serving DAG only): this run's prompt set, questions the run's own
  training pairs answer (tests/system/integration/serving_checks.py writes it), and where its
  answers go; both under the harness's work directory, which every component on the machine reads.

The data job's name is the operator's default, ``<dag_id>.make_training_pairs.<run_id>.try<n>``, and the
harness uses the tag as run id, so the emulator's data jobs are attributed to runs by name too. The
deployment is named after the tag as the project is (``DEPLOYMENT_NAME``): one per run, so the deploy
operator's reuse (same name and model) never crosses runs.
"""

from __future__ import annotations

import logging
from datetime import datetime, timedelta
from typing import Any

from airflow.providers.common.compat.sdk import DAG, XComArg, task

from airflow_provider_seekrflow.assets import FINE_TUNE_FILE_XCOM_KEY
from airflow_provider_seekrflow.operators.data_job import SeekrFlowDataJobOperator
from airflow_provider_seekrflow.operators.deployment import (
    SeekrFlowDemoteDeploymentOperator,
    SeekrFlowDeployModelOperator,
)
from airflow_provider_seekrflow.operators.evaluate import SeekrFlowEvaluateModelOperator
from airflow_provider_seekrflow.operators.files import SeekrFlowUploadFileOperator
from airflow_provider_seekrflow.operators.fine_tune import SeekrFlowFineTuneOperator

INSTRUCTIONS = (
    "Teach a support assistant Northwind Outfitters' returns, warranty and shipping rules "
    "[run {{ dag_run.conf['tag'] }}]"
)
DOCS = "{{ dag_run.conf['docs_dir'] }}/*"
PROJECT_NAME = "Northwind support [run {{ dag_run.conf['tag'] }}]"
BASE_MODEL = "meta-llama/Llama-3.1-8B-Instruct"
DEPLOYMENT_NAME = "Northwind support [run {{ dag_run.conf['tag'] }}]"
# The serving soak's evaluation gate. Its fault mix (IT_SOAK_FAULT_RATE, 0.2) answers about 9 % of
# chat requests with a plain 500 or 502 or drops the connection; the evaluation never sends such a
# prompt again (a chat completion is billed) and counts it as errored, against the pass rate. With 5
# prompts a gate of 0.8 would fail a run whenever two are lost (about one run in 15: some run of a
# 20-run batch three times in four); 0.2 fails a run only when all 5 are lost (0.09**5, about 6e-6 a
# run). The gate here is not the check: the soak requires every answered prompt to have passed
# (0 failed) and each errored one to have met a fault (tests/system/integration/serving_checks.py).
SERVE_SOAK_PASS_THRESHOLD = 0.2


@task
def report_model(fine_tune_result: dict) -> str:
    """Log the fine-tuned model for the next step (deployment, evaluation), as the example DAG does."""
    assert fine_tune_result["status"] == "completed", fine_tune_result
    assert fine_tune_result["model_id"], fine_tune_result
    logging.getLogger("airflow.task").info(
        "Fine-tuned model %s (fine-tune %s, project %s) is ready",
        fine_tune_result["model_id"],
        fine_tune_result["job_id"],
        fine_tune_result["project_id"],
    )
    return fine_tune_result["model_id"]


def _pipeline(
    dag_id: str,
    *,
    max_active_runs: int = 16,
    default_args: dict[str, Any] | None = None,
    polls: tuple[float, float],
    deferrable: bool = True,
    upload: dict[str, Any] | None = None,
    data_job: dict[str, Any] | None = None,
    fine_tune: dict[str, Any] | None = None,
    serve: bool = False,
) -> DAG:
    """
    The pipeline; every wait polls every ``polls[0]`` s (at least ``polls[1]`` s apart), plus its own kwargs.

    With ``serve``, the fine-tune's model is then deployed, evaluated on ``dag_run.conf['prompts']``
    and demoted again by an ``all_done`` teardown.
    """
    waits = {"deferrable": deferrable, "poll_interval": polls[0], "min_poll_interval": polls[1]}
    with DAG(
        dag_id=dag_id,
        schedule=None,
        start_date=datetime(2026, 1, 1),
        catchup=False,
        max_active_runs=max_active_runs,
        max_active_tasks=64,
        default_args=default_args or {},
        tags=["seekrflow", "integration", "pipeline"],
    ) as dag:
        upload = SeekrFlowUploadFileOperator(
            task_id="upload_documents", file_path=DOCS, purpose="alignment", **(upload or {})
        )
        pairs = SeekrFlowDataJobOperator(
            task_id="make_training_pairs",
            files=upload.output,
            job_type="principle_files",
            instructions=INSTRUCTIONS,
            system_prompt="You are Northwind Outfitters' friendly support assistant.",
            **{**waits, **(data_job or {})},
        )
        tune = SeekrFlowFineTuneOperator(
            task_id="fine_tune",
            project_name=PROJECT_NAME,
            project_description="Fine-tunes of the Airflow integration harness",
            training_files=XComArg(pairs, key=FINE_TUNE_FILE_XCOM_KEY),
            model=BASE_MODEL,
            n_epochs=3,
            learning_rate=1e-5,
            lora_config={"r": 8, "alpha": 32, "dropout": 0.1, "bias": "none"},
            accel_type="H100",
            n_accel=1,
            **{**waits, **(fine_tune or {})},
        )
        model = report_model(tune.output)
        if serve:
            _serve(model, waits)
    return dag


def _serve(model: Any, waits: dict[str, Any]) -> None:
    """Deploy ``model``, evaluate it, and demote the deployment whatever happened (as the example pipeline does)."""
    deploy = SeekrFlowDeployModelOperator(
        task_id="deploy",
        model_id=model,
        name=DEPLOYMENT_NAME,
        description="A fine-tune of the Airflow integration harness, served for its evaluation",
        n_instances=1,
        **waits,
    )
    evaluate = SeekrFlowEvaluateModelOperator(
        task_id="evaluate",
        model="{{ ti.xcom_pull(task_ids='deploy')['model_id'] }}",
        prompts="{{ dag_run.conf['prompts'] }}",
        answers="{{ dag_run.conf['answers'] }}",
        pass_threshold=SERVE_SOAK_PASS_THRESHOLD,
        # Each prompt's own check (a fact its answer must contain) takes the scorer's place.
        scorer={"type": "contains", "case_sensitive": False},
        temperature=0,
        # A retry would send every prompt again (each billed): the soak counts each prompt once.
        retries=0,
    )
    # With trigger_rule all_done this is the run's only leaf: a failed evaluation leaves the run
    # "success", so the soak checks every task instance's state, not only the run's.
    release = SeekrFlowDemoteDeploymentOperator(
        task_id="release_instances",
        # Pushed as soon as the deployment exists, so it is there even when `deploy` failed later.
        deployment_id="{{ ti.xcom_pull(task_ids='deploy', key='deployment_id') or '' }}",
        missing_ok=True,
        trigger_rule="all_done",
    )
    deploy >> evaluate >> release


# 1. The pipeline's fault soak: many runs at once against a faulty service. Retries on every task as
# in production (a create whose answer is lost and cannot be found again fails the try; Airflow's
# retry then picks up the stored job on 3.3+).
it_pipeline_soak = _pipeline(
    "it_pipeline_soak",
    max_active_runs=25,
    default_args={"retries": 2, "retry_delay": timedelta(seconds=3)},
    polls=(5, 2),
)

# 1b. The same soak going on to serve the model: deploy -> evaluate -> demote (tests/system/integration/
# test_02_pipeline_fault_soak.py). A DAG of its own, so what it_pipeline_soak's other users measure
# (test_02_pipeline_lost_answers.py, the distributed suite's triggerer failover) does not change.
it_pipeline_serve_soak = _pipeline(
    "it_pipeline_serve_soak",
    max_active_runs=25,
    default_args={"retries": 2, "retry_delay": timedelta(seconds=3)},
    polls=(5, 2),
    serve=True,
)

# 2. Waiting in the triggerer, no retries: marking a deferred task failed must cancel its job.
it_pipeline_deferred = _pipeline("it_pipeline_deferred", polls=(3, 1))

# 3. execution_timeout while deferred: each task's job must be cancelled. The data job defers twice
# (ingestion, then alignment) and gets the longer limit, so its alignment is running when time is up.
PIPELINE_DATA_JOB_EXECUTION_TIMEOUT = timedelta(seconds=90)
PIPELINE_FINE_TUNE_EXECUTION_TIMEOUT = timedelta(seconds=40)
it_pipeline_exec_timeout = _pipeline(
    "it_pipeline_exec_timeout",
    polls=(3, 1),
    data_job={"execution_timeout": PIPELINE_DATA_JOB_EXECUTION_TIMEOUT},
    fine_tune={"execution_timeout": PIPELINE_FINE_TUNE_EXECUTION_TIMEOUT},
)

# 4. The distributed suite (tests/system/distributed, CeleryExecutor). The load: as the soak, with room for
# the whole batch to be active at once (the waits then pile up in the two triggerers).
it_pipeline_scale = _pipeline(
    "it_pipeline_scale",
    max_active_runs=256,
    default_args={"retries": 3, "retry_delay": timedelta(seconds=3)},
    polls=(5, 2),
)

# 5. Waiting on the worker (deferrable=False), retries on every task: a Celery worker killed during the
# upload or the data job's wait leaves its try to the scheduler's heartbeat timeout; the retry must
# finish the work without uploading a file or creating a job again.
it_pipeline_sync = _pipeline(
    "it_pipeline_sync",
    default_args={"retries": 2, "retry_delay": timedelta(seconds=2)},
    polls=(2, 1),
    deferrable=False,
    # One file at a time: the worker-loss test kills the worker with the first of three files stored
    # and the second in flight, and checks the retry uploads only the missing ones.
    upload={"max_concurrency": 1},
)
