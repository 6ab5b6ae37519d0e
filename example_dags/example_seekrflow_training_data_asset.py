"""
### Data-aware fine-tuning: one DAG makes training data, another trains whenever it is new

Two DAGs joined by an asset (a Dataset on Airflow 2), `seekrflow://flow.seekr.com/training-data/northwind-support`:

- **`example_seekrflow_training_data`** uploads the support documents and turns them into training
  pairs with a data job. The data job task lists the asset in its `outlets`, so when the job
  completes, the asset event's `extra` carries the training file: `training_file_id` (with
  `job_id`, `job_kind` and `output_file_ids`).
- **`example_seekrflow_fine_tune_on_new_data`** is scheduled on that asset: each new event starts a
  run, which reads the training file from the triggering event and fine-tunes a model on it.

Neither DAG knows the other's task ids or XCom keys: the asset event is the whole contract, so the
data DAG can run on a schedule of its own and several DAGs can train on what it produces. The
asset's host only names it; requests go where the `seekrflow_default` connection points.
"""

from __future__ import annotations

import logging
from datetime import datetime
from pathlib import Path

from airflow.providers.common.compat.sdk import DAG, task

from airflow_provider_seekrflow.assets import training_data_asset, training_file_id_from_trigger
from airflow_provider_seekrflow.operators.data_job import SeekrFlowDataJobOperator
from airflow_provider_seekrflow.operators.files import SeekrFlowUploadFileOperator
from airflow_provider_seekrflow.operators.fine_tune import SeekrFlowFineTuneOperator

DOCUMENTS = str(Path(__file__).parent / "data" / "documents" / "*")
TRAINING_DATA = training_data_asset("northwind-support")

with DAG(
    dag_id="example_seekrflow_training_data",
    schedule=None,
    start_date=datetime(2026, 1, 1),
    catchup=False,
    doc_md=__doc__,
    tags=["seekrflow", "example"],
) as training_data_dag:
    upload_documents = SeekrFlowUploadFileOperator(
        task_id="upload_documents",
        file_path=DOCUMENTS,
        purpose="alignment",
    )
    SeekrFlowDataJobOperator(
        task_id="make_training_pairs",
        files=upload_documents.output,
        instructions="Teach a support assistant Northwind Outfitters' returns, warranty and shipping rules.",
        system_prompt="You are Northwind Outfitters' friendly support assistant.",
        deferrable=True,
        timeout=2 * 60 * 60,
        retries=2,
        outlets=[TRAINING_DATA],
    )

with DAG(
    dag_id="example_seekrflow_fine_tune_on_new_data",
    schedule=[TRAINING_DATA],
    start_date=datetime(2026, 1, 1),
    catchup=False,
    doc_md=__doc__,
    tags=["seekrflow", "example"],
) as fine_tune_dag:

    @task
    def new_training_file(**context) -> str:
        """Return the training file of the asset event that started this run."""
        file_id = training_file_id_from_trigger(context, TRAINING_DATA)
        logging.getLogger("airflow.task").info("Training on %s, announced on %s", file_id, TRAINING_DATA.uri)
        return file_id

    SeekrFlowFineTuneOperator(
        task_id="fine_tune",
        project_name="Northwind support assistant",
        training_files=new_training_file(),
        model="meta-llama/Llama-3.1-8B-Instruct",
        n_epochs=3,
        learning_rate=1e-5,
        deferrable=True,
        timeout=12 * 60 * 60,
        retries=2,
    )
