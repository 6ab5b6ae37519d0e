"""
### Upload fine-tuning data, checked line by line

Uploads a chat-format JSONL file with purpose `fine-tune`. Before anything is sent, every line is
checked against the fine-tune schema (`messages` of `system`, `user` and `assistant` turns); a bad
line fails the task with the file, the line number and the fault, and nothing is uploaded.
"""

from __future__ import annotations

from datetime import datetime
from pathlib import Path

from airflow.providers.common.compat.sdk import DAG

from airflow_provider_seekrflow.operators.files import SeekrFlowUploadFileOperator

TRAINING_FILE = str(Path(__file__).parent / "data" / "training" / "support_chat.jsonl")

with DAG(
    dag_id="example_seekrflow_finetune_upload",
    schedule=None,
    start_date=datetime(2026, 1, 1),
    catchup=False,
    doc_md=__doc__,
    tags=["seekrflow", "example"],
) as dag:
    SeekrFlowUploadFileOperator(
        task_id="upload_training_data",
        file_path=TRAINING_FILE,
        purpose="fine-tune",
        check_content=True,
    )
