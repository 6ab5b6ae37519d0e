"""Data-job, fine-tune and project requests are checked locally, and jobs are read liberally."""

from __future__ import annotations

import json
from datetime import datetime, timezone

import pytest

from airflow_provider_seekrflow.client import data_jobs, fine_tunes, projects
from airflow_provider_seekrflow.exceptions import SeekrFlowConfigError
from tests.unit.fine_tune_sample import FINE_TUNE_FIELDS

NOW = datetime(2026, 11, 23, 12, 0, tzinfo=timezone.utc)


def detail(**fields):
    payload = {
        "id": "dj-1",
        "user_id": "u",
        "status": "needs_review",
        "job_type": "principle_files",
        **fields,
    }
    return data_jobs.DataJobDetail.model_validate_json(json.dumps(payload))


# -- data jobs -------------------------------------------------------------------------------------


def test_data_job_create_request_leaves_out_what_is_unset():
    assert data_jobs.create_request("handbook", "principle_files", system_prompt="Be kind.") == {
        "name": "handbook",
        "job_type": "principle_files",
        "system_prompt": "Be kind.",
    }


@pytest.mark.parametrize(
    ("kwargs", "fragment"),
    [
        ({"name": " ", "job_type": "principle_files"}, "name: must not be blank"),
        ({"name": "x" * 256, "job_type": "principle_files"}, "name: must be at most 255"),
        ({"name": "x", "job_type": "principles"}, "job_type: 'principles' is not one of"),
        ({"name": "x", "job_type": "context_grounded_vector_db"}, "vector_database_id: is required"),
    ],
)
def test_data_job_create_request_refuses_locally(kwargs, fragment):
    with pytest.raises(SeekrFlowConfigError, match=fragment):
        data_jobs.create_request(**kwargs)


def test_review_problems_name_every_file_with_its_error_and_fix():
    job = detail(
        system_prompt="Be kind.",
        ingestion_jobs=[
            {
                "id": "ing-1",
                "status": "failed",
                "records": [
                    {
                        "alignment_file_id": "f1",
                        "filename": "scan.pdf",
                        "status": "failed",
                        "error_message": "no text layer",
                        "suggested_fix": "run OCR and upload again",
                    },
                    {"alignment_file_id": "f2", "filename": "ok.docx", "status": "completed"},
                ],
            }
        ],
    )
    assert data_jobs.review_problems(job) == [
        "scan.pdf: no text layer (suggested fix: run OCR and upload again)"
    ]


def test_review_problems_name_a_missing_system_prompt():
    assert data_jobs.review_problems(detail()) == [
        "the job has no system prompt, which a principle_files job needs"
    ]


def test_a_later_ingestion_run_supersedes_an_earlier_one():
    job = detail(
        system_prompt="Be kind.",
        ingestion_jobs=[
            {
                "records": [
                    {"alignment_file_id": "f1", "filename": "a.pdf", "status": "failed", "error_message": "x"}
                ]
            },
            {"records": [{"alignment_file_id": "f1", "filename": "a.pdf", "status": "completed"}]},
        ],
    )
    assert data_jobs.review_problems(job) == []
    assert data_jobs.attached_file_ids(job) == {"f1"}


@pytest.mark.parametrize(
    ("status", "alignment_job_id", "started"),
    [
        ("ready_to_start", None, False),
        ("file_processing", None, False),
        ("pending", None, True),
        ("ready_to_start", "al-1", True),
        ("completed", "al-1", True),
        ("mystery", None, True),
    ],
)
def test_was_started(status, alignment_job_id, started):
    assert data_jobs.was_started(detail(status=status, alignment_job_id=alignment_job_id)) is started


def test_detail_with_string_progress_and_unknown_fields_parses():
    job = detail(
        status="running", alignment_job={"id": "al-1", "status": "running", "progress": "40%"}, color="blue"
    )
    assert job.alignment_job.describe() == "status=running, progress=40%"
    assert not job.is_terminal


# -- fine-tunes ------------------------------------------------------------------------------------

BASE = FINE_TUNE_FIELDS


def test_fine_tune_request_shape():
    body = fine_tunes.create_request(**BASE, learning_rate=1e-5, lora_config={"r": 8, "bias": "none"})
    assert body == {
        "project_id": 7,
        "training_config": {
            "training_files": ["file-1"],
            "model": "llama",
            "n_epochs": 2,
            "learning_rate": 1e-5,
            "lora_config": {"r": 8, "bias": "none"},
        },
        "infrastructure_config": {"accel_type": "H100", "n_accel": 1},
    }


@pytest.mark.parametrize(
    ("change", "fragment"),
    [
        ({"project_id": "7"}, "project_id: must be a project's integer id"),
        ({"training_files": []}, "training_files: at least one file id"),
        (
            {"training_files": ["data/pairs.parquet"]},
            r"training_files\[0\]: 'data/pairs.parquet' is a local path, not a SeekrFlow file id",
        ),
        ({"n_epochs": 0}, "n_epochs: must be a whole number at least 1"),
        ({"accel_type": "TPU"}, "accel_type: 'TPU' is not one of"),
        ({"batch_size": 2048}, "batch_size: must be a whole number from 1 to 1024"),
        ({"learning_rate": -1}, "learning_rate: must be a number greater than 0"),
        ({"fine_tune_type": "DPO"}, "fine_tune_type: 'DPO' is not one of"),
        ({"lora_config": {"rank": 8}}, "lora_config: unknown key"),
        ({"lora_config": {"dropout": 2}}, "lora_config.dropout: must be from 0 to 1"),
        ({"lora_config": {"bias": "some"}}, "lora_config.bias: 'some' is not one of"),
    ],
)
def test_fine_tune_request_refuses_locally(change, fragment):
    with pytest.raises(SeekrFlowConfigError, match=fragment):
        fine_tunes.create_request(**{**BASE, **change})


def test_fine_tune_event_describes_itself():
    event = fine_tunes.FineTuneEvent.model_validate(
        {"epoch": "2", "loss": 0.51234, "reward": None, "level": "info"}
    )
    assert event.describe() == "epoch 2, loss 0.5123"


# -- projects --------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("name", "description", "fragment"),
    [
        ("abc", "A project.", "project_name: must be 5 to 100"),
        ("Support bot", "abc", "project_description: must be 5 to 1000"),
    ],
)
def test_project_request_refuses_locally(name, description, fragment):
    with pytest.raises(SeekrFlowConfigError, match=fragment):
        projects.create_request(name, description)


def test_project_found_by_name():
    found = projects.find_by_name(
        [projects.Project(id=1, name="a"), projects.Project(id=2, name="Support bot")], "Support bot"
    )
    assert found is not None and found.id == 2


# -- operators: local checks before anything is sent -------------------------------------------------


def test_fine_tune_operator_needs_exactly_one_project():
    from airflow_provider_seekrflow.operators.fine_tune import SeekrFlowFineTuneOperator

    with pytest.raises(SeekrFlowConfigError, match="exactly one of project_id and project_name"):
        SeekrFlowFineTuneOperator(task_id="ft", training_files=["f"], model="m", n_epochs=1)


def test_fine_tune_operator_checks_its_request_locally():
    from airflow_provider_seekrflow.operators.fine_tune import SeekrFlowFineTuneOperator

    operator = SeekrFlowFineTuneOperator(
        task_id="ft", training_files=["f"], model="m", n_epochs=1, project_name="abc", batch_size=0
    )
    with pytest.raises(SeekrFlowConfigError, match="project_name: must be 5 to 100"):
        operator.prepare_request()
    operator.project_name = "Support assistant"
    with pytest.raises(SeekrFlowConfigError, match="batch_size: must be a whole number from 1 to 1024"):
        operator.prepare_request()


@pytest.mark.parametrize(
    ("kwargs", "fragment"),
    [
        ({"files": []}, "files: a principle_files job needs at least one file id"),
        (
            {"files": ["docs/handbook.pdf"]},
            r"files\[0\]: 'docs/handbook.pdf' is a local path, not a SeekrFlow file id",
        ),
        (
            {"files": ["f"], "job_type": "context_grounded_vector_db", "vector_database_id": "vdb"},
            "reads its vector database",
        ),
        ({"files": ["f"], "name": "x" * 300}, "name: must be at most 255"),
    ],
)
def test_data_job_operator_checks_its_request_locally(kwargs, fragment):
    from airflow_provider_seekrflow.operators.data_job import SeekrFlowDataJobOperator

    operator = SeekrFlowDataJobOperator(task_id="dj", **kwargs)
    with pytest.raises(SeekrFlowConfigError, match=fragment):
        operator.prepare_request()


@pytest.mark.parametrize(
    "value", ["handbook.pdf", "~/docs/a.md", "data\\pairs.jsonl", "./pairs.parquet", "notes.TXT"]
)
@pytest.mark.parametrize("where", ["generate", "fine_tune", "data_job"])
def test_a_local_path_where_file_ids_are_expected_points_to_the_upload_operator(value, where):
    from airflow_provider_seekrflow.client import alignment, fine_tunes
    from airflow_provider_seekrflow.operators.data_job import SeekrFlowDataJobOperator

    with pytest.raises(SeekrFlowConfigError) as caught:
        if where == "generate":
            alignment.generate_request("Teach returns.", [value])
        elif where == "fine_tune":
            fine_tunes.create_request(
                project_id=1, training_files=[value], model="m", n_epochs=1, accel_type="H100", n_accel=1
            )
        else:
            SeekrFlowDataJobOperator(
                task_id="pairs", files=[value], system_prompt="You help.", instructions="Teach returns."
            ).prepare_request()
    message = str(caught.value)
    assert f"{value!r} is a local path, not a SeekrFlow file id" in message
    assert "SeekrFlowUploadFileOperator" in message and "upload.output" in message


def test_file_ids_of_the_service_pass():
    from airflow_provider_seekrflow.client.file_ids import checked_file_ids

    ids = ["file-9a01c2", "file-e6c5b7d1f", "ft-data-0001"]
    assert checked_file_ids("files", ids, required=True) == ids
    assert checked_file_ids("files", "file-1", required=True) == ["file-1"]
