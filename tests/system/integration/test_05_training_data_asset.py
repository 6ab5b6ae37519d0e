"""Data-aware scheduling on a real deployment: the training-data asset starts the fine-tune DAG.

``example_seekrflow_training_data`` announces its training file on an asset; Airflow's own scheduler
must then start ``example_seekrflow_fine_tune_on_new_data`` (an asset-triggered run), which reads the
file from the triggering event and fine-tunes on exactly that file. ``dag.test()`` cannot show this:
it never starts a DAG from an asset event.
"""

from __future__ import annotations

import time

import pytest

from tests.system.integration.harness import wait_for

pytestmark = [pytest.mark.integration, pytest.mark.timeout(900)]

PRODUCER = "example_seekrflow_training_data"
CONSUMER = "example_seekrflow_fine_tune_on_new_data"


def test_training_data_event_starts_the_fine_tune_dag_on_that_file(deployment, emulator, figures):
    api = deployment.api
    emulator.reset(job_duration=5.0, ingestion_seconds=1.0, fine_tune_duration=8.0)
    for dag_id in (PRODUCER, CONSUMER):
        wait_for(f"{dag_id} to be parsed", lambda d=dag_id: api.get(f"dags/{d}"), 180, 2)
        api.request("PATCH", f"dags/{dag_id}", json={"is_paused": False})
    before = {run["dag_run_id"] for run in api.get(f"dags/{CONSUMER}/dagRuns")["dag_runs"]}

    started = time.monotonic()
    api.trigger(PRODUCER, "asset-producer", {})
    assert api.wait_run(PRODUCER, "asset-producer", timeout=600) == "success"
    training_file_id = api.xcom(PRODUCER, "asset-producer", "make_training_pairs", key="fine_tune_file_id")
    assert training_file_id

    def new_consumer_run():
        runs = api.get(f"dags/{CONSUMER}/dagRuns")["dag_runs"]
        return next((run for run in runs if run["dag_run_id"] not in before), None)

    run = wait_for("the scheduler to start the fine-tune DAG from the asset event", new_consumer_run, 180, 2)
    announced_after = round(time.monotonic() - started, 1)
    assert run["run_type"] == "asset_triggered"
    assert api.wait_run(CONSUMER, run["dag_run_id"], timeout=600) == "success"

    read = api.xcom(CONSUMER, run["dag_run_id"], "new_training_file")
    assert read == training_file_id
    fine_tune = api.xcom(CONSUMER, run["dag_run_id"], "fine_tune")
    (stored,) = [f for f in emulator.stored_fine_tunes() if f["id"] == fine_tune["job_id"]]
    assert stored["training_files"] == [training_file_id]
    assert emulator.fine_tune(fine_tune["job_id"])["status"] == "completed"
    assert sum(1 for e in emulator.journal() if e["route"] == "create_fine_tune") == 1
    figures["training_data_asset"] = {
        "consumer_run_started_after_s": announced_after,
        "wall_s": round(time.monotonic() - started, 1),
    }
