"""Fault soak: many concurrent upload -> generate (deferrable) -> sample runs against a faulty service.

20 % of the emulator's API requests get a fault: 429 with Retry-After, 500, 502, 503, a 1 s or 2 s
delay, or the connection dropped before the request is processed; uploads are in addition dropped
*after* the file is stored (the ambiguous case). Every run must succeed, and the emulator must end
with exactly one alignment job per run and exactly one stored file per source document.
"""

from __future__ import annotations

import collections
import os

import pytest

from tests.system.integration.pipeline_checks import everywhere, run_under_faults

pytestmark = [pytest.mark.integration, pytest.mark.timeout(1800)]

RUNS = int(os.environ.get("IT_SOAK_RUNS", "50"))
FAULT_RATE = float(os.environ.get("IT_SOAK_FAULT_RATE", "0.2"))
DAG = "it_soak"


def fault_rules(rate: float) -> list[dict]:
    """Rules whose first-match-wins chain faults ``rate`` of all requests, in equal shares per kind.

    ``upload_file:drop_after`` comes first (the file is stored, the answer lost), then the kinds every
    route gets; each rule's rate is conditional on the earlier ones not having fired.
    """
    return [{"route": "upload_file", "kind": "drop_after", "rate": 0.1}, *everywhere(rate)]


def test_fault_soak(deployment, emulator, figures):
    api = deployment.api
    emulator.reset(job_duration=8.0)
    tags = [f"soak-{i:03d}" for i in range(RUNS)]
    runs, wall, journal = run_under_faults(
        deployment, emulator, DAG, tags, fault_rules(FAULT_RATE), "soak runs"
    )
    states = {tag: run["state"] for tag, run in runs.items()}

    failed = sorted(tag for tag, state in states.items() if state != "success")
    faults = collections.Counter(e["fault"] for e in journal if e["fault"])
    by_route = collections.Counter(e["route"] for e in journal)
    # Other tests' runs share the emulator: count this soak's own source files and jobs only.
    files = [
        f
        for f in emulator.stored_files()
        if f["purpose"] == "alignment" and f["filename"].startswith("soak-")
    ]
    jobs = [j for j in emulator.stored_jobs() if "[run soak-" in j["instructions"]]

    duplicates, lost, wrong_job = {}, {}, {}
    for tag in tags:
        expected = deployment.source_names(tag)
        mine = [f for f in files if f["filename"].startswith(f"{tag}-")]
        names = collections.Counter(f["filename"] for f in mine)
        if any(n > 1 for n in names.values()):
            duplicates[tag] = {k: v for k, v in names.items() if v > 1}
        if sorted(names) != expected:
            lost[tag] = sorted(set(expected) - set(names))
        my_jobs = emulator.jobs_for(tag)
        if len(my_jobs) != 1:
            wrong_job[tag] = [j["id"] for j in my_jobs]
        elif tag not in failed:
            uploaded = api.xcom(DAG, tag, "upload_documents")
            assert sorted(my_jobs[0]["files"]) == sorted(uploaded) == sorted(f["id"] for f in mine), tag
            assert api.xcom(DAG, tag, "generate_pairs", "alignment_job_id") == my_jobs[0]["id"]
            assert api.xcom(DAG, tag, "show_sample_pair")["pairs"] > 0

    retried = collections.Counter()
    for tag in tags:
        for task_id, ti in api.task_instances(DAG, tag).items():
            if ti["try_number"] > 1:
                retried[task_id] += ti["try_number"] - 1

    figures["soak"] = {
        "task_retries": dict(sorted(retried.items())),
        "runs": RUNS,
        "succeeded": RUNS - len(failed),
        "failed": failed,
        "wall_s": round(wall, 1),
        "requests": len(journal),
        "faulted": sum(faults.values()),
        "fault_share": round(sum(faults.values()) / max(1, len(journal)), 3),
        "faults_by_kind": dict(sorted(faults.items())),
        "requests_by_route": dict(sorted(by_route.items())),
        "alignment_files_stored": len(files),
        "alignment_jobs": len(jobs),
        "duplicate_files": sum(sum(v - 1 for v in d.values()) for d in duplicates.values()),
        "lost_files": sum(len(v) for v in lost.values()),
        "runs_without_exactly_one_job": len(wrong_job),
        "extra_jobs": len(jobs) - RUNS,
    }
    print(figures["soak"])
    assert not failed, f"runs that failed: {failed}"
    assert not duplicates, f"duplicate uploads: {duplicates}"
    assert not lost, f"lost uploads: {lost}"
    assert not wrong_job, f"runs without exactly one alignment job: {wrong_job}"
    assert len(files) == 3 * RUNS and len(jobs) == RUNS
    assert figures["soak"]["fault_share"] >= FAULT_RATE * 0.8
    for kind in ("429", "500", "502", "503", "delay", "drop_before", "drop_after"):
        assert faults[kind] > 0, f"no {kind} fault was injected"
