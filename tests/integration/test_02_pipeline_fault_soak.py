"""Fault soak of the whole pipeline: upload -> data job -> fine-tune (project by name), many runs at once.

``it_pipeline_soak`` (tests/integration/dags/seekrflow_pipeline_dags.py) runs concurrently against a
faulty service. Every request the pipeline makes that must not happen twice (create data job, add
files, start, create project, create fine-tune) is certain to get a 500, a 429 with Retry-After and
two answers dropped *after* the service acted on them (the ambiguous case), then a further share
of its answers dropped at random; every route, polls included, gets 429, 500, 502, 503, 1 s and
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
import time
from datetime import datetime

import pytest

from tests.integration.harness import wait_for

pytestmark = [pytest.mark.integration, pytest.mark.timeout(1800)]

RUNS = int(os.environ.get("IT_PIPELINE_SOAK_RUNS", "20"))
FAULT_RATE = float(os.environ.get("IT_SOAK_FAULT_RATE", "0.2"))
DAG = "it_pipeline_soak"
DATA_JOB_TASK, FINE_TUNE_TASK = "make_training_pairs", "fine_tune"
# The pipeline's requests that are not harmless to repeat: a lost answer must be reconciled.
ONCE_ROUTES = (
    "submit_data_job",
    "add_files_to_data_job",
    "start_data_job",
    "create_project",
    "create_fine_tune",
)
SHARED_KINDS = ("429", "500", "502", "503", "delay", "drop_before")


def fault_rules(rate: float) -> list[dict]:
    """First match wins: certain faults on each once-only route, then random drops, then ``rate`` of everything."""
    rules: list[dict] = []
    for route in ONCE_ROUTES:  # count rules are spent in order: 500, then 429, then two dropped answers
        rules += [
            {"route": route, "kind": "500", "count": 1},
            {"route": route, "kind": "429", "retry_after": 1, "count": 1},
            {"route": route, "kind": "drop_after", "count": 2},
        ]
    for route in (*ONCE_ROUTES, "upload_file"):
        rules.append({"route": route, "kind": "drop_after", "rate": 0.1})
    shared = [
        {"kind": "429", "retry_after": 1},
        {"kind": "500"},
        {"kind": "502"},
        {"kind": "503"},
        {"kind": "delay", "delay": 1.0},
        {"kind": "delay", "delay": 2.0},
        {"kind": "drop_before"},
    ]
    share = rate / len(shared)
    for i, rule in enumerate(shared):
        rules.append({"route": "*", "rate": round(share / (1 - i * share), 6), **rule})
    return rules


def _seconds(run: dict) -> float | None:
    if not run.get("start_date") or not run.get("end_date"):
        return None
    start, end = (datetime.fromisoformat(run[k].replace("Z", "+00:00")) for k in ("start_date", "end_date"))
    return (end - start).total_seconds()


def test_pipeline_fault_soak(deployment, emulator, figures):
    api = deployment.api
    emulator.reset(job_duration=8.0, ingestion_seconds=2.0, fine_tune_duration=12.0)
    tags = [f"pipe-soak-{i:03d}" for i in range(RUNS)]
    confs = {tag: deployment.conf(tag) for tag in tags}
    emulator.admin("PUT", "faults", fault_rules(FAULT_RATE))

    started = time.monotonic()
    for tag in tags:
        api.trigger(DAG, tag, confs[tag])
    runs: dict[str, dict] = {}

    def all_done() -> bool:
        listed = api.get(f"dags/{DAG}/dagRuns", limit=1000)["dag_runs"]
        runs.update({r["dag_run_id"]: r for r in listed if r["dag_run_id"] in confs})
        return sum(r["state"] in ("success", "failed") for r in runs.values()) == RUNS

    wait_for(f"{RUNS} pipeline soak runs to end", all_done, 1500, 5,
             lambda: str(collections.Counter(r["state"] for r in runs.values())))  # fmt: skip
    wall = time.monotonic() - started
    journal = emulator.journal()
    emulator.admin("DELETE", "faults")

    failed = sorted(tag for tag, run in runs.items() if run["state"] != "success")
    faults = collections.Counter(e["fault"] for e in journal if e["fault"])
    faults_on_once_routes = {
        route: dict(collections.Counter(e["fault"] for e in journal if e["route"] == route and e["fault"]))
        for route in ONCE_ROUTES
    }
    by_route = collections.Counter(e["route"] for e in journal)
    # Other tests share the emulator: count this soak's own records only.
    files = [
        f
        for f in emulator.stored_files()
        if f["purpose"] == "alignment" and f["filename"].startswith("pipe-soak-")
    ]
    data_jobs = [
        j for j in emulator.stored_data_jobs() if j["name"].startswith(f"{DAG}.{DATA_JOB_TASK}.pipe-soak-")
    ]
    alignment_jobs = [j for j in emulator.stored_jobs() if "[run pipe-soak-" in j["instructions"]]
    projects = [p for p in emulator.stored_projects() if "[run pipe-soak-" in p["name"]]
    project_ids = {p["id"] for p in projects}
    fine_tunes = [f for f in emulator.stored_fine_tunes() if f["project_id"] in project_ids]

    problems: dict[str, list[str]] = collections.defaultdict(list)
    duplicate_files = lost_files = 0
    completed = 0
    for tag in tags:
        expected = deployment.source_names(tag)
        mine = [f for f in files if f["filename"].startswith(f"{tag}-")]
        names = collections.Counter(f["filename"] for f in mine)
        duplicate_files += sum(n - 1 for n in names.values())
        lost_files += len(set(expected) - set(names))
        if sorted(names.elements()) != expected:
            problems[tag].append(f"stored files {sorted(names.elements())}, expected {expected}")
        my_data_jobs = [j for j in data_jobs if j["name"] == f"{DAG}.{DATA_JOB_TASK}.{tag}"]
        my_alignment = emulator.jobs_for(tag)
        my_projects = [p for p in projects if p["name"] == f"Northwind support [run {tag}]"]
        my_fine_tunes = [f for f in fine_tunes if my_projects and f["project_id"] == my_projects[0]["id"]]
        for what, found in (("data job", my_data_jobs), ("alignment job", my_alignment),
                            ("project", my_projects), ("fine-tune", my_fine_tunes)):  # fmt: skip
            if len(found) != 1:
                problems[tag].append(f"{len(found)} {what}s: {[r['id'] for r in found]}")
        if problems[tag] or tag in failed:
            continue
        data_job, fine_tune = my_data_jobs[0], my_fine_tunes[0]
        uploaded = api.xcom(DAG, tag, "upload_documents")
        training_file = api.xcom(DAG, tag, DATA_JOB_TASK, "fine_tune_file_id")
        ft_view = emulator.fine_tune(fine_tune["id"])
        dj_view = emulator.data_job(data_job["id"])
        result = api.xcom(DAG, tag, FINE_TUNE_TASK)
        checks = {
            "data job files == uploaded == stored": sorted(data_job["_files"]) == sorted(uploaded)
            == sorted(f["id"] for f in mine),
            "data job started once": data_job["alignment_job_id"] == my_alignment[0]["id"],
            "data job completed": dj_view["status"] == "completed",
            "data_job_id XCom": api.xcom(DAG, tag, DATA_JOB_TASK, "data_job_id") == data_job["id"],
            "fine-tune trains on the data job's output": fine_tune["training_files"] == [training_file],
            "data job lists its fine-tune": dj_view["fine_tuning_job_ids"] == [fine_tune["id"]],
            "fine_tune_id XCom": api.xcom(DAG, tag, FINE_TUNE_TASK, "fine_tune_id") == fine_tune["id"],
            "fine-tune completed with a model": ft_view["status"] == "completed" and ft_view["inference_available"],
            "result names the model": result["status"] == "completed" and result["job_id"] == fine_tune["id"]
            and bool(result["model_id"]) and result["project_id"] == my_projects[0]["id"],
            "report_model returned it": api.xcom(DAG, tag, "report_model") == result["model_id"],
        }  # fmt: skip
        problems[tag] += [name for name, ok in checks.items() if not ok]
        completed += ft_view["status"] == "completed"
    problems = {tag: p for tag, p in problems.items() if p}

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
        "alignment_files_stored": len(files),
        "data_jobs": len(data_jobs),
        "alignment_jobs": len(alignment_jobs),
        "projects": len(projects),
        "fine_tunes": len(fine_tunes),
        "fine_tunes_completed": completed,
        "duplicate_files": duplicate_files,
        "lost_files": lost_files,
        "runs_with_problems": problems,
    }
    print(figures["pipeline_soak"])
    assert not failed, f"runs that failed: {failed}"
    assert not problems, f"runs with duplicates, losses or wrong links: {problems}"
    assert len(files) == 3 * RUNS
    assert len(data_jobs) == len(alignment_jobs) == len(projects) == len(fine_tunes) == completed == RUNS
    for route in ONCE_ROUTES:
        for kind in ("500", "429", "drop_after"):
            assert faults_on_once_routes[route].get(kind, 0) > 0, f"no {kind} fault on {route}"
    for kind in (*SHARED_KINDS, "drop_after"):
        assert faults[kind] > 0, f"no {kind} fault was injected"
    assert figures["pipeline_soak"]["fault_share"] >= FAULT_RATE * 0.8
