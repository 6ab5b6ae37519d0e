"""Fault soak of the whole pipeline: upload -> data job -> fine-tune (project by name) -> deploy -> evaluate -> demote.

``it_pipeline_serve_soak`` (tests/system/integration/dags/seekrflow_pipeline_dags.py: ``it_pipeline_soak``
going on to serve its model) runs many times at once against a faulty service. Each run deploys its
fine-tune's model under a name carrying the run's tag, waits until it is Active, evaluates it on 5
prompts drawn from the run's own training pairs (answers in the run's folder of the work directory)
and demotes it in an ``all_done`` teardown.

Every request the pipeline makes that must not happen twice (create data job, add files, start,
create project, create fine-tune, create deployment, demote; promote would too, but the runs never
promote) is certain to get a 500, a 429 with Retry-After, two answers dropped *after* the service
acted on them and a 502 and a 504 answered after it acted (the ambiguous cases), then 10 % of its
answers (and the uploads') lost after acting as 502/504 and a further 10 % dropped at random; every
route, polls and chat completions included, gets 429, 500, 502, 503, 1 s and 2 s delays and
connections dropped before processing at ``IT_SOAK_FAULT_RATE``. Chat completions are kept out of
the answers lost after acting: a lost chat answer is billed and never sent again, and the soak
checks that each answered prompt was billed once. The 500/502s and drops they do get make about 9 %
of prompts errored, which the evaluation's gate (``SERVE_SOAK_PASS_THRESHOLD``, 0.2) tolerates.

Judged from the emulator's stored state and journal: every run succeeded, and each run has exactly
one data job (with exactly its three uploaded files, started once: one alignment job), one project,
one fine-tune (trained on that data job's output, completed, with a model) and one stored file per
source document: no duplicate, nothing lost (pipeline_checks.py). And (serving_checks.py) each run
has exactly one deployment of its name (0 duplicate deployments), serving its own fine-tune's model,
Inactive at the end; its deploy, evaluate and teardown tasks succeeded; its evaluation covered the 5
prompts with none failed and met the threshold; the deployment's token counters equal the
manifest's (each answered prompt reached the service once); and over the batch the service answered
exactly as many chat requests as the evaluations got answers, and no prompt answered 500/502/504 was
sent again.
"""

from __future__ import annotations

import collections
import os
import statistics
from datetime import datetime

import pytest

from tests.system.integration.pipeline_checks import (
    CERTAIN_KINDS,
    ONCE_ROUTES,
    SHARED_KINDS,
    assert_every_run_whole,
    check_pipeline_runs,
    fault_rules,
    run_under_faults,
)
from tests.system.integration.serving_checks import (
    PROMPTS_PER_RUN,
    SERVE_CALLED_ROUTES,
    SERVE_DAG,
    SERVE_ONCE_ROUTES,
    check_chat_requests,
    check_serving_runs,
    serving_conf,
)

pytestmark = [pytest.mark.integration, pytest.mark.timeout(1800)]

RUNS = int(os.environ.get("IT_PIPELINE_SOAK_RUNS", "20"))
FAULT_RATE = float(os.environ.get("IT_SOAK_FAULT_RATE", "0.2"))
DAG = SERVE_DAG
PREFIX = "pipe-soak-"


def _seconds(run: dict) -> float | None:
    if not run.get("start_date") or not run.get("end_date"):
        return None
    start, end = (datetime.fromisoformat(run[k].replace("Z", "+00:00")) for k in ("start_date", "end_date"))
    return (end - start).total_seconds()


def test_pipeline_fault_soak(deployment, emulator, figures):
    api = deployment.api
    # Deployments start in 1 s (the emulator's default is 2 s): the soak's wall time, in CI.
    emulator.reset(job_duration=8.0, ingestion_seconds=2.0, fine_tune_duration=12.0, deployment_duration=1.0)
    tags = [f"{PREFIX}{i:03d}" for i in range(RUNS)]
    once_routes = (*ONCE_ROUTES, *SERVE_ONCE_ROUTES)
    runs, wall, journal = run_under_faults(
        deployment,
        emulator,
        DAG,
        tags,
        fault_rules(FAULT_RATE, once_routes),
        "pipeline soak runs",
        conf=lambda tag: serving_conf(deployment, tag),
    )

    failed = sorted(tag for tag, run in runs.items() if run["state"] != "success")
    faults = collections.Counter(e["fault"] for e in journal if e["fault"])
    faults_on_once_routes = {
        route: dict(collections.Counter(e["fault"] for e in journal if e["route"] == route and e["fault"]))
        for route in once_routes
    }
    by_route = collections.Counter(e["route"] for e in journal)
    # Other tests share the emulator: count this soak's own records only.
    problems, records = check_pipeline_runs(deployment, DAG, tags, PREFIX, failed)
    serving_problems, serving = check_serving_runs(deployment, DAG, tags, PREFIX, failed)
    chat, chat_problems = check_chat_requests(journal, serving)

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
        "serving": serving,
        "chat": chat,
        "runs_with_serving_problems": serving_problems,
        "chat_problems": chat_problems,
    }
    print(figures["pipeline_soak"])
    assert_every_run_whole(failed, problems, records, RUNS)
    assert not serving_problems, f"runs whose deployment or evaluation went wrong: {serving_problems}"
    assert serving["deployments"] == RUNS, f"{serving['deployments']} deployments for {RUNS} runs: {serving}"
    assert serving["duplicate_deployments"] == 0, serving
    assert serving["deployments_inactive"] == RUNS, f"deployments left serving after the teardown: {serving}"
    assert serving["prompts"] == PROMPTS_PER_RUN * RUNS, serving
    assert not chat_problems, f"chat completions: {chat_problems} ({chat})"
    for route in (*ONCE_ROUTES, *SERVE_CALLED_ROUTES):
        for kind in CERTAIN_KINDS:
            assert faults_on_once_routes[route].get(kind, 0) > 0, f"no {kind} fault on {route}"
    for kind in (*SHARED_KINDS, "drop_after"):
        assert faults[kind] > 0, f"no {kind} fault was injected"
    assert figures["pipeline_soak"]["fault_share"] >= FAULT_RATE * 0.8
