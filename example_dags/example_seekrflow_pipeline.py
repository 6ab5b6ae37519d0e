"""
### The whole pipeline: documents -> training pairs (data job) -> fine-tuned model

Uploads the sample support documents shipped beside this DAG, turns them into instruction
fine-tuning pairs with a **data job** (SeekrFlow's current way; it replaces the deprecated
generate endpoint), fine-tunes a model on the pairs in a project found or created by name, and
reports the model. Every wait is deferred to the triggerer, so no worker slot is held while
SeekrFlow works; ids travel between tasks by XCom:

- `upload_documents` returns the stored file ids;
- `make_training_pairs` attaches them to a data job, waits for their ingestion, starts the
  alignment, and pushes the training file (the `fine-tune` output, a parquet file) under
  `fine_tune_file_id`;
- `fine_tune` trains on that file and returns the job with its `model_id`.

A retry on Airflow 3.3+ picks up the data job or fine-tune of the failed try instead of starting
another; killing a task, or its timeout, cancels its job.

Set up the `seekrflow_default` connection first: the API key as password and, for the local
emulator, its URL as host (`SEEKRFLOW_EMULATOR_API_KEY=dev-key python -m airflow_provider_seekrflow.emulator`).
"""

from __future__ import annotations

import logging
from datetime import datetime
from pathlib import Path

from airflow.providers.common.compat.sdk import DAG, XComArg, task

from airflow_provider_seekrflow.operators.data_job import SeekrFlowDataJobOperator
from airflow_provider_seekrflow.operators.files import SeekrFlowUploadFileOperator
from airflow_provider_seekrflow.operators.fine_tune import SeekrFlowFineTuneOperator
from airflow_provider_seekrflow.operators.job_base import FINE_TUNE_FILE_XCOM_KEY

DOCUMENTS = str(Path(__file__).parent / "data" / "documents" / "*")

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
        """Log the fine-tuned model, for the next step (deployment, evaluation) to pick up."""
        logging.getLogger("airflow.task").info(
            "Fine-tuned model %s (fine-tune %s, project %s) is ready",
            fine_tune_result["model_id"],
            fine_tune_result["job_id"],
            fine_tune_result["project_id"],
        )
        return fine_tune_result["model_id"]

    report_model(fine_tune.output)
