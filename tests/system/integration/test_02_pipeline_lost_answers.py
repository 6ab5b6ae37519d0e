"""The soak's rare cases made certain: a pipeline run whose once-only request failed in a way a retry must survive.

Each test runs one ``it_pipeline_soak`` run (retries=2) under count-limited faults that force one
path the random soak reaches only by chance, and judges it by the same rule: exactly one data job
and one fine-tune for the run, whatever was retried.

- A try that created the data job but could not attach its files (``add-files`` answered 503 until
  the hook's retries ran out) fails; Airflow's retry must pick up that data job, as the operator's
  ``name`` parameter promises ("lets a retry find the job its first try created").
- A ``create fine-tune`` whose answer is lost after the service created it, while the lookup that
  should find it fails (``list fine-tunes`` answered 503 until the hook's retries ran out): the
  create must not be sent again, since the service has acted on it.

The first holds since the data job id is stored as soon as the job exists. The second holds since
the try notes when it sent the create (task state store): its retry asks the service for the
fine-tune that create made before creating one.
"""

from __future__ import annotations

import collections
import time

import pytest

pytestmark = [pytest.mark.integration, pytest.mark.timeout(900)]

DAG = "it_pipeline_soak"
# The hook's retries (DEFAULT_MAX_RETRIES = 5): six answers in a row exhaust one call.
EXHAUST = 6


def run_under_faults(deployment, emulator, tag: str, rules: list[dict]) -> dict:
    """Run one pipeline under ``rules``; return what the emulator holds for it, and the journal's figures."""
    api = deployment.api
    emulator.reset(job_duration=5.0, ingestion_seconds=1.0, fine_tune_duration=8.0)
    emulator.admin("PUT", "faults", rules)
    started = time.monotonic()
    api.trigger(DAG, tag, deployment.conf(tag))
    state = api.wait_run(DAG, tag, timeout=600)
    journal = emulator.journal()
    emulator.admin("DELETE", "faults")
    projects = [p for p in emulator.stored_projects() if p["name"] == f"Northwind support [run {tag}]"]
    project_ids = {p["id"] for p in projects}
    return {
        "state": state,
        "duration_s": round(time.monotonic() - started, 1),
        "try_numbers": {t: ti["try_number"] for t, ti in api.task_instances(DAG, tag).items()},
        "data_jobs": [
            j["id"]
            for j in emulator.stored_data_jobs()
            if j["name"].startswith(f"{DAG}.make_training_pairs.{tag}.try")
        ],
        "projects": sorted(project_ids),
        "fine_tunes": [f["id"] for f in emulator.stored_fine_tunes() if f["project_id"] in project_ids],
        "calls": dict(collections.Counter(e["route"] for e in journal)),
        "faults": dict(collections.Counter(f"{e['route']}:{e['fault']}" for e in journal if e["fault"])),
    }


def test_pipeline_retry_after_add_files_failed_reuses_data_job(deployment, emulator, figures):
    seen = run_under_faults(
        deployment,
        emulator,
        "pipe-lost-add-files",
        [{"route": "add_files_to_data_job", "kind": "503", "count": EXHAUST}],
    )
    figures["pipeline_retry_after_add_files_failed"] = seen
    assert seen["state"] == "success", seen
    assert seen["try_numbers"]["make_training_pairs"] == 2, seen
    assert len(seen["data_jobs"]) == 1, f"data jobs of one run: {seen['data_jobs']}"


def test_pipeline_lost_create_answer_and_failing_lookup_make_one_fine_tune(deployment, emulator, figures):
    seen = run_under_faults(
        deployment,
        emulator,
        "pipe-lost-fine-tune",
        [
            {"route": "create_fine_tune", "kind": "drop_after", "count": 1},
            {"route": "list_fine_tunes", "kind": "503", "count": EXHAUST},
        ],
    )
    figures["pipeline_lost_create_fine_tune_failing_lookup"] = seen
    assert seen["state"] == "success", seen
    assert seen["try_numbers"]["fine_tune"] == 2, seen
    assert len(seen["fine_tunes"]) == 1, f"fine-tunes of one run: {seen['fine_tunes']}"
    assert seen["calls"]["create_fine_tune"] == 1, seen
