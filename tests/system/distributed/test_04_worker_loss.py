"""Losing a Celery worker mid-task: the retry finishes the work without a second upload or job (issue 13).

A worker is SIGKILLed (its whole process group: the Celery worker, its pool and the task process),
so its try neither reports nor heartbeats. The scheduler fails the try after
``TASK_HEARTBEAT_TIMEOUT_S`` and queues the retry, which the other worker runs (the killed one comes
back only once the retry is running). Two moments, one ``it_pipeline_sync`` run each:

- during ``upload_documents``: the second of three uploads is held in the emulator (a ``delay``
  fault) and the worker is killed while it is in flight, one file already stored and recorded in the
  task state store, the second noted there as sent. The held upload is stored after the kill (its
  client is gone); the retry must reuse both and upload only the third;
- during ``make_training_pairs``' wait on the worker (``deferrable=False``): the data job is created,
  its files attached and its alignment started and still running when the worker dies. The retry
  must reattach to that job (found in the task state store): no second create, attach or start.

Each run must then succeed with one of each record (``check_pipeline_runs``). The times from kill
to the failed try, to the running retry and to the run's end go into ``figures["worker_loss"]``.
"""

from __future__ import annotations

import collections
import time
from datetime import datetime, timezone
from pathlib import Path

import pytest

from tests.system.distributed.conftest import SYNC_DAG, TASK_HEARTBEAT_TIMEOUT_S
from tests.system.integration.airflow_api import TERMINAL_RUN_STATES
from tests.system.integration.harness import wait_for
from tests.system.integration.pipeline_checks import ONCE_ROUTES, check_pipeline_runs

pytestmark = [pytest.mark.distributed, pytest.mark.timeout(900)]

UPLOAD, DATA_JOB = "upload_documents", "make_training_pairs"
# The held upload must outlive the kill by far; the client's read timeout (120 s) must not end it first.
HELD_UPLOAD_S = 30.0
# Long enough that the alignment is still running when the retry starts (heartbeat timeout + retry).
SLOW_ALIGNMENT_S = 100.0
IN_PROGRESS = ("pending", "queued", "running")


def _running_ti(deployment, tag: str, task_id: str) -> dict:
    """The task's try once it runs on a worker (hostname set: the worker's component name)."""
    return wait_for(
        f"{tag}/{task_id} to run on a worker",
        lambda: (
            (ti := deployment.api.task_instance(SYNC_DAG, tag, task_id))["state"] == "running"
            and ti.get("hostname")
            and ti
        ),
        240,
        0.5,
    )


def _processes_of(name: str) -> list[int]:
    """Pids of live processes started by component ``name`` (it alone has ``IT_HOSTNAME=<name>``)."""
    needle = f"IT_HOSTNAME={name}\0".encode()
    pids = []
    for environ in Path("/proc").glob("[0-9]*/environ"):
        try:
            if needle in environ.read_bytes():
                pids.append(int(environ.parent.name))
        except OSError:  # gone meanwhile, or not ours
            continue
    return pids


def _task_log(deployment, tag: str, task_id: str, try_number: int) -> str:
    """The try's task log as the worker wrote it under AIRFLOW_HOME/logs ('' if none)."""
    pattern = f"dag_id={SYNC_DAG}/run_id={tag}/task_id={task_id}/attempt={try_number}.log"
    return "\n".join(p.read_text(errors="replace") for p in (deployment.home / "logs").glob(pattern))


def _kill_and_follow(deployment, tag: str, task_id: str, on_retry=None) -> dict:
    """
    SIGKILL the worker running the task's try, follow the try to its retry and the run to its end.

    The killed worker is started again once the retry runs (so the retry ran on the other worker),
    and both workers answer before this returns. ``on_retry()`` runs when the retry is first seen
    running; what it returns is kept. Times are seconds after the kill, seen by 1 s polling.
    """
    api = deployment.api
    ti = api.task_instance(SYNC_DAG, tag, task_id)
    killed, try_at_kill = ti["hostname"], ti["try_number"]
    worker = deployment.components[killed]
    kill_wall, t0 = time.time(), time.monotonic()
    worker.kill()
    killed_at = datetime.fromtimestamp(kill_wall, timezone.utc).isoformat()
    out: dict = {"task": task_id, "killed_worker": killed, "killed_try": try_at_kill, "killed_at": killed_at}
    for _ in range(50):  # SIGKILL is delivered to the group at once, but dies not quite at once
        if not (left := _processes_of(killed)):
            break
        time.sleep(0.1)
    out["processes_left_after_kill"] = left
    states: list[str] = []

    def step() -> bool:
        now = round(time.monotonic() - t0, 1)
        ti = api.task_instance(SYNC_DAG, tag, task_id)
        if not states or states[-1] != f"{ti['state']}#{ti['try_number']}":
            states.append(f"{ti['state']}#{ti['try_number']}")
        retried = ti["try_number"] > try_at_kill
        if "try_failed_s" not in out and (retried or ti["state"] in ("up_for_retry", "failed")):
            out["try_failed_s"] = now
        if "retry_running_s" not in out and retried and ti["state"] in ("running", "success"):
            out["retry_running_s"], out["retry_worker"] = now, ti["hostname"]
            out["on_retry"] = on_retry() if on_retry else None
            worker.start()  # back for the tests after this one
        state = api.run_state(SYNC_DAG, tag)
        if state in TERMINAL_RUN_STATES:
            out["run_end_s"], out["run_state"] = now, state
            return True
        return False

    try:
        wait_for(f"{tag} to end after {killed} was killed", step, 600, 1, lambda: str(states))
    finally:
        if not worker.alive:
            worker.start()
        deployment.wait_distributed_ready()
    out["task_states_seen"] = states
    # The scheduler's own times (the metadata DB, same clock): when it ended the killed try.
    rows = deployment.db_query(
        "select try_number, state, hostname, end_date from task_instance_history"
        " where dag_id = %s and run_id = %s and task_id = %s order by try_number",
        (SYNC_DAG, tag, task_id),
    )
    ended = [r for r in rows if r["try_number"] == try_at_kill and r["end_date"] is not None]
    if ended:
        out["killed_try_end_s_db"] = round(ended[0]["end_date"].timestamp() - kill_wall, 1)
        out["killed_try_state_db"] = ended[0]["state"]
    final = api.task_instance(SYNC_DAG, tag, task_id)
    out["tries"], out["final_worker"] = final["try_number"], final["hostname"]
    return out


def _check_run(deployment, tag: str, loss: dict, journal: list[dict]) -> dict:
    """What every kill must leave: one retry on the other worker, a run that succeeded, one of each."""
    problems, records = check_pipeline_runs(deployment, SYNC_DAG, [tag], tag)
    routes = collections.Counter(e["route"] for e in journal)
    loss.update(records)
    loss["requests"] = {r: routes[r] for r in ("upload_file", "get_file", *ONCE_ROUTES)}
    print(f"worker loss during {loss['task']}: {loss}")
    assert loss["run_state"] == "success", loss
    assert not problems, f"duplicates, losses or wrong links after the kill: {problems}"
    assert loss["processes_left_after_kill"] == [], "the kill left processes of the worker running"
    assert loss["tries"] == loss["killed_try"] + 1, "the killed try was retried exactly once"
    assert loss["retry_worker"] != loss["killed_worker"], loss
    # Only the heartbeat timeout ends a lost worker's try (it says nothing); counted from the last
    # heartbeat, a few seconds before the kill, so the bound is loose.
    assert loss["try_failed_s"] >= TASK_HEARTBEAT_TIMEOUT_S / 2, loss
    for route in ONCE_ROUTES:  # a second create/attach/start would be a duplicate on the service
        assert routes[route] == 1, f"{route} called {routes[route]} times: {loss['requests']}"
    return routes


def test_worker_loss_during_upload_uploads_only_missing_files(deployment, emulator, figures):
    api, tag = deployment.api, "wl-upload-1"
    emulator.reset(job_duration=6.0, ingestion_seconds=2.0, fine_tune_duration=10.0)
    # The first upload passes, the second is held: the kill finds a partial batch (one file stored).
    emulator.admin("PUT", "faults", [
        {"route": "upload_file", "kind": "delay", "delay": 0.0, "count": 1},
        {"route": "upload_file", "kind": "delay", "delay": HELD_UPLOAD_S, "count": 1},
    ])  # fmt: skip
    api.trigger(SYNC_DAG, tag, deployment.conf(tag))
    _running_ti(deployment, tag, UPLOAD)

    def held_upload() -> bool:  # the second upload reached the emulator and is not answered yet
        uploads = [e for e in emulator.journal() if e["route"] == "upload_file"]
        return len(uploads) >= 2 and uploads[1]["status"] is None

    wait_for("the second upload to be in flight", held_upload, 120, 0.3)
    first = [f for f in emulator.stored_files() if f["filename"].startswith(f"{tag}-")]
    recorded = api.state_store(SYNC_DAG, tag, UPLOAD).get("uploaded_files") or []
    # The first file recorded with its id, the second noted as sent (no id: no answer yet).
    assert len(first) == 1 and [e.get("file_id") for e in recorded] == [first[0]["id"], None], (
        first,
        recorded,
    )
    assert recorded[1]["source"].endswith(".md") and recorded[1].get("sent_at"), recorded

    loss = _kill_and_follow(deployment, tag, UPLOAD)
    journal = emulator.journal()
    # Evidence if a file is stored twice: when each copy was stored, against the kill and the retry.
    loss["stored_files"] = sorted(
        (f["created_at"], f["filename"], f["id"])
        for f in emulator.stored_files()
        if f["filename"].startswith(f"{tag}-")
    )
    uploads = [e for e in journal if e["route"] == "upload_file"]
    loss["stored_files_at_kill"] = len(first)
    loss["held_upload_status"] = uploads[1]["status"]  # None: its client was gone when it was answered
    figures.setdefault("worker_loss", {})["during_upload"] = loss  # kept even if a check below fails
    routes = _check_run(deployment, tag, loss, journal)

    # 1 before the kill + the held one (stored after the kill, answered to nobody) + the third on retry.
    assert routes["upload_file"] == 3, [(e["seq"], e["status"], e["fault"]) for e in uploads]
    held = [f for f in emulator.stored_files() if f["filename"] == recorded[1]["source"].rsplit("/", 1)[-1]]
    assert len(held) == 1, held
    final = api.state_store(SYNC_DAG, tag, UPLOAD)["uploaded_files"]
    assert [e["file_id"] for e in final][:2] == [first[0]["id"], held[0]["id"]] and len(final) == 3, final
    assert not any("sent_at" in entry for entry in final), final
    retry_log = _task_log(deployment, tag, UPLOAD, loss["tries"])
    assert f"already uploaded by an earlier try as {first[0]['id']}" in retry_log, retry_log[-3000:]
    assert f"the service stored it as {held[0]['id']}, reusing it" in retry_log, retry_log[-3000:]


def test_worker_loss_during_sync_wait_reattaches_to_the_data_job(deployment, emulator, figures):
    api, tag = deployment.api, "wl-wait-1"
    emulator.reset(job_duration=SLOW_ALIGNMENT_S, ingestion_seconds=2.0, fine_tune_duration=10.0)
    api.trigger(SYNC_DAG, tag, deployment.conf(tag))
    _running_ti(deployment, tag, DATA_JOB)
    # The operator's default name carries the try that created the job: <dag>.<task>.<run_id>.try<n>.
    prefix = f"{SYNC_DAG}.{DATA_JOB}.{tag}.try"

    def started_job() -> dict | None:
        jobs = [
            j for j in emulator.stored_data_jobs() if j["name"].startswith(prefix) and j["alignment_job_id"]
        ]
        return jobs[0] if jobs else None

    job = wait_for("the data job's alignment to start", started_job, 240, 0.5)
    # The try is in its wait once it has polled the started job at least once more.
    start_seq = max((e["seq"] for e in emulator.journal() if e["route"] == "start_data_job"), default=0)
    wait_for(
        "the worker to poll the started data job",
        lambda: any(e["route"] == "get_data_job" and e["seq"] > start_seq for e in emulator.journal()),
        60,
        0.5,
    )
    at_kill = emulator.data_job(job["id"])["status"]
    assert at_kill in IN_PROGRESS, at_kill

    loss = _kill_and_follow(deployment, tag, DATA_JOB, lambda: emulator.data_job(job["id"])["status"])
    loss["data_job_status_at_kill"], loss["data_job_status_at_retry"] = at_kill, loss.pop("on_retry")
    figures.setdefault("worker_loss", {})["during_sync_wait"] = loss
    routes = _check_run(deployment, tag, loss, emulator.journal())

    assert routes["upload_file"] == 3
    assert api.state_store(SYNC_DAG, tag, DATA_JOB)["seekrflow_data_job_id"] == job["id"]
    assert api.xcom(SYNC_DAG, tag, DATA_JOB, "data_job_id") == job["id"]
    # The retry found the job still running: it waited on it (reattached), it did not only reuse a result.
    assert loss["data_job_status_at_retry"] in IN_PROGRESS, loss
    retry_log = _task_log(deployment, tag, DATA_JOB, loss["tries"])
    assert f"Reattaching to job {job['id']}" in retry_log, retry_log[-3000:]
