"""The vector ingestion kind's pure logic: request checks, references, lost-answer search, statuses, failure, cancel, result."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone
from typing import Any

import pytest

from airflow_provider_seekrflow.client import vector_databases as vdb
from airflow_provider_seekrflow.client.lost_answers import Snapshot
from airflow_provider_seekrflow.client.vector_databases import (
    VectorDatabase,
    VectorDatabaseFile,
    VectorDatabaseFileList,
    VectorDatabaseIngestion,
)
from airflow_provider_seekrflow.exceptions import (
    SeekrFlowAmbiguousResultError,
    SeekrFlowConfigError,
    SeekrFlowNotFoundError,
)
from airflow_provider_seekrflow.jobs.base import UNTIL_END, run_sync
from airflow_provider_seekrflow.jobs.ingestion import (
    VECTOR_INGESTION,
    SeekrFlowIngestionFailedError,
    SeekrFlowIngestionTimeoutError,
)
from airflow_provider_seekrflow.jobs.kinds import KINDS
from airflow_provider_seekrflow.links import JOB_LINKS, SeekrFlowVectorDatabaseLink

T0 = datetime(2026, 1, 1, tzinfo=timezone.utc)


def _job(
    status: str = "running", file_ids: tuple[str, ...] = ("file-a", "file-b"), **fields: Any
) -> VectorDatabaseIngestion:
    values = {
        "id": "job-1",
        "vector_database_id": "vdb-1",
        "status": status,
        "file_ids": list(file_ids),
        **fields,
    }
    return VectorDatabaseIngestion.model_validate(values)


def _db(db_id: str, name: str = "docs", model: str = "m", minutes: int = 0) -> VectorDatabase:
    return VectorDatabase.model_validate(
        {
            "id": db_id,
            "name": name,
            "model": model,
            "created_at": (T0 + timedelta(minutes=minutes)).isoformat(),
        }
    )


# ------------------------------------------------------------------------------ request checks


def test_a_valid_ingestion_request_is_the_contracts_body_with_its_defaults():
    assert vdb.ingestion_request(file_ids="file-a", metadata={"team": "support", "year": 2026}) == {
        "file_ids": ["file-a"],
        "method": "accuracy-optimized",
        "chunking_method": "markdown",
        "token_count": 800,
        "overlap_tokens": 100,
        "metadata": {"team": "support", "year": 2026},
    }


@pytest.mark.parametrize(
    ("changes", "field"),
    [
        ({"file_ids": []}, "file_ids"),
        ({"file_ids": None}, "file_ids"),
        ({"file_ids": ["file-a", "file-a"]}, "file_ids"),
        ({"file_ids": ["a/b"]}, "file_ids[0]"),
        ({"file_ids": "[not a list"}, "file_ids"),
        ({"token_count": True}, "token_count"),
        ({"token_count": 0}, "token_count"),
        ({"overlap_tokens": -1}, "overlap_tokens"),
        ({"overlap_tokens": 800}, "overlap_tokens"),
        ({"method": ""}, "method"),
        ({"metadata": ["a"]}, "metadata"),
        ({"metadata": {"nested": {"a": 1}}}, "metadata['nested']"),
        ({"metadata": {"score": float("nan")}}, "metadata['score']"),
    ],
)
def test_each_bad_input_is_refused_naming_its_field(changes, field):
    with pytest.raises(SeekrFlowConfigError, match=field.replace("[", r"\[").replace("]", r"\]")):
        vdb.ingestion_request(**{"file_ids": ["file-a"], **changes})


def test_a_list_rendered_as_text_is_read_back():
    assert vdb.checked_file_ids("['file-a', 'file-b']") == ["file-a", "file-b"]


def test_a_create_request_needs_a_name_and_a_model():
    assert vdb.create_request(name="docs", model="m") == {"name": "docs", "model": "m"}
    for bad in ({"name": " ", "model": "m"}, {"name": "docs", "model": ""}):
        with pytest.raises(SeekrFlowConfigError, match="must be non-blank"):
            vdb.create_request(**bad)


# ---------------------------------------------------------------------------------- references


def test_a_reference_joins_and_splits_the_two_ids_and_is_never_an_id_itself():
    ref = vdb.ingestion_ref("vdb-1", "job-1")
    assert ref == "vdb-1/job-1" == _job().ref
    assert vdb.split_ingestion_ref(ref) == ("vdb-1", "job-1")
    for bad in ("vdb-1", "vdb-1/job-1/x", "/job-1", None):
        with pytest.raises(SeekrFlowConfigError):
            vdb.split_ingestion_ref(bad)
    with pytest.raises(SeekrFlowConfigError):
        vdb.get(ref).path  # noqa: B018 - rendering the path is what refuses it


def test_the_kinds_link_is_its_databases_page():
    assert JOB_LINKS[VECTOR_INGESTION.key] is SeekrFlowVectorDatabaseLink
    assert KINDS["vector_ingestion"] is VECTOR_INGESTION


# --------------------------------------------------------------------------- lost-answer search


def test_find_existing_picks_the_oldest_of_that_name_and_model():
    listed = [
        _db("vdb-3", minutes=2),
        _db("vdb-2", model="other"),
        _db("vdb-1", minutes=1),
        _db("vdb-4", name="x"),
    ]
    assert [db.id for db in vdb.find_existing(listed, "docs", "m")] == ["vdb-1", "vdb-3"]


def test_a_lost_create_adopts_only_one_new_database_of_that_name_and_model():
    body = {"name": "docs", "model": "m"}
    snapshot = Snapshot.of([_db("vdb-old")])
    listed = [_db("vdb-old"), _db("vdb-new"), _db("vdb-other", name="x")]
    assert vdb.find_lost_database(listed, body, snapshot).id == "vdb-new"
    assert vdb.find_lost_database([_db("vdb-old")], body, snapshot) is None
    with pytest.raises(SeekrFlowAmbiguousResultError):
        vdb.find_lost_database([*listed, _db("vdb-new2")], body, snapshot)


def test_a_lost_start_adopts_only_the_new_job_of_exactly_those_files():
    body = vdb.ingestion_request(file_ids=["file-b", "file-a"])
    before = _job(id="job-0")
    snapshot = Snapshot.of([before])
    other = _job(id="job-2", file_ids=("file-a",))
    mine = _job(id="job-3")
    assert vdb.find_lost_ingestion([before, other, mine], body, snapshot).id == "job-3"
    assert vdb.find_lost_ingestion([before, other], body, snapshot) is None


# ----------------------------------------------------------------------------------- statuses


@pytest.mark.parametrize(
    ("status", "terminal", "succeeded"),
    [
        ("queued", False, False),
        ("running", False, False),
        ("completed", True, True),
        ("failed", True, False),
        ("exploded", False, False),
    ],
)
def test_only_completed_and_failed_end_a_wait(status, terminal, succeeded):
    job = _job(status)
    assert (job.is_terminal, job.succeeded) == (terminal, succeeded)


def test_the_service_read_liberally():
    job = VectorDatabaseIngestion.model_validate(
        {
            "id": "j",
            "vector_database_id": "v",
            "status": "running",
            "created_at": "not a date",
            "new_field": 1,
        }
    )
    assert job.created_at is None and job.model_extra == {"new_field": 1}
    db = VectorDatabase.model_validate({"id": "v", "dimension": "1024", "file_count": "NaN"})
    assert (db.dimension, db.file_count) == (1024, None)


# ------------------------------------------------------------------------ failure, cancel, result


def _files(*records: tuple[str, str, str | None]) -> VectorDatabaseFileList:
    return VectorDatabaseFileList(
        data=[
            VectorDatabaseFile(id=file_id, filename=f"{file_id}.md", status=status, error_message=message)
            for file_id, status, message in records
        ]
    )


def test_a_failure_names_each_failed_file_with_the_services_message():
    job = _job("failed", error_message="1 of 2 file(s) failed")
    listing = _files(
        ("file-a", "completed", None),
        ("file-b", "failed", "scanned image, no text"),
        ("file-z", "failed", "x"),
    )
    error = run_sync(VECTOR_INGESTION.watch(UNTIL_END, print).explain(job), lambda call: listing)
    assert type(error) is SeekrFlowIngestionFailedError
    assert str(error) == (
        "Ingestion vdb-1/job-1 ended failed: 1 of 2 file(s) failed; failed file(s): "
        "file-b.md (file-b): scanned image, no text"
    )
    assert error.failed_files == {"file-b": "scanned image, no text"}  # file-z is another job's
    assert (error.job_id, error.status, error.status_message) == (
        "vdb-1/job-1",
        "failed",
        "1 of 2 file(s) failed",
    )


def test_a_timeout_is_the_kinds_timeout_error():
    error = VECTOR_INGESTION.timed_out("vdb-1/job-1", None, "running")
    assert isinstance(error, SeekrFlowIngestionTimeoutError) and error.job_id == "vdb-1/job-1"


def test_cancel_removes_each_file_of_a_running_job_and_takes_404_as_gone():
    sent: list[str] = []
    lines: list[str] = []

    def service(call):
        sent.append(f"{call.endpoint.method} {call.path}")
        if call.endpoint is vdb.GET_INGESTION:
            return _job("running")
        if call.path.endswith("file-b"):
            raise SeekrFlowNotFoundError("gone", status_code=404)
        return None

    run_sync(VECTOR_INGESTION.watch(UNTIL_END, lines.append).cancel("vdb-1/job-1"), service)
    assert sent == [
        "GET /v1/flow/vectordb/vdb-1/ingestion/job-1",
        "DELETE /v1/flow/vectordb/vdb-1/files/file-a",
        "DELETE /v1/flow/vectordb/vdb-1/files/file-b",
    ]
    assert "its 1 file(s) were removed from vector database vdb-1: file-a" in lines[-1]


@pytest.mark.parametrize("status", ["completed", "failed"])
def test_cancel_leaves_an_ended_jobs_files(status):
    sent: list[str] = []

    def service(call):
        sent.append(call.endpoint.method)
        return _job(status)

    run_sync(VECTOR_INGESTION.cancel("vdb-1/job-1"), service)
    assert sent == ["GET"]


def test_the_result_counts_only_the_jobs_files():
    listing = _files(("file-a", "completed", None), ("file-b", "failed", "x"), ("file-z", "completed", None))
    result = run_sync(
        VECTOR_INGESTION.watch(UNTIL_END, print).result(_job("completed")), lambda call: listing
    )
    assert result.value == {
        "job_id": "vdb-1/job-1",
        "status": "completed",
        "vector_database_id": "vdb-1",
        "ingestion_id": "job-1",
        "file_ids": ["file-a", "file-b"],
        "files": {"completed": 1, "failed": 1},
        "error_message": None,
    }
