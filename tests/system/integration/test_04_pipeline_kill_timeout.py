"""Kill and timeout of the pipeline's deferred tasks: the data job and the fine-tune are each cancelled.

- Marking a deferred ``make_training_pairs`` failed (its alignment running) cancels the data job;
  marking a deferred ``fine_tune`` failed cancels the fine-tune. On Airflow 3.3 the triggerer calls
  the trigger's ``on_kill``; before 3.3 the cancelled trigger reads the task's state and cancels.
- ``execution_timeout`` while deferred: Airflow 3 does not time a deferred task out itself, so the
  operator's deadline (``execution_timeout`` less a margin, carried through both of the data job's
  deferrals) makes the trigger fire a timeout; the resumed task cancels the job and fails.

Test names hold ``marking_deferred`` or ``execution_timeout``, so ``make integration-mid`` (Airflow
3.1) runs them too; ``-k pipeline`` selects the pipeline's tests alone.
"""

from __future__ import annotations

import time
from datetime import datetime

import pytest

from tests.system.integration.harness import wait_for

pytestmark = [pytest.mark.integration, pytest.mark.timeout(600)]

DATA_JOB_TASK, FINE_TUNE_TASK = "make_training_pairs", "fine_tune"
# As in dags/seekrflow_pipeline_dags.py (it_pipeline_exec_timeout), and the operator's margin
# (operators/job_base.py: min(30 s, execution_timeout / 10)).
EXECUTION_TIMEOUT_S = {DATA_JOB_TASK: 90.0, FINE_TUNE_TASK: 40.0}
CANCEL_ROUTES = {
    DATA_JOB_TASK: ("cancel_data_job",),
    FINE_TUNE_TASK: ("cancel_fine_tune_put", "cancel_fine_tune_post"),
}
CREATE_ROUTES = ("upload_file", "submit_data_job", "add_files_to_data_job", "start_data_job",
                 "list_projects", "create_project", "create_fine_tune")  # fmt: skip


def margin_s(execution_timeout: float) -> float:
    return min(30.0, execution_timeout / 10)


def cancels(emulator, task_id: str, job_id: str) -> list[dict]:
    return [e for e in emulator.journal() if e["route"] in CANCEL_ROUTES[task_id] and job_id in e["path"]]


def calls(emulator) -> dict[str, int]:
    journal = emulator.journal()
    out = {route: sum(e["route"] == route for e in journal) for route in CREATE_ROUTES}
    out["total"] = len(journal)
    return out


def epoch(iso: str) -> float:
    return datetime.fromisoformat(iso.replace("Z", "+00:00")).timestamp()


def start_pipeline(deployment, emulator, dag: str, tag: str, task_id: str, **config) -> str:
    """Trigger a run and return the job id of ``task_id`` once its job is running and the task is deferred."""
    api = deployment.api
    emulator.reset(**config)
    api.trigger(dag, tag, deployment.conf(tag))
    key = "data_job_id" if task_id == DATA_JOB_TASK else "fine_tune_id"
    job_id = wait_for(f"{task_id}'s {key} in XCom", lambda: api.xcom(dag, tag, task_id, key), 300, 2)

    def waiting() -> bool:
        if task_id == DATA_JOB_TASK:
            # Its second deferral: the alignment was started (the first one waits for ingestion).
            running = bool(emulator.data_job(job_id)["alignment_job_id"])
        else:
            running = emulator.fine_tune(job_id)["status"] not in ("completed", "failed", "cancelled")
        return running and api.task_instance(dag, tag, task_id)["state"] == "deferred"

    wait_for(f"{task_id} deferred on a running job", waiting, 240, 1,
             lambda: str(api.task_instances(dag, tag)))  # fmt: skip
    return job_id


def job_status(emulator, task_id: str, job_id: str) -> str:
    if task_id == DATA_JOB_TASK:
        return emulator.data_job(job_id)["status"]
    return emulator.fine_tune(job_id)["status"]


def mark_deferred_failed(deployment, emulator, figures, task_id: str, tag: str, **config) -> None:
    api, dag = deployment.api, "it_pipeline_deferred"
    started = time.monotonic()
    job_id = start_pipeline(deployment, emulator, dag, tag, task_id, **config)
    time.sleep(3)  # the trigger is polling in the triggerer
    marked_at = time.time()
    api.set_ti_state(dag, tag, task_id, "failed")

    found = wait_for(f"{CANCEL_ROUTES[task_id]} of {job_id} in the journal",
                     lambda: cancels(emulator, task_id, job_id), 90)  # fmt: skip
    latency = found[0]["ts"] - marked_at
    status = wait_for(
        f"{job_id} to be cancelled",
        lambda: (s := job_status(emulator, task_id, job_id)) == "cancelled" and s,
        30,
    )
    assert api.wait_run(dag, tag, timeout=120) == "failed"
    tis = api.task_instances(dag, tag)
    journal = calls(emulator)
    figures[f"pipeline_kill_mark_failed_{task_id}"] = {
        "job_id": job_id,
        "job_status": status,
        "cancel_latency_s": round(latency, 1),
        "cancel_calls": len(cancels(emulator, task_id, job_id)),
        "calls": journal,
        "task_states": {t: ti["state"] for t, ti in tis.items()},
        "duration_s": round(time.monotonic() - started, 1),
    }
    assert tis[task_id]["state"] == "failed"
    assert journal["submit_data_job"] == 1 and journal["start_data_job"] == 1
    if task_id == DATA_JOB_TASK:
        assert journal["create_fine_tune"] == 0
        assert tis[FINE_TUNE_TASK]["state"] == "upstream_failed"
    else:
        assert journal["create_fine_tune"] == 1 and journal["create_project"] == 1
        assert tis[DATA_JOB_TASK]["state"] == "success"


def execution_timeout_while_deferred(deployment, emulator, figures, task_id: str, tag: str, **config) -> None:
    api, dag = deployment.api, "it_pipeline_exec_timeout"
    started = time.monotonic()
    job_id = start_pipeline(deployment, emulator, dag, tag, task_id, **config)
    deferred = time.monotonic()
    state = api.wait_ti_state(dag, tag, task_id, ["failed", "success", "up_for_retry"], timeout=240)
    ended = time.monotonic() - deferred
    found = wait_for(f"{CANCEL_ROUTES[task_id]} of {job_id} in the journal",
                     lambda: cancels(emulator, task_id, job_id), 30)  # fmt: skip
    status = job_status(emulator, task_id, job_id)
    ti = api.task_instance(dag, tag, task_id)
    limit = EXECUTION_TIMEOUT_S[task_id]
    task_start = epoch(ti["start_date"])
    deadline = task_start + limit - margin_s(limit)  # when the operator's trigger fires its timeout
    assert api.wait_run(dag, tag, timeout=120) == "failed"
    journal = calls(emulator)
    figures[f"pipeline_kill_execution_timeout_{task_id}"] = {
        "job_id": job_id,
        "execution_timeout_s": limit,
        "task_state": state,
        "try_number": ti["try_number"],
        "ended_s_after_deferral": round(ended, 1),
        "cancelled_s_after_task_start": round(found[0]["ts"] - task_start, 1),
        "cancel_latency_s": round(found[0]["ts"] - deadline, 1),
        "job_status": status,
        "cancel_calls": len(cancels(emulator, task_id, job_id)),
        "calls": journal,
        "duration_s": round(time.monotonic() - started, 1),
    }
    assert state == "failed"
    assert status == "cancelled"
    assert journal["submit_data_job"] == 1 and journal["start_data_job"] == 1
    assert journal["create_fine_tune"] == (1 if task_id == FINE_TUNE_TASK else 0)
    # The trigger's timeout comes before the limit; the resumed task cancels soon after.
    assert found[0]["ts"] - task_start < limit + 60


def test_pipeline_marking_deferred_data_job_failed_cancels_data_job(deployment, emulator, figures):
    mark_deferred_failed(
        deployment,
        emulator,
        figures,
        DATA_JOB_TASK,
        "pipe-kill-data-job",
        job_duration=300.0,
        ingestion_seconds=1.0,
    )


def test_pipeline_marking_deferred_fine_tune_failed_cancels_fine_tune(deployment, emulator, figures):
    mark_deferred_failed(
        deployment, emulator, figures, FINE_TUNE_TASK, "pipe-kill-fine-tune",
        job_duration=5.0, ingestion_seconds=1.0, fine_tune_duration=300.0,
    )  # fmt: skip


def test_pipeline_execution_timeout_while_deferred_cancels_data_job(deployment, emulator, figures):
    execution_timeout_while_deferred(
        deployment, emulator, figures, DATA_JOB_TASK, "pipe-timeout-data-job",
        job_duration=300.0, ingestion_seconds=1.0,
    )  # fmt: skip


def test_pipeline_execution_timeout_while_deferred_cancels_fine_tune(deployment, emulator, figures):
    execution_timeout_while_deferred(
        deployment, emulator, figures, FINE_TUNE_TASK, "pipe-timeout-fine-tune",
        job_duration=5.0, ingestion_seconds=1.0, fine_tune_duration=300.0,
    )  # fmt: skip
