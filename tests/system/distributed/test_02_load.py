"""The load: a batch of pipeline runs submitted at once, spread over both Celery workers and both triggerers.

``IT_DIST_RUNS`` runs of ``it_pipeline_scale`` (upload -> data job -> fine-tune, every wait deferred,
retries on every task, room for the whole batch to be active) are triggered at once against the
emulator with the soak's fault mix (tests/system/integration/pipeline_checks.py) at ``IT_DIST_FAULT_RATE``:
429 with Retry-After, 500/502/503, delays, connections dropped before the service acted and, on the
routes that must not act twice, answers dropped after it did.

While the batch runs: the ``trigger`` table is sampled to see which triggerer holds which wait, and
the process trees of the triggerers (and, for comparison, the workers and scheduler) are sampled for
CPU, TCP sockets and file descriptors (load_metrics.py). Afterwards: every run succeeded; the
emulator holds exactly one of each record per run; the task tries ran on both workers and the waits
on both triggerers; the figures (status calls per job, triggerer CPU, event-loop lag from Airflow's
watchdog, sockets) go to ``figures["load"]`` and are printed.
"""

from __future__ import annotations

import collections
import os
import time

import pytest

from tests.system.distributed.conftest import SCALE_DAG
from tests.system.distributed.load_metrics import (
    ProcessTreeSampler,
    log_offsets,
    loop_lag,
    status_calls_per_job,
)
from tests.system.integration.harness import wait_for
from tests.system.integration.pipeline_checks import assert_every_run_whole, check_pipeline_runs, fault_rules

pytestmark = [pytest.mark.distributed, pytest.mark.timeout(3600)]

RUNS = int(os.environ.get("IT_DIST_RUNS", "40"))
FAULT_RATE = float(os.environ.get("IT_DIST_FAULT_RATE", "0.2"))
PREFIX = "load-"


def _batch_jobs(emulator, prefix: str) -> dict[str, set[str]]:
    """The batch's job ids by kind, from the emulator's records (as check_pipeline_runs attributes them)."""
    projects = {p["id"] for p in emulator.stored_projects() if f"[run {prefix}" in p["name"]}
    return {
        "data_job": {j["id"] for j in emulator.stored_data_jobs() if f".{prefix}" in j["name"]},
        "alignment_job": {j["id"] for j in emulator.stored_jobs() if f"[run {prefix}" in j["instructions"]},
        "fine_tune": {f["id"] for f in emulator.stored_fine_tunes() if f["project_id"] in projects},
    }


def test_load_batch_of_pipelines_under_faults_on_two_workers_and_two_triggerers(
    deployment, emulator, figures
):
    api = deployment.api
    emulator.reset(job_duration=6.0, ingestion_seconds=2.0, fine_tune_duration=10.0)
    tags = [f"{PREFIX}{i:03d}" for i in range(RUNS)]
    confs = {tag: deployment.conf(tag) for tag in tags}
    if FAULT_RATE > 0:
        emulator.admin("PUT", "faults", fault_rules(FAULT_RATE))

    # trigger id -> the triggerers seen holding it; most of this batch's waits held at once, by triggerer
    holders: dict[int, set[str]] = collections.defaultdict(set)
    peak: collections.Counter[str] = collections.Counter()
    peak_total = 0
    runs: dict[str, dict] = {}
    sampled = {
        name: deployment.components[name].pid for name in (*deployment.triggerers, *deployment.workers)
    }
    sampled["scheduler"] = deployment.components["scheduler"].pid
    sampler = ProcessTreeSampler(sampled)
    trigger_logs = {name: deployment.components[name].log_path for name in deployment.triggerers}
    offsets = log_offsets(trigger_logs)

    def all_done() -> bool:
        nonlocal peak_total
        held = collections.Counter()
        for host, rows in deployment.triggers_by_triggerer().items():
            for row in rows:
                if row["dag_id"] == SCALE_DAG and row["run_id"] in confs and host != "unassigned":
                    holders[row["trigger_id"]].add(host)
                    held[host] += 1
        for host, count in held.items():
            peak[host] = max(peak[host], count)
        peak_total = max(peak_total, sum(held.values()))
        listed = api.dag_runs(SCALE_DAG)
        runs.update({r["dag_run_id"]: r for r in listed if r["dag_run_id"] in confs})
        return sum(r["state"] in ("success", "failed") for r in runs.values()) == RUNS

    sampler.start()
    started = time.monotonic()
    for tag in tags:
        api.trigger(SCALE_DAG, tag, confs[tag])
    submitted = time.monotonic() - started
    try:
        wait_for(f"{RUNS} pipeline runs to end", all_done, 3000, 2,
                 lambda: str(collections.Counter(r["state"] for r in runs.values())))  # fmt: skip
    finally:
        wall = time.monotonic() - started
        processes = sampler.stop()
    journal = emulator.journal()
    emulator.admin("DELETE", "faults")

    failed = sorted(tag for tag, run in runs.items() if run["state"] != "success")
    tries_by_worker: collections.Counter[str] = collections.Counter()
    retried: collections.Counter[str] = collections.Counter()
    durations = []
    for tag in tags:
        for task_id, ti in api.task_instances(SCALE_DAG, tag).items():
            tries_by_worker[ti.get("hostname") or "none"] += 1
            retried[task_id] += max(0, ti["try_number"] - 1)
        run = runs[tag]
        if run.get("start_date") and run.get("end_date"):
            durations.append(_seconds(run["end_date"]) - _seconds(run["start_date"]))
    triggers_by_host: collections.Counter[str] = collections.Counter()
    for hosts in holders.values():
        triggers_by_host.update(hosts)
    problems, records = check_pipeline_runs(deployment, SCALE_DAG, tags, PREFIX, failed)
    faults = collections.Counter(e["fault"] for e in journal if e["fault"])
    status_calls = status_calls_per_job(journal, _batch_jobs(emulator, PREFIX))

    figures["load"] = {
        "runs": RUNS,
        "fault_rate": FAULT_RATE,
        "succeeded": RUNS - len(failed),
        "failed": failed,
        "submit_s": round(submitted, 1),
        "wall_s": round(wall, 1),
        "runs_per_minute": round(60 * RUNS / wall, 1),
        "run_duration_s": {
            "median": round(sorted(durations)[len(durations) // 2], 1) if durations else None,
            "max": round(max(durations), 1) if durations else None,
        },
        "task_instances_by_worker": dict(sorted(tries_by_worker.items())),
        "task_retries": dict(sorted((k, v) for k, v in retried.items() if v)),
        "triggers_seen": len(holders),
        "triggers_by_triggerer": dict(sorted(triggers_by_host.items())),
        "triggers_moved_between_triggerers": sum(len(hosts) > 1 for hosts in holders.values()),
        "peak_waits_held": peak_total,
        "peak_waits_held_by_triggerer": dict(sorted(peak.items())),
        "requests": len(journal),
        "faulted": sum(faults.values()),
        "faults_by_kind": dict(sorted(faults.items())),
        "status_calls": status_calls,
        "processes": processes,
        "triggerer_loop_lag": {
            name: loop_lag(path, offsets[name], wall) for name, path in trigger_logs.items()
        },
        **records,
        "runs_with_problems": problems,
    }
    print(figures["load"])
    assert_every_run_whole(failed, problems, records, RUNS)
    assert set(tries_by_worker) == {"worker-1", "worker-2"}, (
        f"task tries by hostname: {dict(tries_by_worker)}"
    )
    assert set(triggers_by_host) == {"triggerer-1", "triggerer-2"}, (
        f"waits by triggerer: {dict(triggers_by_host)}"
    )
    if FAULT_RATE > 0:  # the mix really happened, every kind of it
        for kind in ("429", "500", "502", "503", "drop_before", "drop_after"):
            assert faults[kind] > 0, f"no {kind} fault injected: {dict(faults)}"
    for name in deployment.triggerers:  # a triggerer that leaks a socket or descriptor per wait would show
        assert processes[name]["fds_end"] <= processes[name]["fds_start"] + 20, processes[name]


def _seconds(timestamp: str) -> float:
    from datetime import datetime

    return datetime.fromisoformat(timestamp.replace("Z", "+00:00")).timestamp()
