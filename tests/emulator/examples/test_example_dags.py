"""The example DAGs: they load cleanly through a DagBag, and two of them run end to end against the emulator."""

from __future__ import annotations

import shutil
import warnings
from pathlib import Path
from typing import Any

import pytest

from airflow_provider_seekrflow.hooks.seekrflow import SeekrFlowHook
from tests.emulator.operators.seekrflow_dag_support import (
    count,
    run_dag,
    states,
    xcom,
)

EXAMPLE_DAGS = Path(__file__).resolve().parents[3] / "example_dags"
EXPECTED = {
    "example_seekrflow_alignment",
    "example_seekrflow_deployment",
    "example_seekrflow_finetune_upload",
    "example_seekrflow_pipeline",
    "example_seekrflow_rag_refresh",
    "example_seekrflow_sensor",
    "example_seekrflow_training_data",
    "example_seekrflow_fine_tune_on_new_data",
}


def _dagbag():
    try:
        from airflow.dag_processing.dagbag import DagBag  # Airflow 3.2+

        return DagBag(dag_folder=str(EXAMPLE_DAGS))  # it never loads Airflow's own examples
    except ImportError:
        from airflow.models.dagbag import DagBag

        return DagBag(dag_folder=str(EXAMPLE_DAGS), include_examples=False)


@pytest.fixture(scope="module")
def dagbag_and_warnings():
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        bag = _dagbag()
    ours = [w for w in caught if str(EXAMPLE_DAGS) in str(w.filename) or "seekrflow" in str(w.filename)]
    return bag, ours


def test_example_dags_load_without_errors_or_warnings(dagbag_and_warnings):
    bag, caught = dagbag_and_warnings
    assert bag.import_errors == {}
    assert set(bag.dag_ids) == EXPECTED
    assert getattr(bag, "captured_warnings", {}) == {}
    assert [str(w.message) for w in caught] == []


@pytest.mark.parametrize("dag_id", sorted(EXPECTED))
def test_example_dag_has_doc_md_and_tags(dagbag_and_warnings, dag_id):
    dag = dagbag_and_warnings[0].get_dag(dag_id)
    assert dag.doc_md and dag.doc_md.strip().startswith("###")
    assert "seekrflow" in dag.tags


def _fresh_dag(dag_id):
    return _dagbag().get_dag(dag_id)


def _run_all_succeed(dag, *task_ids: str):
    """Run ``dag`` through ``dag.test()``; its tasks are ``task_ids``, and every one succeeded."""
    dr = run_dag(dag)
    assert states(dr) == dict.fromkeys(task_ids, "success")
    return dr


def test_example_alignment_runs_end_to_end(emu, task_logs):
    emu.configure(job_duration=1)
    dag = _fresh_dag("example_seekrflow_alignment")
    # The example waits with production-sized intervals; shorten them for the test (same code path).
    generate = dag.get_task("generate_pairs")
    generate.min_poll_interval = 0.5
    generate.poll_interval = 1
    dr = _run_all_succeed(dag, "upload_documents", "generate_pairs", "show_sample_pair")
    uploaded = xcom(dr, "upload_documents")
    assert isinstance(uploaded, list) and len(uploaded) == len(
        list((EXAMPLE_DAGS / "data" / "documents").iterdir())
    )
    sample = xcom(dr, "show_sample_pair")
    assert sample["file_id"] == xcom(dr, "generate_pairs", key="fine_tune_file_id")
    assert sample["pairs"] > 0
    assert count(emu, "alignment_generate") == 1
    assert count(emu, "get_file_content") == 1
    # The pair is read from the parquet output and shown through the task logger, role by role.
    stored = SeekrFlowHook().get_file(sample["file_id"])
    assert stored.type == "parquet" and stored.filename.endswith(".parquet")
    logged = task_logs.text()
    for role in ("system", "user", "assistant"):
        assert f"{role:>9}: " in logged
    assert f"{sample['pairs']} training pairs in {sample['file_id']}" in logged


def test_example_finetune_upload_runs_end_to_end(emu):
    dag = _fresh_dag("example_seekrflow_finetune_upload")
    dr = _run_all_succeed(dag, "upload_training_data")
    file_id = xcom(dr, "upload_training_data")
    assert isinstance(file_id, str)
    from airflow_provider_seekrflow.hooks.seekrflow import SeekrFlowHook

    stored = SeekrFlowHook().get_file(file_id)
    assert (stored.filename, stored.purpose) == ("support_chat.jsonl", "fine-tune")
    assert count(emu, "upload_file") == 1


def test_example_sensor_runs_end_to_end(emu):
    emu.configure(job_duration=1)
    dag = _fresh_dag("example_seekrflow_sensor")
    dag.get_task("wait_for_job").poke_interval = 1  # the example's 30 s would make the trigger poll every 5 s
    dr = _run_all_succeed(dag, "upload_documents", "start_job", "wait_for_job", "list_outputs")
    job_id = xcom(dr, "start_job")["job_id"]
    assert xcom(dr, "wait_for_job")["job_id"] == job_id
    assert any(o["purpose"] == "fine-tune" for o in xcom(dr, "list_outputs"))
    assert emu.journal(route="cancel_alignment_job") == []


def test_example_pipeline_runs_end_to_end(emu, task_logs, tmp_path, monkeypatch):
    emu.configure(job_duration=1, ingestion_seconds=0.5, fine_tune_duration=3, deployment_duration=1)
    monkeypatch.setenv("AIRFLOW_VAR_SEEKRFLOW_ANSWERS_DIR", str(tmp_path / "answers"))
    dag = _fresh_dag("example_seekrflow_pipeline")
    # Production-sized waits, shortened for the test (same code path, still deferred).
    for task_id in ("make_training_pairs", "fine_tune", "deploy", "promote"):
        operator = dag.get_task(task_id)
        assert operator.deferrable
        operator.min_poll_interval, operator.poll_interval = 0.5, 1
    teardown = dag.get_task("release_instances")
    assert str(getattr(teardown.trigger_rule, "value", teardown.trigger_rule)) == "all_done"
    dr = _run_all_succeed(
        dag,
        "upload_documents",
        "make_training_pairs",
        "fine_tune",
        "report_model",
        "deploy",
        "evaluate",
        "release_instances",
        "promote",
    )

    uploaded = xcom(dr, "upload_documents")
    pairs = xcom(dr, "make_training_pairs")
    training_file = xcom(dr, "make_training_pairs", key="fine_tune_file_id")
    fine_tune = xcom(dr, "fine_tune")
    hook = SeekrFlowHook()
    # Every uploaded document went into the one data job, whose parquet output the fine-tune trained on.
    detail = hook.get_data_job(pairs["job_id"])
    assert {f.file_id for f in detail.files} == set(uploaded)
    assert pairs["status"] == "completed" and training_file.startswith("file-")
    assert hook.get_fine_tune(fine_tune["job_id"]).training_files == [training_file]
    assert fine_tune["status"] == "completed" and xcom(dr, "report_model") == fine_tune["model_id"]
    assert sum(1 for _ in hook.iter_conversations(training_file)) > 0
    # The fine-tune's usage: the example's accelerator, for the emulator's 3 s.
    assert fine_tune["usage"]["accelerator_type"] == "H100" and fine_tune["usage"]["accelerator_count"] == 1
    assert fine_tune["usage"]["wall_seconds"] == pytest.approx(3.0, abs=0.01)
    # The model served, every shipped prompt answered from the training pairs, then promoted again.
    deployed = xcom(dr, "deploy")
    assert deployed["model_id"] == fine_tune["model_id"] and deployed["status"] == "Active"
    manifest = xcom(dr, "evaluate")
    prompts = (EXAMPLE_DAGS / "data" / "evaluation" / "support_prompts.jsonl").read_text().splitlines()
    assert (manifest["total"], manifest["passed"], manifest["pass_rate"]) == (len(prompts), len(prompts), 1.0)
    assert manifest["usage"]["input_tokens"] > 0 and manifest["usage"]["output_tokens"] > 0
    assert manifest["answers"].startswith(str(tmp_path / "answers"))
    assert len((Path(manifest["answers"])).read_text().splitlines()) == len(prompts)
    assert xcom(dr, "release_instances")["status"] == "Inactive"
    promoted = xcom(dr, "promote")
    assert (promoted["job_id"], promoted["status"]) == (deployed["job_id"], "Active")
    # The evaluation's tokens are on the deployment's counters, which the promote's result reports.
    assert promoted["usage"] == {
        "input_tokens": manifest["usage"]["input_tokens"],
        "output_tokens": manifest["usage"]["output_tokens"],
    }
    # One of each, however many polls and deferrals it took.
    assert count(emu, "submit_data_job") == 1
    assert count(emu, "create_fine_tune") == 1
    assert [
        count(emu, route) for route in ("create_deployment", "demote_deployment", "promote_deployment")
    ] == [
        1,
        1,
        1,
    ]
    assert task_logs.occurrences("epoch 1,") == 1


def test_example_deployment_runs_end_to_end(emu, tmp_path, monkeypatch):
    emu.configure(fine_tune_duration=1, deployment_duration=1)
    monkeypatch.setenv("AIRFLOW_VAR_SEEKRFLOW_ANSWERS_DIR", str(tmp_path / "answers"))
    dag = _fresh_dag("example_seekrflow_deployment")
    # Production-sized waits, shortened for the test (same code path, still deferred).
    for task_id in ("fine_tune", "deploy", "promote"):
        operator = dag.get_task(task_id)
        assert operator.deferrable
        operator.min_poll_interval, operator.poll_interval = 0.5, 1
    teardown = dag.get_task("release_instances")
    assert str(getattr(teardown.trigger_rule, "value", teardown.trigger_rule)) == "all_done"
    dr = _run_all_succeed(
        dag, "upload_training_data", "fine_tune", "deploy", "evaluate", "release_instances", "promote"
    )

    fine_tune, deployed = xcom(dr, "fine_tune"), xcom(dr, "deploy")
    assert deployed["model_id"] == fine_tune["model_id"] and deployed["status"] == "Active"
    # Each shipped prompt is a question of the training file: the served model gives its answer.
    manifest = xcom(dr, "evaluate")
    prompts = (EXAMPLE_DAGS / "data" / "evaluation" / "support_chat_prompts.jsonl").read_text().splitlines()
    assert (manifest["total"], manifest["passed"], manifest["pass_rate"]) == (len(prompts), len(prompts), 1.0)
    assert xcom(dr, "release_instances")["status"] == "Inactive"
    assert (xcom(dr, "promote")["job_id"], xcom(dr, "promote")["status"]) == (deployed["job_id"], "Active")
    # One deployment made, demoted by the teardown, promoted again after the evaluation.
    assert [
        count(emu, route) for route in ("create_deployment", "demote_deployment", "promote_deployment")
    ] == [
        1,
        1,
        1,
    ]


def test_example_rag_refresh_syncs_only_the_difference_then_grounds_a_data_job(
    emu, tmp_path, monkeypatch, task_logs
):

    emu.configure(vector_ingestion_seconds=0.1, job_duration=1)
    folder = tmp_path / "documents"
    shutil.copytree(EXAMPLE_DAGS / "data" / "documents", folder)
    monkeypatch.setenv("AIRFLOW_VAR_SEEKRFLOW_RAG_FOLDER", str(folder))

    def run() -> Any:
        dag = _fresh_dag("example_seekrflow_rag_refresh")
        for task_id in ("sync_documents", "make_grounded_pairs"):
            operator = dag.get_task(task_id)
            assert operator.deferrable
            operator.min_poll_interval, operator.poll_interval = 0.2, 0.5
        return _run_all_succeed(dag, "vector_database", "sync_documents", "make_grounded_pairs")

    first = xcom(run(), "sync_documents")
    assert (first["added"], first["changed"], first["removed"], first["unchanged"]) == (3, 0, 0, 0)
    (folder / "shipping.md").write_text("# Shipping\nOrders ship within 2 business days.\n")
    (folder / "warranty.txt").unlink()
    (folder / "gift_cards.md").write_text("# Gift cards\nGift cards never expire.\n")
    emu.clear_journal()

    dr = run()

    second = xcom(dr, "sync_documents")
    assert (second["added"], second["changed"], second["removed"], second["unchanged"]) == (1, 1, 1, 1)
    assert count(emu, "upload_file") == 2 and count(emu, "create_vector_database") == 0
    assert second["vector_database_id"] == first["vector_database_id"] == xcom(dr, "vector_database")
    assert xcom(dr, "make_grounded_pairs")["status"] == "completed"
