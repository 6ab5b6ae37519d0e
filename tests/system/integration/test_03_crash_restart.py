"""Crash and restart: the task process, the triggerer and the SeekrFlow service die mid-job."""

from __future__ import annotations

import os
import signal
import time
from pathlib import Path

import pytest

from airflow_provider_seekrflow.jobs.alignment import ALIGNMENT
from tests.system.integration.harness import wait_for

pytestmark = [pytest.mark.integration, pytest.mark.timeout(600)]


def generates(emulator) -> int:
    return sum(e["route"] == "alignment_generate" for e in emulator.journal())


def test_sigkilled_sync_wait_retry_reattaches(deployment, emulator, figures):
    """SIGKILL the task process while it waits on the worker; the retry reattaches (no 2nd job)."""
    api, dag, tag = deployment.api, "it_sync_wait", "crash-sync-wait"
    emulator.reset(job_duration=40.0)
    pid_dir = deployment.work / "pids" / tag
    api.trigger(dag, tag, deployment.conf(tag, pid_dir=str(pid_dir)))
    pid_file = Path(pid_dir, "try-1.pid")
    wait_for("the first try to start", pid_file.exists, 180)
    # Kill only once the job is submitted and its id is in the task state store.
    store = wait_for(
        "the job id in the task state store",
        lambda: api.state_store(dag, tag, "generate_pairs").get(ALIGNMENT.state_key),
        120,
    )
    job_id = store if isinstance(store, str) else str(store)
    time.sleep(3)  # well into the synchronous wait
    assert api.task_instance(dag, tag, "generate_pairs")["state"] == "running"
    pid = int(pid_file.read_text())
    os.kill(pid, signal.SIGKILL)
    killed_at = time.monotonic()

    assert api.wait_run(dag, tag, timeout=300) == "success"
    ti = api.task_instance(dag, tag, "generate_pairs")
    jobs = emulator.jobs_for(tag)
    figures["crash_sync_wait"] = {
        "killed_pid": pid,
        "try_number": ti["try_number"],
        "generate_calls": generates(emulator),
        "jobs": len(jobs),
        "recovered_in_s": round(time.monotonic() - killed_at, 1),
    }
    assert ti["try_number"] == 2
    assert Path(pid_dir, "try-2.pid").exists()
    assert generates(emulator) == 1
    assert [j["id"] for j in jobs] == [job_id.strip('"')]
    assert api.xcom(dag, tag, "generate_pairs", "alignment_job_id") == jobs[0]["id"]


def test_triggerer_killed_and_restarted_while_deferred(deployment, emulator, figures):
    api, dag, tag = deployment.api, "it_deferred", "crash-triggerer"
    emulator.reset(job_duration=30.0)
    api.trigger(dag, tag, deployment.conf(tag))
    api.wait_ti_state(dag, tag, "generate_pairs", ["deferred"], timeout=180)
    time.sleep(3)
    triggerer = deployment.components["triggerer"]
    old_pid = triggerer.pid
    deployment.restart_component("triggerer", down_for=5)
    restarted_at = time.monotonic()
    deployment.wait_triggerer_alive()

    assert api.wait_run(dag, tag, timeout=300) == "success"
    jobs = emulator.jobs_for(tag)
    figures["crash_triggerer"] = {
        "old_pid": old_pid,
        "new_pid": triggerer.pid,
        "generate_calls": generates(emulator),
        "jobs": len(jobs),
        "completed_s_after_restart": round(time.monotonic() - restarted_at, 1),
    }
    assert generates(emulator) == 1
    assert len(jobs) == 1
    assert api.task_instance(dag, tag, "generate_pairs")["try_number"] == 1


def test_emulator_restarted_mid_job(deployment, emulator, figures):
    """The service goes away for 8 s (SIGKILL) while the trigger polls, then returns with its state."""
    api, dag, tag = deployment.api, "it_deferred", "crash-emulator"
    emulator.reset(job_duration=25.0)
    api.trigger(dag, tag, deployment.conf(tag))
    api.wait_ti_state(dag, tag, "generate_pairs", ["deferred"], timeout=180)
    assert generates(emulator) == 1
    time.sleep(2)
    emulator.restart(down_for=8, hard=True)  # same port and data dir; the journal starts empty
    emulator.reset(job_duration=25.0)

    assert api.wait_run(dag, tag, timeout=300) == "success"
    jobs = emulator.jobs_for(tag)
    polls = sum(e["route"] == "get_alignment_job" for e in emulator.journal())
    figures["crash_emulator"] = {
        "down_s": 8,
        "jobs": len(jobs),
        "generate_calls_after_restart": generates(emulator),
        "polls_after_restart": polls,
    }
    assert len(jobs) == 1
    assert generates(emulator) == 0
    assert polls >= 1
