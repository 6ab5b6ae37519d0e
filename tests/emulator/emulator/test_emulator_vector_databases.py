"""The emulator's vector databases over real HTTP, against openapi.yaml's shapes.

- databases: create (``dimension`` from the model, ``file_count`` 0), list (``object: list``), read,
  delete (204, no body), 404 for unknown ids, 422 for a blank name;
- ingestion: ``queued`` -> ``running`` -> ``completed`` over ``vector_ingestion_seconds`` per file;
  a file named in ``vector_ingestion_fail``: its record ``failed`` with an ``error_message`` naming
  it, and the job ``failed``; 422 for empty, unknown or repeated ``file_ids``;
- files: listed with ``status``/``error_message``/``metadata`` under the uploaded file's id,
  ``file_count`` grows, ``DELETE .../files/{id}`` 204 then 404;
- fault rules and the journal know the routes; a restarted emulator carries on.
"""

from __future__ import annotations

import pytest

from airflow_provider_seekrflow.emulator import SeekrFlowEmulator
from tests.emulator.emulator import serving_helpers as serving

vector_emulator, emu = serving.serving_emulator_fixture("vector")

_NULL = {"type": "null"}
_DATE_TIME = {"type": "string", "format": "date-time"}
_TEXT_OR_NULL = {"anyOf": [{"type": "string"}, _NULL]}
VECTOR_DATABASE = {
    "type": "object",
    "required": ["id", "name", "model", "dimension", "created_at", "updated_at", "file_count"],
    "properties": {
        "id": {"type": "string"},
        "name": {"type": "string"},
        "model": {"type": "string"},
        "dimension": {"type": "integer"},
        "description": _TEXT_OR_NULL,
        "created_at": _DATE_TIME,
        "updated_at": _DATE_TIME,
        "file_count": {"type": "integer"},
        "size_in_bytes": {"anyOf": [{"type": "integer"}, _NULL]},
    },
}
INGESTION = {
    "type": "object",
    "required": ["id", "vector_database_id", "status", "created_at", "updated_at", "file_ids"],
    "properties": {
        "id": {"type": "string"},
        "vector_database_id": {"type": "string"},
        "status": {"type": "string"},
        "created_at": _DATE_TIME,
        "updated_at": _DATE_TIME,
        "error_message": _TEXT_OR_NULL,
        "file_ids": {"type": "array", "items": {"type": "string"}},
        "metaflow_run_id": _TEXT_OR_NULL,
    },
}
FILE = {
    "type": "object",
    "required": ["id", "vector_database_id", "filename", "created_at", "status"],
    "properties": {
        "id": {"type": "string"},
        "vector_database_id": {"type": "string"},
        "filename": {"type": "string"},
        "created_at": _DATE_TIME,
        "status": {"type": "string"},
        "error_message": _TEXT_OR_NULL,
        "metadata": {"anyOf": [{"type": "object"}, _NULL]},
    },
}


def _list_of(item: dict) -> dict:
    return {
        "type": "object",
        "required": ["object", "data"],
        "properties": {"object": {"const": "list"}, "data": {"type": "array", "items": item}},
    }


def create(emu: SeekrFlowEmulator, model: str = "BAAI/bge-large-en-v1.5", **changes: object) -> dict:
    body = {"name": serving.unique("docs"), "model": model, **changes}
    return serving.check(VECTOR_DATABASE, serving.call(emu, "POST", "/v1/flow/vectordb", body))


def ingest(emu: SeekrFlowEmulator, database_id: str, file_ids: list[str], **changes: object) -> dict:
    answer = serving.call(
        emu, "POST", f"/v1/flow/vectordb/{database_id}/ingestion", {"file_ids": file_ids, **changes}
    )
    return serving.check(INGESTION, answer)


def job(emu: SeekrFlowEmulator, database_id: str, job_id: str) -> dict:
    return serving.check(
        INGESTION, serving.call(emu, "GET", f"/v1/flow/vectordb/{database_id}/ingestion/{job_id}")
    )


def files(emu: SeekrFlowEmulator, database_id: str) -> dict[str, dict]:
    listed = serving.check(_list_of(FILE), serving.call(emu, "GET", f"/v1/flow/vectordb/{database_id}/files"))
    return {record["id"]: record for record in listed["data"]}


def document(emu: SeekrFlowEmulator, name: str) -> str:
    return serving.upload(emu, name, f"# {name}\n\nReturns within 30 days.\n".encode(), purpose="alignment")


def test_a_database_is_created_listed_read_and_deleted_in_the_contracts_shapes(emu):
    made = create(emu, description="Shop policies")
    assert (made["dimension"], made["file_count"], made["description"]) == (1024, 0, "Shop policies")
    assert create(emu, model="some/other-model")["dimension"] == 768
    listed = serving.check(_list_of(VECTOR_DATABASE), serving.call(emu, "GET", "/v1/flow/vectordb"))
    assert made["id"] in [db["id"] for db in listed["data"]]
    assert serving.check(VECTOR_DATABASE, serving.call(emu, "GET", f"/v1/flow/vectordb/{made['id']}")) == made

    deleted = serving.call(emu, "DELETE", f"/v1/flow/vectordb/{made['id']}")
    assert (deleted.status_code, deleted.content) == (204, b"")
    for method, path in (
        ("GET", f"/v1/flow/vectordb/{made['id']}"),
        ("DELETE", f"/v1/flow/vectordb/{made['id']}"),
        ("GET", f"/v1/flow/vectordb/{made['id']}/files"),
        ("GET", f"/v1/flow/vectordb/{made['id']}/ingestion"),
        ("GET", f"/v1/flow/vectordb/{made['id']}/ingestion/vdbjob-0"),
    ):
        serving.check(serving.ERROR_DETAIL, serving.call(emu, method, path), 404)


def test_a_blank_name_or_a_missing_model_is_refused_with_422(emu):
    for body in ({"name": " ", "model": "m"}, {"name": "docs"}):
        answer = serving.call(emu, "POST", "/v1/flow/vectordb", body)
        serving.check(serving.HTTP_VALIDATION_ERROR, answer, 422)


def test_an_ingestion_progresses_over_time_and_the_files_join_the_database(emu):
    emu.configure(vector_ingestion_seconds=0.4)
    first, second = document(emu, "a.md"), document(emu, "b.md")
    database = create(emu)
    started = ingest(emu, database["id"], [first, second], metadata={"source": "wiki"})
    assert (started["status"], started["file_ids"], started["error_message"]) == (
        "queued",
        [first, second],
        None,
    )

    seen = serving.poll(lambda: job(emu, database["id"], started["id"]), lambda j: j["status"] == "completed")
    statuses = [j["status"] for j in seen]
    assert statuses[0] == "queued" and "running" in statuses and statuses[-1] == "completed"
    assert statuses == sorted(statuses, key=["queued", "running", "completed"].index)
    listed = files(emu, database["id"])
    assert set(listed) == {first, second}
    assert {(f["status"], f["error_message"], f["metadata"]["source"]) for f in listed.values()} == {
        ("completed", None, "wiki")
    }
    now = serving.check(VECTOR_DATABASE, serving.call(emu, "GET", f"/v1/flow/vectordb/{database['id']}"))
    assert now["file_count"] == 2 and now["updated_at"] > database["updated_at"]
    listing = serving.call(emu, "GET", f"/v1/flow/vectordb/{database['id']}/ingestion")
    assert [j["id"] for j in serving.check(_list_of(INGESTION), listing)["data"]] == [started["id"]]


def test_a_file_in_the_failure_switch_fails_its_record_and_the_job(emu):
    emu.configure(vector_ingestion_seconds=0.2, vector_ingestion_fail=["broken.pdf"])
    good, bad = document(emu, "fine.md"), document(emu, "broken.pdf")
    database = create(emu)
    started = ingest(emu, database["id"], [good, bad])
    ended = serving.poll(
        lambda: job(emu, database["id"], started["id"]),
        lambda j: j["status"] != "queued" and j["status"] != "running",
    )[-1]

    assert ended["status"] == "failed" and "broken.pdf" in ended["error_message"]
    listed = files(emu, database["id"])
    assert listed[good]["status"] == "completed" and listed[good]["error_message"] is None
    assert listed[bad]["status"] == "failed" and "broken.pdf" in listed[bad]["error_message"]


@pytest.mark.parametrize(
    ("body", "loc"),
    [
        ({"file_ids": []}, ["body", "file_ids"]),
        ({"file_ids": ["file-unknown"]}, ["body", "file_ids", 0]),
        ({"file_ids": "REPEAT"}, ["body", "file_ids", 1]),
        ({"file_ids": "ONE", "token_count": 0}, ["body", "token_count"]),
        ({"file_ids": "ONE", "overlap_tokens": 800}, ["body", "overlap_tokens"]),
    ],
    ids=["empty", "unknown", "repeated", "no-tokens", "overlap"],
)
def test_a_bad_ingestion_body_is_refused_with_422_naming_the_field(emu, body, loc):
    file_id = document(emu, "doc.md")
    body = dict(body)
    if body["file_ids"] == "REPEAT":
        body["file_ids"] = [file_id, file_id]
    elif body["file_ids"] == "ONE":
        body["file_ids"] = [file_id]
    database = create(emu)
    answer = serving.call(emu, "POST", f"/v1/flow/vectordb/{database['id']}/ingestion", body)
    refused = serving.check(serving.HTTP_VALIDATION_ERROR, answer, 422)
    assert loc in [item["loc"] for item in refused["detail"]]
    assert files(emu, database["id"]) == {}


def test_a_file_is_removed_by_its_upload_id_then_404(emu):
    emu.configure(vector_ingestion_seconds=0.0)
    file_id = document(emu, "doc.md")
    database = create(emu)
    ingest(emu, database["id"], [file_id])
    removed = serving.call(emu, "DELETE", f"/v1/flow/vectordb/{database['id']}/files/{file_id}")
    assert (removed.status_code, removed.content) == (204, b"")
    assert files(emu, database["id"]) == {}
    again = serving.call(emu, "DELETE", f"/v1/flow/vectordb/{database['id']}/files/{file_id}")
    serving.check(serving.ERROR_DETAIL, again, 404)


def test_fault_rules_and_the_journal_know_the_routes(emu):
    database = create(emu)
    emu.set_faults(
        [
            {"route": "list_vector_database_files", "kind": "503", "count": 1},
            {"route": "create_vector_database", "kind": "500_after", "count": 1},
        ]
    )
    assert serving.call(emu, "GET", f"/v1/flow/vectordb/{database['id']}/files").status_code == 503
    assert serving.call(emu, "POST", "/v1/flow/vectordb", {"name": "lost", "model": "m"}).status_code == 500
    # The handler ran before the 500: the database exists.
    listed = serving.call(emu, "GET", "/v1/flow/vectordb").json()["data"]
    assert [db["name"] for db in listed].count("lost") == 1
    assert [e["fault"] for e in emu.journal(route="list_vector_database_files")] == ["503"]
    assert [e["fault"] for e in emu.journal(route="create_vector_database")][-1:] == ["500_after"]


def test_an_ingestion_carries_on_across_a_restart_on_the_same_data_directory(tmp_path, api_key):
    with SeekrFlowEmulator(api_key=api_key, data_dir=str(tmp_path)) as first:
        first.configure(vector_ingestion_seconds=1.0)
        file_id = document(first, "doc.md")
        database = create(first)
        started = ingest(first, database["id"], [file_id])
    with SeekrFlowEmulator(api_key=api_key, data_dir=str(tmp_path)) as second:
        seen = serving.poll(
            lambda: job(second, database["id"], started["id"]), lambda j: j["status"] == "completed"
        )
        assert files(second, database["id"])[file_id]["status"] == "completed"
    # Read again after the restart: the same job, moved on by the clock, not started over.
    assert seen[-1]["id"] == started["id"] and seen[-1]["created_at"] == started["created_at"]
