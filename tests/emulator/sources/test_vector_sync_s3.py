"""
The vector database sync reading an ``s3://`` prefix, end to end.

Each sync runs through Airflow's ``dag.test()``; the operator lists a moto S3 server (a subprocess)
over HTTP through the Airflow AWS connections the ``s3`` fixture sets, and uploads to the SeekrFlow
emulator. moto's own record of requests shows what was read: an object's fingerprint is its size and
the listing's ETag, so a re-sync with nothing changed downloads no object at all.
"""

from __future__ import annotations

import uuid
from typing import Any

import pytest
from airflow.providers.common.compat.sdk import DAG

from airflow_provider_seekrflow.client import vector_databases
from airflow_provider_seekrflow.hooks.seekrflow import SeekrFlowHook
from airflow_provider_seekrflow.operators.vector_database_sync import SeekrFlowVectorDatabaseSyncOperator
from tests.emulator.operators import seekrflow_dag_support as support
from tests.emulator.sources.conftest import S3Case
from tests.emulator.sources.moto_s3 import aws_connection, object_gets, s3_requests

MODEL = "BAAI/bge-large-en-v1.5"
PREFIX = "handbook/"
DOCUMENTS = {
    "returns.md": "# Returns\n\nWithin 30 days of delivery.\n",
    "shipping.md": "# Shipping\n\nTwo working days.\n",
    "warranty.md": "# Warranty\n\nTwo years on parts and labour.\n",
}


@pytest.fixture
def fast_ingestion(emu: Any) -> None:
    emu.configure(vector_ingestion_seconds=0.1)


def _database() -> str:
    body = vector_databases.create_request(name=f"s3 sync {uuid.uuid4().hex[:10]}", model=MODEL)
    return str(SeekrFlowHook().call(vector_databases.create(body)).id)


def _database_files(database_id: str) -> dict[str, str]:
    """``{file id: filename}`` of what the database holds."""
    listed = SeekrFlowHook().call(vector_databases.list_files(database_id)).data or []
    return {str(f.id): str(f.filename) for f in listed}


def _sync(request: pytest.FixtureRequest, database_id: str, source: str, suffix: str) -> tuple[Any, dict]:
    with DAG(support.dag_id_for(request, suffix), schedule=None, start_date=support.START_DATE) as dag:
        SeekrFlowVectorDatabaseSyncOperator(
            task_id="sync", vector_database_id=database_id, source=source, **support.FAST_POLL
        )
    dr = support.run_dag(dag)
    assert support.states(dr) == {"sync": "success"}
    return dr, support.xcom(dr, "sync")


def _counts(result: dict) -> tuple[int, int, int, int]:
    return result["added"], result["changed"], result["removed"], result["unchanged"]


def _put_all(s3: S3Case) -> None:
    for name, text in DOCUMENTS.items():
        s3.put(PREFIX + name, text)
    s3.put("handbook/archive/old.md", "# Old\n")  # under a deeper prefix: not part of the source
    s3.put("elsewhere/other.md", "# Other\n")  # beside it: not part of the source either


def test_an_s3_prefix_syncs_then_resyncs_from_the_listing_alone(s3, emu, request, fast_ingestion):
    _put_all(s3)
    database_id = _database()
    source = s3.uri(PREFIX)

    with s3.moto.recording() as first_seen:
        _, first = _sync(request, database_id, source, "first")

    assert _counts(first) == (3, 0, 0, 0)
    assert sorted(_database_files(database_id).values()) == sorted(DOCUMENTS)
    # The first sync reads each object once to upload it, and nothing outside the prefix.
    assert sorted(set(object_gets(first_seen, s3.bucket))) == sorted(PREFIX + n for n in DOCUMENTS)
    emu.clear_journal()

    with s3.moto.recording() as again_seen:
        _, again = _sync(request, database_id, source, "again")

    assert _counts(again) == (0, 0, 0, 3)
    assert again["file_ids"] == [] and again["ingestion_job_id"] is None
    assert support.count(emu, "upload_file") == 0
    assert support.count(emu, "create_vector_database_ingestion") == 0
    assert support.count(emu, "delete_vector_database_file") == 0
    requests = s3_requests(again_seen)
    assert requests, "moto saw no request: the listing did not come from it"
    # The ETag is the fingerprint: the re-sync lists the prefix (one ListObjectsV2 page here) and
    # downloads no object; the cached listing of the first sync is not reused (it could be stale).
    assert object_gets(again_seen, s3.bucket) == [], f"an object was downloaded: {requests}"
    assert all(method == "GET" and "list-type" in query for method, _, query in requests), requests


def test_one_changed_one_added_one_removed_in_the_bucket_moves_exactly_those(
    s3, emu, request, fast_ingestion
):
    _put_all(s3)
    database_id = _database()
    source = s3.uri(PREFIX)
    _sync(request, database_id, source, "first")
    before = {name: file_id for file_id, name in _database_files(database_id).items()}
    s3.put(PREFIX + "returns.md", "# Returns\n\nWithin 60 days of delivery, from now on.\n")
    s3.put(PREFIX + "exchanges.md", "# Exchanges\n\nFree within 14 days.\n")
    s3.moto.client().delete_object(Bucket=s3.bucket, Key=PREFIX + "shipping.md")
    emu.clear_journal()

    with s3.moto.recording() as seen:
        _, second = _sync(request, database_id, source, "second")

    assert _counts(second) == (1, 1, 1, 1)
    assert support.count(emu, "upload_file") == 2
    assert support.count(emu, "create_vector_database_ingestion") == 1
    deleted = sorted(e["path"].rsplit("/", 1)[-1] for e in emu.journal(route="delete_vector_database_file"))
    assert deleted == sorted([before["returns.md"], before["shipping.md"]])
    after = {name: file_id for file_id, name in _database_files(database_id).items()}
    assert sorted(after) == ["exchanges.md", "returns.md", "warranty.md"]
    assert after["warranty.md"] == before["warranty.md"]  # untouched
    # Only the two documents sent were downloaded.
    assert sorted(set(object_gets(seen, s3.bucket))) == [PREFIX + "exchanges.md", PREFIX + "returns.md"]


def test_a_uri_naming_its_own_connection_syncs_with_it(s3, emu, request, monkeypatch, fast_ingestion):
    # aws_default holds no credentials: only aws_reader, named in the URI, can list and read.
    monkeypatch.setenv(
        "AIRFLOW_CONN_AWS_DEFAULT", aws_connection(s3.moto.endpoint_url, login=None, password=None)
    )
    _put_all(s3)
    database_id = _database()
    source = s3.uri(PREFIX, conn_id=s3.reader_conn)

    _, first = _sync(request, database_id, source, "first")
    _, again = _sync(request, database_id, source, "again")

    assert _counts(first) == (3, 0, 0, 0)
    assert _counts(again) == (0, 0, 0, 3)
    assert sorted(_database_files(database_id).values()) == sorted(DOCUMENTS)
