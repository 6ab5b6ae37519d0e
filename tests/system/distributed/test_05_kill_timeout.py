"""Kill and execution_timeout on the CeleryExecutor deployment: each job is cancelled, whichever triggerer waits on it.

The checks of tests/system/integration/test_04_pipeline_kill_timeout.py (one triggerer), with several runs
side by side so their waits spread over ``triggerer-1`` and ``triggerer-2`` (whichever polls first
takes a new trigger). For every run, the triggerer holding the wait is read from the ``trigger`` table and
the trigger logs (``<try log>.trigger.<triggerer job id>.log``) say which triggerer acted:

- marking a deferred ``make_training_pairs`` (alignment running) or ``fine_tune`` failed: the
  holder's trigger ``on_kill`` cancels the job, with exactly one cancel call;
- ``execution_timeout`` while deferred (``it_pipeline_exec_timeout``): the holder fires the
  operator's deadline as a timeout event, the task resumes on a Celery worker, which cancels the
  job (one call), and the task fails.

Both kinds of wait run side by side: every job is long (alignment and fine-tune 300 s) and the
fine-tune runs' alignments are ended at once with the emulator's forced completion. If a round's
waits all landed on one triggerer, another round runs with that triggerer frozen (SIGSTOP) until the
new waits are held, so they land on the other (at most ``MAX_ROUNDS``). Figures:
``figures["kill_timeout"]``.
"""

from __future__ import annotations

import collections
import os
import statistics
import time

import pytest

from tests.system.distributed.steering import frozen
from tests.system.integration.harness import wait_for
from tests.system.integration.test_04_pipeline_kill_timeout import (
    DATA_JOB_TASK,
    EXECUTION_TIMEOUT_S,
    FINE_TUNE_TASK,
    calls,
    cancels,
    epoch,
    job_status,
    margin_s,
)

pytestmark = [pytest.mark.distributed, pytest.mark.timeout(900)]

KILL_DAG, TIMEOUT_DAG = "it_pipeline_deferred", "it_pipeline_exec_timeout"
RUNS_PER_TASK = int(os.environ.get("IT_DIST_KILL_RUNS", "3"))
MAX_ROUNDS = 3
# A triggerer takes every unassigned trigger when it polls, so waits deferred in the same second land
# on one triggerer (a first run of the timeout test put a whole round on each in turn); runs triggered
# a few seconds apart defer apart, and each wait goes to whichever triggerer polls next.
STAGGER_S = 3.0
TRIGGERERS = {"triggerer-1", "triggerer-2"}
# Nothing ends by itself during a test; ingestion is quick so the data job's alignment starts soon.
LONG_JOBS = {"job_duration": 300.0, "ingestion_seconds": 1.0, "fine_tune_duration": 300.0}
SHORT = {DATA_JOB_TASK: "data", FINE_TUNE_TASK: "ft"}
ENDED = ("failed", "success", "up_for_retry", "upstream_failed")
TERMINAL_JOB = ("completed", "failed", "cancelled")


def held(deployment, dag: str) -> dict[tuple[str, str], tuple[str, int]]:
    """(run id, task id) -> (hostname, job id) of the triggerer holding that deferred task's trigger."""
    out = {}
    for host, rows in deployment.triggers_by_triggerer().items():
        for row in rows:
            if row["dag_id"] == dag and host != "unassigned":
                out[(row["run_id"], row["task_id"])] = (host, row["triggerer_job_id"])
    return out


def logged_by(deployment, dag: str, tag: str, task_id: str, needle: str) -> list[str]:
    """Hostnames of the triggerers whose trigger log of this task holds ``needle``."""
    hosts = {
        r["id"]: r["hostname"]
        for r in deployment.db_query("select id, hostname from job where job_type = 'TriggererJob'")
    }
    folder = deployment.home / "logs" / f"dag_id={dag}" / f"run_id={tag}" / f"task_id={task_id}"
    found = []
    for path in folder.glob("attempt=*.log.trigger.*.log"):
        if needle in path.read_text(errors="replace"):
            job_id = int(path.name.split(".")[-2])
            found.append(hosts.get(job_id, f"job {job_id}"))
    return sorted(found)


def xcom_or_none(api, dag: str, tag: str, task_id: str, key: str):
    try:
        return api.xcom(dag, tag, task_id, key)
    except RuntimeError:  # not pushed yet (404)
        return None


def start_round(deployment, dag: str, prefix: str) -> dict[str, dict]:
    """Trigger ``RUNS_PER_TASK`` runs per task, ``STAGGER_S`` apart; return tag -> the run's record."""
    runs = {
        f"{prefix}{SHORT[task]}-{i}": {"task_id": task}
        for i in range(RUNS_PER_TASK)
        for task in (DATA_JOB_TASK, FINE_TUNE_TASK)
    }
    for tag in runs:
        deployment.api.trigger(dag, tag, deployment.conf(tag))
        time.sleep(STAGGER_S)
    return runs


def poll_run(deployment, emulator, dag: str, tag: str, run: dict, holders: dict) -> None:
    """Move a run's record on: its job id, task state, and holder while deferred on its running job."""
    api, task = deployment.api, run["task_id"]
    if "data_job_id" not in run:
        if not (data_job_id := xcom_or_none(api, dag, tag, DATA_JOB_TASK, "data_job_id")):
            return
        run["data_job_id"] = data_job_id
    alignment = emulator.data_job(run["data_job_id"])["alignment_job_id"]
    if task == DATA_JOB_TASK:
        run["job_id"] = run["data_job_id"] if alignment else None  # its second deferral: alignment started
    elif alignment and not run.get("forced"):
        # The fine-tune runs need no wait for their (300 s) alignment: end it now, completed.
        emulator.admin("POST", f"alignment/{alignment}/fail", {"status": "completed"})
        run["forced"] = True
    elif run.get("forced") and not run.get("job_id"):
        run["job_id"] = xcom_or_none(api, dag, tag, FINE_TUNE_TASK, "fine_tune_id")
    run["state"] = api.task_instance(dag, tag, task)["state"]
    waiting = run.get("job_id") and run["state"] == "deferred" and (tag, task) in holders
    if waiting and job_status(emulator, task, run["job_id"]) not in TERMINAL_JOB:
        run["holder"], run["triggerer_job_id"] = holders[(tag, task)]
        run.setdefault("held_by", set()).add(run["holder"])
        run.setdefault("held_at", time.time())


def watch(deployment, emulator, dag: str, runs: dict[str, dict], done, timeout: float) -> None:
    def step() -> bool:
        holders = held(deployment, dag)
        for tag, run in runs.items():
            if not done(run):
                poll_run(deployment, emulator, dag, tag, run, holders)
        return all(done(run) for run in runs.values())

    wait_for(f"{dag} runs", step, timeout, 1,
             lambda: str({tag: {k: v for k, v in r.items() if k != "held_by"} for tag, r in runs.items()}))  # fmt: skip


def rounds(deployment, emulator, dag: str, prefix: str, play) -> list[dict]:
    """Play rounds of runs until both triggerers held some of the waits; return every run's record.

    Waits clump: a triggerer busy with triggers loops faster, so it polls first and takes the next
    one too (a CI run put three whole rounds on ``triggerer-2``). When every wait so far went to one
    triggerer, the next round starts with that one frozen until all the round's waits are held, so
    they go to the other; it holds none of them, so nothing of the test moves when its heartbeat
    goes stale, and it resumes before the round is played.
    """
    emulator.reset(**LONG_JOBS)
    records: list[dict] = []
    for number in range(1, MAX_ROUNDS + 1):
        seen = {r.get("holder") for r in records} & TRIGGERERS
        if len(seen) == 1:
            with frozen(deployment.components[seen.pop()]):
                runs = start_round(deployment, dag, f"{prefix}r{number}-")
                watch(deployment, emulator, dag, runs, lambda r: "held_at" in r, 300)
        else:
            runs = start_round(deployment, dag, f"{prefix}r{number}-")
        play(runs)
        records += [{"tag": tag, "round": number, **run} for tag, run in runs.items()]
        if {r.get("holder") for r in records} >= TRIGGERERS:
            break
    return records


def by_triggerer(records: list[dict], key: str) -> dict[str, dict]:
    """Per holder and task: how many waits, and min/mean/max of ``key``."""
    groups: dict[str, list[float]] = collections.defaultdict(list)
    for r in records:
        groups[f"{r.get('holder')}/{r['task_id']}"].append(r[key])
    return {
        group: {"n": len(v), "min": min(v), "mean": round(statistics.mean(v), 2), "max": max(v)}
        for group, v in sorted(groups.items())
    }


def first_cancel(emulator, tag: str, run: dict, timeout: float) -> dict:
    """The journal entry of the first cancel call of the run's job."""
    what = f"the cancel of {run.get('job_id')} ({tag})"
    return wait_for(what, lambda: cancels(emulator, run["task_id"], run.get("job_id")), timeout)[0]


def check_calls(emulator, records: list[dict]) -> dict[str, int]:
    """One data job per run, a fine-tune for the fine-tune runs only (no resubmission anywhere)."""
    journal = calls(emulator)
    assert journal["submit_data_job"] == journal["start_data_job"] == len(records), journal
    assert journal["create_fine_tune"] == sum(r["task_id"] == FINE_TUNE_TASK for r in records), journal
    return journal


def measured_rounds(
    deployment, emulator, figures, dag: str, prefix: str, play, name: str, *spread: str
) -> list[dict]:
    """The records of ``rounds``, checked by ``check_calls``.

    Their figures go to ``figures["kill_timeout"][name]``, with those of each ``spread`` key by triggerer.
    """
    started = time.monotonic()
    records = rounds(deployment, emulator, dag, prefix, play)
    journal = check_calls(emulator, records)
    figures.setdefault("kill_timeout", {})[name] = result = {
        "runs_per_task_and_round": RUNS_PER_TASK,
        "rounds": max(r["round"] for r in records),
        **{f"{key}_by_triggerer": by_triggerer(records, key) for key in spread},
        "runs": [{k: sorted(v) if isinstance(v, set) else v for k, v in r.items()} for r in records],
        "calls": journal,
        "duration_s": round(time.monotonic() - started, 1),
    }
    print(f"kill_timeout {name}:", result)
    return records


def test_kill_timeout_marking_deferred_failed_cancels_on_both_triggerers(deployment, emulator, figures):
    api = deployment.api

    def play(runs: dict[str, dict]) -> None:
        watch(deployment, emulator, KILL_DAG, runs, lambda r: "held_at" in r, 300)
        time.sleep(3)  # every trigger is polling in its triggerer
        holders = held(deployment, KILL_DAG)
        for tag, run in runs.items():
            holder = holders.get((tag, run["task_id"]), ("unassigned", None))
            run["holder"], run["triggerer_job_id"] = holder
            run["held_by"].add(holder[0])
            run["marked_at"] = time.time()
            api.set_ti_state(KILL_DAG, tag, run["task_id"], "failed")
        for tag, run in runs.items():
            run["cancel_latency_s"] = round(first_cancel(emulator, tag, run, 90)["ts"] - run["marked_at"], 2)
        for tag, run in runs.items():
            run["run_state"] = api.wait_run(KILL_DAG, tag, timeout=120)
            run["task_state"] = api.task_instance(KILL_DAG, tag, run["task_id"])["state"]
            run["job_status"] = job_status(emulator, run["task_id"], run["job_id"])
            run["cancel_calls"] = len(cancels(emulator, run["task_id"], run["job_id"]))
            # The cancelling triggerer logs "Cancelled <job> on kill" in the trigger log it writes.
            run["killed_by"] = wait_for(f"{tag}'s on_kill in a trigger log", lambda t=tag, r=run: logged_by(
                deployment, KILL_DAG, t, r["task_id"], "on kill"), 30)  # fmt: skip

    records = measured_rounds(
        deployment, emulator, figures, KILL_DAG, "dist-kill-", play, "mark_failed", "cancel_latency_s"
    )
    for r in records:
        assert r["job_status"] == "cancelled", r
        assert r["cancel_calls"] == 1, r
        assert r["task_state"] == "failed" and r["run_state"] == "failed", r
        assert r["killed_by"] == [r["holder"]], r
    assert {r["holder"] for r in records} == TRIGGERERS, [(r["tag"], r["holder"]) for r in records]


def test_kill_timeout_execution_timeout_while_deferred_cancels_on_both_triggerers(
    deployment, emulator, figures
):
    api = deployment.api

    def play(runs: dict[str, dict]) -> None:
        # Until every task ended; the holder is noted on every poll while the task waits.
        watch(deployment, emulator, TIMEOUT_DAG, runs, lambda r: r.get("state") in ENDED, 400)
        for tag, run in runs.items():
            task, job_id = run["task_id"], run.get("job_id")
            cancelled_at = first_cancel(emulator, tag, run, 30)["ts"]
            ti = api.task_instance(TIMEOUT_DAG, tag, task)
            limit = EXECUTION_TIMEOUT_S[task]
            task_start = epoch(ti["start_date"])
            deadline = task_start + limit - margin_s(limit)  # when the operator's trigger fires its timeout
            run.update(
                execution_timeout_s=limit,
                try_number=ti["try_number"],
                worker=ti["hostname"],
                cancelled_s_after_task_start=round(cancelled_at - task_start, 1),
                cancel_after_deadline_s=round(cancelled_at - deadline, 1),
                job_status=job_status(emulator, task, job_id),
                cancel_calls=len(cancels(emulator, task, job_id)),
                run_state=api.wait_run(TIMEOUT_DAG, tag, timeout=120),
                # The holder logs "Trigger fired event" with the event's "... when the wait timed out".
                fired_by=logged_by(deployment, TIMEOUT_DAG, tag, task, "when the wait timed out"),
            )

    spread = ("cancel_after_deadline_s", "cancelled_s_after_task_start")
    records = measured_rounds(
        deployment, emulator, figures, TIMEOUT_DAG, "dist-timeout-", play, "execution_timeout", *spread
    )
    for r in records:
        assert r["state"] == "failed" and r["run_state"] == "failed", r
        assert r["job_status"] == "cancelled", r
        assert r["cancel_calls"] == 1, r
        assert r.get("holder"), f"{r['tag']} was never seen deferred on its running job: {r}"
        assert r["held_by"] == {r["holder"]} and r["fired_by"] == [r["holder"]], r
        # The trigger's timeout comes before the limit; the resumed task cancels soon after.
        assert r["cancelled_s_after_task_start"] < r["execution_timeout_s"] + 60, r
    assert {r.get("holder") for r in records} == TRIGGERERS, [(r["tag"], r.get("holder")) for r in records]
