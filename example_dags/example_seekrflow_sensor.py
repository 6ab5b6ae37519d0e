"""
### Start an alignment job, then wait for it with a sensor

Uploads the sample documents, starts an alignment job without waiting
(`wait_for_completion=False`), waits for it with the deferrable
`SeekrFlowAlignmentJobSensor`, and lists the job's output files. Useful when the wait belongs in
another task, or the job was started outside Airflow.
"""

from __future__ import annotations

import logging
from datetime import datetime
from pathlib import Path

from airflow.providers.common.compat.sdk import DAG, task

from airflow_provider_seekrflow.hooks.seekrflow import SeekrFlowHook
from airflow_provider_seekrflow.operators.alignment import SeekrFlowGenerateAlignmentOperator
from airflow_provider_seekrflow.operators.files import SeekrFlowUploadFileOperator
from airflow_provider_seekrflow.sensors.alignment import SeekrFlowAlignmentJobSensor

DOCUMENTS = str(Path(__file__).parent / "data" / "documents" / "*")

with DAG(
    dag_id="example_seekrflow_sensor",
    schedule=None,
    start_date=datetime(2026, 1, 1),
    catchup=False,
    doc_md=__doc__,
    tags=["seekrflow", "example"],
) as dag:
    upload_documents = SeekrFlowUploadFileOperator(task_id="upload_documents", file_path=DOCUMENTS)

    start_job = SeekrFlowGenerateAlignmentOperator(
        task_id="start_job",
        instructions="Teach a support assistant Northwind Outfitters' policies.",
        files=upload_documents.output,
        wait_for_completion=False,
    )

    wait_for_job = SeekrFlowAlignmentJobSensor(
        task_id="wait_for_job",
        job_id=start_job.output,
        deferrable=True,
        poke_interval=30,
        timeout=2 * 60 * 60,
    )

    @task
    def list_outputs(result: dict) -> list[dict]:
        """Log each output file of the completed job."""
        log = logging.getLogger("airflow.task")
        outputs = SeekrFlowHook().get_alignment_outputs(result["job_id"])
        for output in outputs:
            log.info("%s: %s (%s, %s bytes)", output.id, output.filename, output.purpose, output.bytes)
        return [output.model_dump(mode="json") for output in outputs]

    list_outputs(wait_for_job.output)
