"""The CeleryExecutor deployment itself, and a batch of pipelines spread over its workers and triggerers.

A batch of ``it_pipeline_soak`` runs (upload -> data job -> fine-tune, every wait deferred) is
triggered at once against the emulator with the soak's fault mix (tests/integration/pipeline_checks.py)
at ``IT_DIST_FAULT_RATE``. While it runs, the ``trigger`` table is sampled to see which triggerer
holds which wait. Afterwards: every run succeeded; the task tries ran on both Celery workers
(``task_instance.hostname``); both triggerers held waits; and the emulator holds exactly one of
each record per run (files, data job, alignment job, project, fine-tune), as in the soak.
"""

from __future__ import annotations

import collections
import os
import time

import pytest

from tests.distributed.conftest import PIPELINE_DAG
from tests.integration.harness import wait_for
from tests.integration.pipeline_checks import check_pipeline_runs, fault_rules

pytestmark = [pytest.mark.distributed, pytest.mark.timeout(1200)]

RUNS = int(os.environ.get("IT_DIST_RUNS", "8"))
FAULT_RATE = float(os.environ.get("IT_DIST_FAULT_RATE", "0.1"))
PREFIX = "dist-batch-"


def test_every_component_is_a_separate_live_process(deployment, figures):
    names = ["api-server", "scheduler", "dag-processor", "worker-1", "worker-2", "triggerer-1", "triggerer-2"]
    assert sorted(deployment.components) == sorted(names)
    assert deployment.workers == ["worker-1", "worker-2"]
    assert deployment.triggerers == ["triggerer-1", "triggerer-2"]
    assert all(deployment.components[name].alive for name in names)
    assert deployment.redis is not None and deployment.redis.pid is not None
    pids = {deployment.components[name].pid for name in names}
    pids |= {deployment.emulator.process.pid, deployment.redis.pid}
    assert len(pids) == len(names) + 2
    assert deployment.broker_url.startswith("redis://127.0.0.1:")
    assert deployment.env["AIRFLOW__CELERY__RESULT_BACKEND"].startswith("db+postgresql")

    health = deployment.health()
    for part in ("metadatabase", "scheduler", "triggerer", "dag_processor"):
        assert health[part]["status"] == "healthy", health
    assert deployment.celery_workers_alive() == ["worker-1", "worker-2"]
    assert sorted(deployment.triggerers_alive()) == ["triggerer-1", "triggerer-2"]
    figures["components"] = {
        "pids": {name: deployment.components[name].pid for name in names},
        "redis_pid": deployment.redis.pid,
        "health": {part: value.get("status") for part, value in health.items() if isinstance(value, dict)},
    }


def test_pipeline_batch_spreads_over_both_workers_and_both_triggerers(deployment, emulator, figures):
    api = deployment.api
    emulator.reset(job_duration=6.0, ingestion_seconds=2.0, fine_tune_duration=10.0)
    tags = [f"{PREFIX}{i:03d}" for i in range(RUNS)]
    confs = {tag: deployment.conf(tag) for tag in tags}
    if FAULT_RATE > 0:
        emulator.admin("PUT", "faults", fault_rules(FAULT_RATE))

    # trigger id -> the triggerers seen holding it; most of this batch's waits held at once, by triggerer
    holders: dict[int, set[str]] = collections.defaultdict(set)
    peak: collections.Counter[str] = collections.Counter()
    samples = collections.Counter()  # samples with some of the batch's waits held; with both holding some
    runs: dict[str, dict] = {}

    def all_done() -> bool:
        held = collections.Counter()
        for host, rows in deployment.triggers_by_triggerer().items():
            for row in rows:
                if row["dag_id"] == PIPELINE_DAG and row["run_id"] in confs and host != "unassigned":
                    holders[row["trigger_id"]].add(host)
                    held[host] += 1
        for host, count in held.items():
            peak[host] = max(peak[host], count)
        samples["with_waits"] += bool(held)
        samples["both_triggerers_holding"] += len(held) >= 2
        listed = api.get(f"dags/{PIPELINE_DAG}/dagRuns", limit=1000)["dag_runs"]
        runs.update({r["dag_run_id"]: r for r in listed if r["dag_run_id"] in confs})
        return sum(r["state"] in ("success", "failed") for r in runs.values()) == RUNS

    started = time.monotonic()
    for tag in tags:
        api.trigger(PIPELINE_DAG, tag, confs[tag])
    wait_for(f"{RUNS} pipeline runs to end", all_done, 1000, 1,
             lambda: str(collections.Counter(r["state"] for r in runs.values())))  # fmt: skip
    wall = time.monotonic() - started
    journal = emulator.journal()
    emulator.admin("DELETE", "faults")

    failed = sorted(tag for tag, run in runs.items() if run["state"] != "success")
    tries_by_worker: collections.Counter[str] = collections.Counter()
    tasks_by_worker: dict[str, collections.Counter[str]] = collections.defaultdict(collections.Counter)
    retried: collections.Counter[str] = collections.Counter()
    for tag in tags:
        for task_id, ti in api.task_instances(PIPELINE_DAG, tag).items():
            host = ti.get("hostname") or "none"
            tries_by_worker[host] += 1
            tasks_by_worker[host][task_id] += 1
            retried[task_id] += max(0, ti["try_number"] - 1)
    triggers_by_host: collections.Counter[str] = collections.Counter()
    for hosts in holders.values():
        triggers_by_host.update(hosts)
    problems, records = check_pipeline_runs(deployment, PIPELINE_DAG, tags, PREFIX, failed)
    faults = collections.Counter(e["fault"] for e in journal if e["fault"])

    figures["batch"] = {
        "runs": RUNS,
        "fault_rate": FAULT_RATE,
        "succeeded": RUNS - len(failed),
        "failed": failed,
        "wall_s": round(wall, 1),
        "task_instances_by_worker": dict(sorted(tries_by_worker.items())),
        "tasks_by_worker": {host: dict(sorted(c.items())) for host, c in sorted(tasks_by_worker.items())},
        "task_retries": dict(sorted((k, v) for k, v in retried.items() if v)),
        "triggers_seen": len(holders),
        "triggers_by_triggerer": dict(sorted(triggers_by_host.items())),
        "triggers_moved_between_triggerers": sum(len(hosts) > 1 for hosts in holders.values()),
        "peak_waits_held_by_triggerer": dict(sorted(peak.items())),
        "trigger_table_samples": dict(samples),
        "requests": len(journal),
        "faulted": sum(faults.values()),
        "faults_by_kind": dict(sorted(faults.items())),
        **records,
        "runs_with_problems": problems,
    }
    print(figures["batch"])
    assert not failed, f"runs that failed: {failed}"
    assert not problems, f"runs with duplicates, losses or wrong links: {problems}"
    assert records["alignment_files_stored"] == 3 * RUNS
    assert {
        records[k] for k in ("data_jobs", "alignment_jobs", "projects", "fine_tunes", "fine_tunes_completed")
    } == {RUNS}
    assert records["duplicate_files"] == records["lost_files"] == 0
    assert set(tries_by_worker) == {"worker-1", "worker-2"}, (
        f"task tries by hostname: {dict(tries_by_worker)}"
    )
    assert set(triggers_by_host) == {"triggerer-1", "triggerer-2"}, (
        f"waits by triggerer: {dict(triggers_by_host)}"
    )
