"""DAGs of the integration harness (tests/system/integration), run by a real scheduler and triggerer.

Every DAG takes its run-scoped inputs from ``dag_run.conf``:

- ``tag``: a name unique to the run; it is put into the alignment instructions, so the emulator's
  job records can be attributed to runs;
- ``docs_dir``: a folder holding this run's source documents (file names prefixed with the tag);
- ``pid_dir`` (optional): each try of ``generate_pairs`` writes its process id there, so a test can
  SIGKILL the task process.

They use the provider's operators exactly as the example DAG does; only timings differ.
"""

from __future__ import annotations

import os
from datetime import datetime, timedelta
from pathlib import Path

from airflow.providers.common.compat.sdk import DAG, XComArg, task

from airflow_provider_seekrflow.assets import FINE_TUNE_FILE_XCOM_KEY
from airflow_provider_seekrflow.hooks.seekrflow import SeekrFlowHook
from airflow_provider_seekrflow.operators.alignment import SeekrFlowGenerateAlignmentOperator
from airflow_provider_seekrflow.operators.files import SeekrFlowUploadFileOperator

INSTRUCTIONS = (
    "Teach a support assistant Northwind Outfitters' returns, warranty and shipping rules "
    "[run {{ dag_run.conf['tag'] }}]"
)
DOCS = "{{ dag_run.conf['docs_dir'] }}/*"


def record_pid(context) -> None:
    """on_execute_callback: runs in the task process; tells the test which process to kill."""
    pid_dir = (context["dag_run"].conf or {}).get("pid_dir")
    if pid_dir:
        os.makedirs(pid_dir, exist_ok=True)
        Path(pid_dir, f"try-{context['ti'].try_number}.pid").write_text(str(os.getpid()))


@task
def show_sample_pair(fine_tune_file_id: str) -> dict:
    """Read the fine-tune output (parquet or JSONL) and count its training pairs (as the example DAG does)."""
    sample, pairs = None, 0
    for conversation in SeekrFlowHook().iter_conversations(fine_tune_file_id):
        sample = sample or conversation
        pairs += 1
    assert sample is not None, f"{fine_tune_file_id} holds no training pairs"
    print(f"first pair has {len(sample['messages'])} messages; {pairs} pairs in {fine_tune_file_id}")
    return {"file_id": fine_tune_file_id, "pairs": pairs}


def _pipeline(dag_id: str, *, max_active_runs: int = 16, **generate_kwargs) -> DAG:
    with DAG(
        dag_id=dag_id,
        schedule=None,
        start_date=datetime(2026, 1, 1),
        catchup=False,
        max_active_runs=max_active_runs,
        max_active_tasks=64,
        tags=["seekrflow", "integration"],
    ) as dag:
        upload = SeekrFlowUploadFileOperator(task_id="upload_documents", file_path=DOCS, purpose="alignment")
        generate = SeekrFlowGenerateAlignmentOperator(
            task_id="generate_pairs",
            instructions=INSTRUCTIONS,
            system_prompt="You are Northwind Outfitters' friendly support assistant.",
            files=upload.output,
            on_execute_callback=record_pid,
            **generate_kwargs,
        )
        show_sample_pair(XComArg(generate, key=FINE_TUNE_FILE_XCOM_KEY))
    return dag


# 1. The fault soak: upload -> generate (deferrable) -> show sample, many runs at once. Task retries
# as in production: a POST whose connection drops after it was sent is not repeated by the hook (the
# service may have acted on it), so the task fails and Airflow's retry decides (see reliability.md).
it_soak = _pipeline(
    "it_soak",
    max_active_runs=25,
    deferrable=True,
    poll_interval=5,
    min_poll_interval=2,
    retries=2,
    retry_delay=timedelta(seconds=3),
)

# 2. Waiting on the worker (the task process is SIGKILLed; the retry must reattach).
it_sync_wait = _pipeline(
    "it_sync_wait",
    deferrable=False,
    wait_for_completion=True,
    poll_interval=3,
    min_poll_interval=1,
    retries=1,
    retry_delay=timedelta(seconds=2),
)

# 3. Waiting in the triggerer: triggerer/emulator restarts, mark failed, clear and re-run.
it_deferred = _pipeline("it_deferred", deferrable=True, poll_interval=3, min_poll_interval=1)

# 4. execution_timeout while deferred: the job must be cancelled.
it_exec_timeout = _pipeline(
    "it_exec_timeout",
    deferrable=True,
    poll_interval=3,
    min_poll_interval=1,
    execution_timeout=timedelta(seconds=40),
)
