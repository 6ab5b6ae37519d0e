"""Kill and timeout: marking a deferred task failed, clearing a finished one, execution_timeout."""

from __future__ import annotations

import time

import pytest

from tests.system.integration.harness import wait_for

pytestmark = [pytest.mark.integration, pytest.mark.timeout(600)]


def journal_count(emulator, route: str, job_id: str | None = None) -> int:
    return sum(e["route"] == route and (job_id is None or job_id in e["path"]) for e in emulator.journal())


def deferred_generate(deployment, emulator, dag: str, tag: str) -> str:
    """Trigger run ``tag`` of ``dag`` with 300 s jobs; once ``generate_pairs`` is deferred, its job id."""
    emulator.reset(job_duration=300.0)
    deployment.api.trigger(dag, tag, deployment.conf(tag))
    deployment.api.wait_ti_state(dag, tag, "generate_pairs", ["deferred"], timeout=180)
    return deployment.api.xcom(dag, tag, "generate_pairs", "alignment_job_id")


def test_marking_deferred_task_failed_cancels_job(deployment, emulator, figures):
    api, dag, tag = deployment.api, "it_deferred", "kill-mark-failed"
    job_id = deferred_generate(deployment, emulator, dag, tag)
    time.sleep(3)  # the trigger is running in the triggerer
    marked = time.monotonic()
    api.set_ti_state(dag, tag, "generate_pairs", "failed")

    wait_for(
        "cancel_alignment_job in the journal",
        lambda: journal_count(emulator, "cancel_alignment_job", job_id),
        90,
    )
    latency = time.monotonic() - marked
    status = emulator.job(job_id)["status"]
    assert api.wait_run(dag, tag, timeout=120) == "failed"
    figures["kill_mark_failed"] = {
        "job_status": status,
        "cancel_calls": journal_count(emulator, "cancel_alignment_job", job_id),
        "cancel_latency_s": round(latency, 1),
        "generate_calls": journal_count(emulator, "alignment_generate"),
    }
    assert status == "cancelled"
    assert journal_count(emulator, "alignment_generate") == 1


def test_clear_and_rerun_of_completed_task_submits_nothing(deployment, emulator, figures):
    api, dag, tag = deployment.api, "it_deferred", "kill-clear-rerun"
    emulator.reset(job_duration=5.0)
    api.trigger(dag, tag, deployment.conf(tag))
    assert api.wait_run(dag, tag, timeout=300) == "success"
    first = api.task_instance(dag, tag, "generate_pairs")
    job_id = api.xcom(dag, tag, "generate_pairs", "alignment_job_id")
    assert journal_count(emulator, "alignment_generate") == 1

    api.clear(dag, tag, ["generate_pairs"], include_downstream=True)
    wait_for(
        "the cleared task to run again",
        lambda: (
            (ti := api.task_instance(dag, tag, "generate_pairs"))["try_number"] > first["try_number"]
            and ti["state"] == "success"
        ),
        240,
        2,
    )
    assert api.wait_run(dag, tag, timeout=240) == "success"
    second = api.task_instance(dag, tag, "generate_pairs")
    figures["kill_clear_rerun"] = {
        "try_numbers": [first["try_number"], second["try_number"]],
        "generate_calls": journal_count(emulator, "alignment_generate"),
        "jobs": len(emulator.jobs_for(tag)),
    }
    assert journal_count(emulator, "alignment_generate") == 1
    assert [j["id"] for j in emulator.jobs_for(tag)] == [job_id]
    assert api.xcom(dag, tag, "show_sample_pair")["pairs"] > 0


def test_execution_timeout_while_deferred_cancels_job(deployment, emulator, figures):
    api, dag, tag = deployment.api, "it_exec_timeout", "kill-exec-timeout"
    job_id = deferred_generate(deployment, emulator, dag, tag)
    deferred = time.monotonic()
    api.wait_ti_state(dag, tag, "generate_pairs", ["failed", "success", "up_for_retry"], timeout=180)
    ended = time.monotonic() - deferred
    state = api.task_instance(dag, tag, "generate_pairs")["state"]
    wait_for(
        "cancel_alignment_job in the journal",
        lambda: journal_count(emulator, "cancel_alignment_job", job_id),
        30,
    )
    status = emulator.job(job_id)["status"]
    figures["kill_execution_timeout"] = {
        "execution_timeout_s": 40,
        "task_state": state,
        "ended_s_after_deferral": round(ended, 1),
        "job_status": status,
        "cancel_calls": journal_count(emulator, "cancel_alignment_job", job_id),
    }
    assert state == "failed"
    assert status == "cancelled"
