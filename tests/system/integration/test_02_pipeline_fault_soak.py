"""Fault soak of the whole pipeline: upload -> data job -> fine-tune (project by name), many runs at once.

``it_pipeline_soak`` (tests/system/integration/dags/seekrflow_pipeline_dags.py) runs concurrently against a
faulty service. Every request the pipeline makes that must not happen twice (create data job, add
files, start, create project, create fine-tune) is certain to get a 500, a 429 with Retry-After,
two answers dropped *after* the service acted on them and a 502 and a 504 answered after it acted
(the ambiguous cases), then 10 % of its answers (and the uploads') lost after acting as 502/504
and a further 10 % dropped at random; every route, polls included, gets 429, 500, 502, 503, 1 s and
2 s delays and connections dropped before processing at ``IT_SOAK_FAULT_RATE``.

Judged from the emulator's stored state and journal: every run succeeded, and each run has exactly
one data job (with exactly its three uploaded files, started once: one alignment job), one project,
one fine-tune (trained on that data job's output, completed, with a model) and one stored file per
source document: no duplicate, nothing lost.
"""

from __future__ import annotations

import collections
import os
import statistics
from datetime import datetime

import pytest

from tests.system.integration.pipeline_checks import (
    ONCE_ROUTES,
    SHARED_KINDS,
    assert_every_run_whole,
    check_pipeline_runs,
    fault_rules,
    run_under_faults,
)

pytestmark = [pytest.mark.integration, pytest.mark.timeout(1800)]

RUNS = int(os.environ.get("IT_PIPELINE_SOAK_RUNS", "20"))
FAULT_RATE = float(os.environ.get("IT_SOAK_FAULT_RATE", "0.2"))
DAG = "it_pipeline_soak"


def _seconds(run: dict) -> float | None:
    if not run.get("start_date") or not run.get("end_date"):
        return None
    start, end = (datetime.fromisoformat(run[k].replace("Z", "+00:00")) for k in ("start_date", "end_date"))
    return (end - start).total_seconds()


def test_pipeline_fault_soak(deployment, emulator, figures):
    api = deployment.api
    emulator.reset(job_duration=8.0, ingestion_seconds=2.0, fine_tune_duration=12.0)
    tags = [f"pipe-soak-{i:03d}" for i in range(RUNS)]
    runs, wall, journal = run_under_faults(
        deployment, emulator, DAG, tags, fault_rules(FAULT_RATE), "pipeline soak runs"
    )

    failed = sorted(tag for tag, run in runs.items() if run["state"] != "success")
    faults = collections.Counter(e["fault"] for e in journal if e["fault"])
    faults_on_once_routes = {
        route: dict(collections.Counter(e["fault"] for e in journal if e["route"] == route and e["fault"]))
        for route in ONCE_ROUTES
    }
    by_route = collections.Counter(e["route"] for e in journal)
    # Other tests share the emulator: count this soak's own records only.
    problems, records = check_pipeline_runs(deployment, DAG, tags, "pipe-soak-", failed)

    retried = collections.Counter()
    for tag in tags:
        for task_id, ti in api.task_instances(DAG, tag).items():
            if ti["try_number"] > 1:
                retried[task_id] += ti["try_number"] - 1
    run_seconds = [s for s in map(_seconds, runs.values()) if s is not None]

    figures["pipeline_soak"] = {
        "runs": RUNS,
        "succeeded": RUNS - len(failed),
        "failed": failed,
        "wall_s": round(wall, 1),
        "run_s_median": round(statistics.median(run_seconds), 1) if run_seconds else None,
        "run_s_max": round(max(run_seconds), 1) if run_seconds else None,
        "task_retries": dict(sorted(retried.items())),
        "requests": len(journal),
        "faulted": sum(faults.values()),
        "fault_share": round(sum(faults.values()) / max(1, len(journal)), 3),
        "faults_by_kind": dict(sorted(faults.items())),
        "faults_on_once_routes": faults_on_once_routes,
        "requests_by_route": dict(sorted(by_route.items(), key=lambda kv: str(kv[0]))),
        **records,
        "runs_with_problems": problems,
    }
    print(figures["pipeline_soak"])
    assert_every_run_whole(failed, problems, records, RUNS)
    for route in ONCE_ROUTES:
        for kind in ("500", "429", "drop_after", "502_after", "504_after"):
            assert faults_on_once_routes[route].get(kind, 0) > 0, f"no {kind} fault on {route}"
    for kind in (*SHARED_KINDS, "drop_after"):
        assert faults[kind] > 0, f"no {kind} fault was injected"
    assert figures["pipeline_soak"]["fault_share"] >= FAULT_RATE * 0.8
