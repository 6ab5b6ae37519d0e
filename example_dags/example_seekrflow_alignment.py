"""
### Upload documents, generate training pairs, look at one

Uploads the sample support documents shipped beside this DAG to SeekrFlow, starts an
alignment job that turns them into instruction fine-tuning pairs, waits for it in the
triggerer (deferrable), then reads the `fine-tune` output (a parquet file, one conversation
per row) and logs a sample pair.

Set up the `seekrflow_default` connection first: the API key as password and, for the local
emulator, its URL as host (`SEEKRFLOW_EMULATOR_API_KEY=dev-key python -m airflow_provider_seekrflow.emulator`).
"""

from __future__ import annotations

import logging
from datetime import datetime
from pathlib import Path

from airflow.providers.common.compat.sdk import DAG, XComArg, task

from airflow_provider_seekrflow.hooks.seekrflow import SeekrFlowHook
from airflow_provider_seekrflow.operators.alignment import SeekrFlowGenerateAlignmentOperator
from airflow_provider_seekrflow.operators.files import SeekrFlowUploadFileOperator
from airflow_provider_seekrflow.operators.job_base import FINE_TUNE_FILE_XCOM_KEY

DOCUMENTS = str(Path(__file__).parent / "data" / "documents" / "*")

with DAG(
    dag_id="example_seekrflow_alignment",
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

    generate_pairs = SeekrFlowGenerateAlignmentOperator(
        task_id="generate_pairs",
        instructions=(
            "Teach a support assistant Northwind Outfitters' returns, warranty and shipping rules, "
            "answering customers briefly and accurately."
        ),
        system_prompt="You are Northwind Outfitters' friendly support assistant.",
        files=upload_documents.output,
        deferrable=True,
        poll_interval=300,
        timeout=2 * 60 * 60,
    )

    @task
    def show_sample_pair(fine_tune_file_id: str) -> dict:
        """Read the fine-tune output (parquet) and log its first training pair."""
        log = logging.getLogger("airflow.task")
        pairs = 0
        for conversation in SeekrFlowHook().iter_conversations(fine_tune_file_id):
            if pairs == 0:
                for message in conversation["messages"]:
                    log.info("%9s: %s", message["role"], message["content"])
            pairs += 1
        log.info("%d training pairs in %s", pairs, fine_tune_file_id)
        return {"file_id": fine_tune_file_id, "pairs": pairs}

    show_sample_pair(XComArg(generate_pairs, key=FINE_TUNE_FILE_XCOM_KEY))
